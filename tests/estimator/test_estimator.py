"""robustloss.RobustClassifier: scikit-learn's estimator checks, cross_val_predict, and
cleanlab's CleanLearning driving it for real."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_predict
from sklearn.utils.estimator_checks import check_estimator

import robustloss
from features_fakes import mixture
from robustloss.detect import score_detections


def test_passes_sklearn_check_estimator():
    results = check_estimator(robustloss.RobustClassifier(threads=1), on_fail=None)
    failed = {r["check_name"]: str(r["exception"]) for r in results if r["status"] == "failed"}
    assert failed == {}
    # Only the array-API check skips (it needs SCIPY_ARRAY_API); every other check ran.
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {"check_array_api_input"}
    assert sum(r["status"] == "passed" for r in results) >= 50


def test_init_stores_and_fit_validates():
    clf = robustloss.RobustClassifier(loss="ce", gamma=0.3)  # no error yet (sklearn contract)
    assert clf.get_params()["gamma"] == 0.3
    x, y, _ = mixture(60)
    with pytest.raises(ValueError, match=r"\['gamma'\] do not belong to loss 'ce'"):
        clf.fit(x, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        robustloss.RobustClassifier().fit(x, np.zeros(60, int))


def test_string_classes_probabilities_and_seed():
    x, y, _ = mixture(200)
    names = np.array(["ant", "bee", "fly", "moth"])[y]
    clf = robustloss.RobustClassifier(head="mlp", random_state=3, threads=1).fit(x, names)
    assert clf.classes_.tolist() == ["ant", "bee", "fly", "moth"] and clf.n_features_in_ == 8
    p = clf.predict_proba(x)
    assert p.shape == (200, 4)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
    assert set(clf.predict(x)) <= set(clf.classes_)
    again = clone(clf).fit(x, names).predict_proba(x)
    np.testing.assert_array_equal(p, again)  # same random_state: bitwise the same fit


def test_cross_val_predict_out_of_fold():
    x, y, _ = mixture(300)
    p = cross_val_predict(robustloss.RobustClassifier(random_state=0, threads=1), x, y, cv=3,
                          method="predict_proba")  # fmt: skip
    assert p.shape == (300, 4) and (p.argmax(1) == y).mean() > 0.7


def test_cleanlearning_finds_label_issues_with_it():
    from cleanlab.classification import CleanLearning

    x, y, flipped = mixture(400, rho=0.1, seed=2)
    clf = robustloss.RobustClassifier(loss="blurry", random_state=0, threads=1)
    issues = CleanLearning(clf=clf, seed=0, cv_n_folds=3).find_label_issues(x, y)
    found = np.flatnonzero(issues["is_label_issue"].to_numpy())
    scores = score_detections(found, flipped)
    assert scores["f1"] > 0.7, scores
    assert len(issues) == 400 and "given_label" in issues
