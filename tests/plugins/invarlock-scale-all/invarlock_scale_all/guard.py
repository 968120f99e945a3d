"""A guard this InvarLock release can list but not run (third-party guards have no certificate section yet)."""


def norm_ratio(*args: object) -> None:
    raise NotImplementedError
