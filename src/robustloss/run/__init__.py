"""One run: its config (``config.RunConfig``), the training set (``trainset``), the phases
(``pipeline``: load, subset, corrupt, select, probabilities, detect, score, write), the
detectors' phase (``detectors``), the run folder with its writer and its one typed reader
(``rundir``) and the records that cross into other layers (``records``).

May import every layer below it: ``search``, ``probs``, ``train``, ``data``, ``detect``,
``noise``, ``models``, ``losses``, ``seeds``.
"""
