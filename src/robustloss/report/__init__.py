"""Reports: a run's page (``report.run``) and a sweep's tables and figures
(``report.sweep``). They read what the lower layers wrote, through typed readers.

May import: ``sweeps``, ``run``, ``search`` (names only) and below. Never ``train`` (checked
by .importlinter): a report draws what was measured and trains nothing.
"""
