"""Pure core of InvarLock: windows, statistics, policy, events, run state and the certificate."""
