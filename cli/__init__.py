"""InvarLock cli layer."""
