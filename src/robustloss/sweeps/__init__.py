"""Sweeps of many runs, in the order they depend on each other: ``settings`` and ``spec``
(what to run), ``warmup`` (shared warm-up planning), ``results`` (TrialRecord, where results
live) and ``store`` (the SQLite database), ``worker`` (what runs on a Dask worker),
``executors`` (Dask clients: local, an existing cluster, SLURM), ``plan`` (the dry-run
listing) and ``sweep`` (the driver).

May import: ``run`` and everything below it. Never ``review`` (independent, checked).
"""
