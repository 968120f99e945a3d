"""What a third-party library's exception says, cut to one printable line for a one-line UsageError."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of `error`'s message, non-printable characters as `?`, at most `limit` characters; its type's
    name when the message is empty (libraries' messages may be many lines, or hold control characters from a file's
    bytes)."""
    return _line(error, limit) or type(error).__name__


def said(error: BaseException, limit: int = 200) -> str:
    """`Type: first line` of `error`, or its type's name alone when its message is empty."""
    line = _line(error, limit)
    return f"{type(error).__name__}: {line}" if line else type(error).__name__


def _line(error: BaseException, limit: int) -> str:
    line = (str(error).strip().splitlines() or [""])[0][:limit]
    return "".join(ch if ch.isprintable() else "?" for ch in line)
