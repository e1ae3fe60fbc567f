"""Experiments: one run (corrupt, train, detect, score) and sweeps of many runs."""
