"""A scikit-learn classifier trained with a robust loss: :class:`RobustClassifier`.

It follows scikit-learn's estimator contract (``__init__`` stores its arguments, ``fit``
validates and learns, ``predict_proba`` in ``classes_`` order; it passes
``sklearn.utils.estimator_checks.check_estimator``), so ``cross_val_predict``,
``GridSearchCV`` and cleanlab's ``CleanLearning(clf=RobustClassifier())`` use it as they
are. Underneath it is a linear or MLP head (:mod:`robustloss.models.heads`) trained by
:func:`robustloss.train.head_training.train_head` on standardized features.

Example::

    >>> from cleanlab.classification import CleanLearning
    >>> issues = CleanLearning(clf=RobustClassifier(loss="blurry")).find_label_issues(X, y)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from robustloss.data.user.features import FeatureMatrix
from robustloss.losses import LOSS_PARAMS
from robustloss.models.heads import MLP_DROPOUT, MLP_HIDDEN
from robustloss.run.defaults import DETECT_FIXED_LOSS_DEFAULTS, FEATURE_DEFAULTS
from robustloss.train.head_training import HeadConfig, predict_head, train_head

__all__ = ["DEFAULT_GAMMA", "DEFAULT_LOSS", "RobustClassifier"]

#: The default loss, and Blurry Loss's exponent when ``loss="blurry"`` and ``gamma`` is not
#: given: ``robustloss detect``'s on embeddings (:mod:`robustloss.run.defaults`).
DEFAULT_LOSS: str = DETECT_FIXED_LOSS_DEFAULTS["loss"]
DEFAULT_GAMMA: float = DETECT_FIXED_LOSS_DEFAULTS["gamma"]

_LOSS_ARGS = ("gamma", "cutoff", "q", "alpha", "beta", "detach_weight")


class RobustClassifier(ClassifierMixin, BaseEstimator):
    """A linear or MLP classifier trained with a loss robust to label errors.

    Every parameter is explicit (scikit-learn's ``get_params`` reads the signature, so an
    estimator cannot take ``**params``); loss hyperparameters left ``None`` take the loss's
    default, and one that the loss does not take is an error at ``fit``.

    Args:
        loss: any loss of :data:`robustloss.losses.LOSS_NAMES` (default "blurry", as
            ``robustloss detect --features``: :data:`DEFAULT_LOSS`).
        head: "linear" (multinomial logistic regression) or "mlp" (one hidden layer of
            ``hidden`` units, dropout ``dropout``).
        gamma, cutoff, q, alpha, beta, detach_weight: the loss's hyperparameters
            (blurry's ``gamma`` defaults to :data:`DEFAULT_GAMMA` = 0.4).
        delay: cross-entropy warm-up epochs.
        epochs, batch_size, lr, weight_decay: Adam training. The rate is ``detect
            --features``' (:data:`robustloss.run.defaults.FEATURE_DEFAULTS`); the epochs and
            batches differ on purpose (30 of 256, not 10 of 1024): an estimator is fitted
            inside ``cross_val_predict`` or a grid search on small tables, where 1024 would
            be a few steps per epoch; these fit small tables in well under a second and
            large ones in one pass per epoch. ``batch_size`` is capped at the number of
            examples.
        hidden, dropout: the MLP head's size.
        random_state: int, ``RandomState`` or None (a fresh seed per ``fit``), as in
            scikit-learn.
        threads: torch threads while fitting (None: torch's current setting).

    Attributes:
        classes_: (K,) the distinct labels seen in ``fit`` (any sortable values, strings too).
        n_features_in_: D.
        model_: the trained :class:`~robustloss.models.heads.FeatureClassifier`.
        history_: per-epoch training history.
    """

    def __init__(
        self,
        loss: str = DEFAULT_LOSS,
        head: str = "linear",
        *,
        gamma: float | None = None,
        cutoff: float | None = None,
        q: float | None = None,
        alpha: float | None = None,
        beta: float | None = None,
        detach_weight: bool | None = None,
        delay: int = 0,
        epochs: int = 30,
        batch_size: int = 256,
        lr: float = FEATURE_DEFAULTS["lr"],
        weight_decay: float = 0.0,
        hidden: int = MLP_HIDDEN,
        dropout: float = MLP_DROPOUT,
        random_state: Any = None,
        threads: int | None = None,
    ) -> None:
        self.loss = loss
        self.head = head
        self.gamma = gamma
        self.cutoff = cutoff
        self.q = q
        self.alpha = alpha
        self.beta = beta
        self.detach_weight = detach_weight
        self.delay = delay
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.hidden = hidden
        self.dropout = dropout
        self.random_state = random_state
        self.threads = threads

    def _loss_params(self) -> dict[str, Any]:
        params = {k: getattr(self, k) for k in _LOSS_ARGS if getattr(self, k) is not None}
        accepted = LOSS_PARAMS.get(self.loss, ())
        wrong = sorted(set(params) - set(accepted))
        if wrong:
            raise ValueError(
                f"RobustClassifier: {wrong} do not belong to loss {self.loss!r}; it takes "
                f"{list(accepted) or 'none'}"
            )
        if self.loss == "blurry" and "gamma" not in params:
            params["gamma"] = DEFAULT_GAMMA
        return params

    def _head_config(self, n: int) -> HeadConfig:
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        batch = self.batch_size
        if isinstance(batch, int) and not isinstance(batch, bool) and batch > n:
            batch = max(n, 1)
        return HeadConfig(
            head=self.head,
            epochs=self.epochs,
            batch_size=batch,
            lr=self.lr,
            loss=self.loss,
            loss_params=self._loss_params(),
            delay=self.delay,
            seed=seed,
            weight_decay=self.weight_decay,
            hidden=self.hidden,
            dropout=self.dropout,
            threads=self.threads,
        )

    def fit(self, X, y) -> RobustClassifier:
        """Fit on X (N, D) and labels y (N,); returns ``self``."""
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), y_numeric=False)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if self.classes_.size < 2:
            raise ValueError(
                f"RobustClassifier needs at least 2 classes in y, but got {self.classes_.size} "
                f"class ({self.classes_.tolist()})"
            )
        config = self._head_config(X.shape[0])
        result = train_head(
            config,
            FeatureMatrix.from_array(np.ascontiguousarray(X, dtype=np.float32)),
            encoder.transform(y).astype(np.int64),
            num_classes=int(self.classes_.size),
        )
        self.model_ = result.model
        self.history_ = result.history
        return self

    def predict_proba(self, X) -> np.ndarray:
        """(N, K) probabilities in ``classes_`` order (rows sum to 1)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        matrix = FeatureMatrix.from_array(np.ascontiguousarray(X, dtype=np.float32))
        return predict_head(self.model_, matrix)

    def predict(self, X) -> np.ndarray:
        """(N,) the most probable class of each row, as a label of ``classes_``."""
        probs = self.predict_proba(X)  # first: it raises NotFittedError before fit
        return self.classes_[np.argmax(probs, axis=1)]
