"""InvarLock adapters layer."""
