"""Certify use case: the one pipeline (pipeline.py) and its steps, on a new stream or a resumed one."""
