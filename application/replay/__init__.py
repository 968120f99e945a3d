"""Replay and audit use cases: rebuild certificates from events alone; list and read the event store."""
