"""Experiments: one run (corrupt, train, detect, score) and sweeps of many runs.

One run: ``config`` (RunConfig), ``pipeline``, ``protocols``, ``records``. Sweeps, in the
order they depend on each other: ``settings`` and ``spec`` (what to run), ``warmup``
(shared warm-up planning), ``results`` (TrialRecord, where results live) and ``store``
(the database), ``worker`` (what runs on a Dask worker), ``executors`` (Dask clients),
``plan`` (the dry-run listing) and ``sweep`` (the driver).
"""
