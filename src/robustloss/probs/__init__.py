"""Predicted probabilities: the protocols that turn a training set into one row of class
probabilities per example (``protocols``: in-sample, cv, paper-cv; ``features``: heads on
embeddings, or probabilities the user already has), the fold map that spreads folds over a
cluster (``folds``) and what they return (``records.ProbabilityResult``).

May import: ``seeds``, ``losses``, ``models``, ``data``, ``train``. Never ``search``
(independent, checked by .importlinter) nor anything that holds the true corruptions.
"""
