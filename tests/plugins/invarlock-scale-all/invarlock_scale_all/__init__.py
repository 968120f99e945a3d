"""A test plugin for InvarLock (tests/plugins/invarlock-scale-all)."""
