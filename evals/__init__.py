"""Offline eval suites: datasets, runner, metrics (ours and ragas), calibration, report, gates."""
