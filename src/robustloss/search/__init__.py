"""Settings chosen without ground truth (``--loss auto``): the candidates, the plan and its
budget, the label-free criteria, the canaries, and the successive-halving search itself.

It sees the images and the *given* labels, nothing else. May import: ``seeds``, ``losses``,
``models``, ``detect``, ``data``, ``train``. Never ``noise``, ``run`` or ``probs`` (checked
by .importlinter): nothing here may hold the true corruptions.

One module per concern:

- ``criteria``: the names (``AUTO``, ``AUTO_PARAMS``, ``CRITERIA``, ``MAX_RATIO``, ...),
  the default criterion per protocol, and how a candidate is scored (its stop epoch, the
  holdout gap). Light: the standard library alone, for the config, sweeps and reports.
- ``candidates``: the candidate settings and their grid.
- ``plan``: the plan and its budget, the held-out split, the search set and the probe.
- ``canaries``: wrong labels planted on purpose, their structured transitions, the probe
  that learns them, and the F1 estimated from them.
- ``results``: what leaves the search (``CandidateResult``, ``Selection``).
- ``halving``: the candidates' training in two rungs, successive halving between them.
- ``search``: ``select_settings``, the search from the given labels to the choice.

The public API is re-exported here; all but ``criteria``'s names load on first use, so that
importing the package (or ``criteria``) stays light.
"""

from __future__ import annotations

import importlib

from robustloss.search.criteria import (
    AUTO,
    AUTO_PARAMS,
    CANARY_CRITERIA,
    CRITERIA,
    MAX_RATIO,
    default_criterion,
    resolve_criterion,
    standard_error,
    stop_epoch,
)

__all__ = [
    "AUTO",
    "AUTO_PARAMS",
    "CANARY_CRITERIA",
    "CRITERIA",
    "DEFAULT_CANDIDATE",
    "MAX_RATIO",
    "TABLE_COLUMNS",
    "Candidate",
    "CandidateResult",
    "SearchPlan",
    "Selection",
    "TooSmallError",
    "candidate_grid",
    "default_criterion",
    "fixed_run_cost",
    "plan_search",
    "resolve_criterion",
    "select_settings",
    "standard_error",
    "stop_epoch",
]

# The rest of the public API, by the module it lives in: imported on first use (PEP 562).
_LAZY: dict[str, str] = {
    "Candidate": "candidates",
    "DEFAULT_CANDIDATE": "candidates",
    "candidate_grid": "candidates",
    "SearchPlan": "plan",
    "TooSmallError": "plan",
    "fixed_run_cost": "plan",
    "plan_search": "plan",
    "TABLE_COLUMNS": "results",
    "CandidateResult": "results",
    "Selection": "results",
    "select_settings": "search",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'robustloss.search' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"robustloss.search.{module}"), name)
    globals()[name] = value  # once: later look-ups find it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
