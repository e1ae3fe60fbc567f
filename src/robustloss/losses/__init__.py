r"""Loss functions robust to label errors, in PyTorch's conventions.

Notation (fixed for the whole module): N samples, C classes; ``input`` holds raw logits
``z`` of shape ``(N, C)``; ``target`` holds class indices ``t`` of shape ``(N,)`` with values
in ``[0, C)``; ``p = softmax(z)`` and ``p_t`` is the probability of the labelled class.
Equation numbers (1)-(4) are those of Pellegrino, Szczecina and Fieguth, *Loss Functions
Robust to the Presence of Label Errors* (the paper this package implements):

* ``cross_entropy``: :math:`-\log p_t`, equation (1);
* ``focal_loss``: :math:`-(1 - p_t)^\gamma \log p_t`, equation (2) (Lin et al. 2017);
* ``blurry_loss``: :math:`-p_t^\gamma \log p_t`, equation (3);
* ``piecewise_zero_loss``: :math:`0` if :math:`p_t \le c`, else :math:`-\log p_t`,
  equation (4);
* ``generalized_cross_entropy``: :math:`(1 - p_t^q) / q` (Zhang & Sabuncu 2018);
* ``mean_absolute_error``: :math:`\sum_k |e_{t,k} - p_k| = 2 (1 - p_t)` (Ghosh et al. 2017);
* ``symmetric_cross_entropy``: :math:`\alpha\,CE + \beta\,RCE` (Wang et al. 2019);
* ``nce_rce``: :math:`\alpha\,NCE + \beta\,RCE` (Ma et al. 2020).

Every functional takes ``(input, target, *, <hyperparameters>, reduction="mean")`` and has a
thin ``nn.Module`` twin that validates its arguments in ``__init__``. ``make_loss(name,
**params)`` builds a Module by name (:data:`LOSS_NAMES`, :data:`LOSS_PARAMS`) and
:class:`ScheduledLoss` switches from a warm-up loss (cross entropy) to the main loss after
``delay`` epochs (the paper's loss scheduling, section 3.3).

Numerics, shared by all losses:

* Everything is computed from ``log_softmax``: powers are taken as
  ``p_t^g = exp(g * log p_t)`` and ``1 - p_t = -expm1(log p_t)``, never as ``pt ** g``,
  so loss and gradient stay finite for logits as extreme as +-1e4 and for every exponent
  ``g > 0``, including ``g < 1`` where a naive power has an infinite derivative at 0.
* float16 and bfloat16 inputs are computed in float32 and the loss is returned in
  **float32** (the gradient reaches the half-precision input in its own dtype). float32 and
  float64 inputs are computed and returned in their own dtype.
* ``reduction="mean"`` of an empty batch is ``0`` (not NaN as in
  ``torch.nn.functional.cross_entropy``) and still supports ``backward()``, so a training
  loop never has to special-case an empty batch.
* ``target`` may have any integer dtype (int64 is the convention; others are converted).
* Bad arguments raise ``ValueError`` naming the argument, what was expected and what was got.
  Nothing is clipped silently. Logits are expected to be finite (not checked: a check would
  cost a pass over the input and a device synchronisation on every call).
* Every functional and Module takes a keyword-only ``validate_args=True`` (torchmetrics'
  convention). The target's values are then checked to lie in ``[0, C)`` on every call:
  one ``aminmax`` pass and, on a GPU, a device synchronisation. ``validate_args=False``
  skips that one check, for labels checked once beforehand (the training engine does so
  per dataset); types, shapes and dtypes are checked either way, they cost nothing.

Layout: :mod:`.functional` (the maths), :mod:`.modules` (the thin Modules),
:mod:`.schedule` (:class:`ScheduledLoss`), :mod:`.registry` (names, hyperparameter specs,
:func:`make_loss`); private helpers in ``_validation`` and ``_numerics``.
"""

# Each submodule's __all__ is its public API; the package re-exports all of them (as
# torch.nn re-exports torch.nn.modules), so a new loss is listed in one place only.
from robustloss.losses import functional, modules, registry, schedule
from robustloss.losses._validation import REDUCTIONS
from robustloss.losses.functional import *  # noqa: F403
from robustloss.losses.modules import *  # noqa: F403
from robustloss.losses.registry import *  # noqa: F403
from robustloss.losses.schedule import *  # noqa: F403

__all__ = ["REDUCTIONS"]
__all__ += functional.__all__
__all__ += modules.__all__
__all__ += registry.__all__
__all__ += schedule.__all__
