"""Reviewing the suspects: the review page (``page``), the decisions a reviewer can take
(``decisions``, defined once) and turning a reviewed decisions file into corrected labels
(``apply``).

May import: ``run`` (the run folder's reader) and below. Never ``sweeps`` (independent,
checked by .importlinter).
"""
