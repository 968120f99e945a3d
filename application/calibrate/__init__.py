"""Calibrate use case: certify a suite of known edits and tabulate what each guard saw."""
