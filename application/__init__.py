"""InvarLock application layer."""
