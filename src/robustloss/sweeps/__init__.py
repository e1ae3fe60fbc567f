"""Sweeps of many runs, in the order they depend on each other: ``settings`` and ``spec``
(what to run), ``warmup`` (shared warm-up planning), ``results`` (TrialRecord and
StoredTrial, where results live), ``schema`` (the database's tables, version and upgrade),
``store`` (the SQLite database) and ``sources`` (the trials of databases or specs, for
reports), ``worker`` (what runs on a Dask worker),
``executors`` (Dask clients: local, an existing cluster, SLURM), ``plan`` (the dry-run
listing), ``progress`` (done / total and the time left, from measured trials) and
``sweep`` (the driver).

May import: ``run`` and everything below it. Never ``review`` (independent, checked).
"""
