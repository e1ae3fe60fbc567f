"""One run: its config (``config.RunConfig``, checked by ``validation``; the one table of
defaults, ``defaults``), the training set (``trainset``), the phases (``pipeline`` lists
them: load, subset, corrupt, select, probabilities, detect, score, write; ``phases`` and
``outputs`` hold them), the
detectors' phase (``detectors``), the run folder: its writer (``rundir``), its one typed
reader (``reader``: summary, corruption, auto choice, detections), the suspects' image
sheets (``tiles``), and the records that cross into other layers (``records``,
``auto_choice``).

May import every layer below it: ``search``, ``probs``, ``train``, ``data``, ``detect``,
``noise``, ``models``, ``losses``, ``seeds``.
"""
