"""The Python API's arguments checked where a caller passes them: a wrong type is UsageError E200 naming the
keyword and what it takes, never a TypeError or AttributeError from deep inside a run (the inputs hunt found
`certify(Path("m"), ...)`, `replay(5)`, `verify(max_replicates="10")` and `certify(progress=5)`, the last after
the run had been recorded as started)."""

from __future__ import annotations

import inspect
import itertools
import os
from collections.abc import Mapping
from typing import Any

from invarlock.domain.canonical import is_utf8
from invarlock.domain.errors import UsageError

from .inputs import MAX_CONFIG_VALUES
from .nested_values import ContainsItself, expanded_size_over, nested_values


def refused(keyword: str, takes: str, value: object) -> UsageError:
    return UsageError("E200", f"{keyword} must be {takes}, not {type(value).__name__}", f"pass {keyword} as {takes}")


def path_text(keyword: str, value: object) -> str:
    """`value` (a str or an os.PathLike of str) as the path or reference string the API passes on."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str):
        raise refused(keyword, "a str or a path", value)
    if "\0" in text:
        raise UsageError("E200", f"{keyword} {text!r} holds a NUL character", f"pass {keyword} as a path")
    return _given(keyword, text)


def _given(keyword: str, text: str) -> str:
    """`text`, or E200 when it is empty: "" read as the current folder (an export wrote over its files) or as
    the default (a tier, a certificate folder), where the CLI refuses an empty value; or when it is not UTF-8."""
    if not text:
        raise UsageError("E200", f"{keyword} is empty", f"pass {keyword}, or leave it out for the default")
    utf8_texts(keyword, text)
    return text


def utf8_texts(keyword: str, value: object, code: str = "E200") -> None:
    """Every str in `value` (mapping keys too, lists and tuples walked) is UTF-8 text, and no mapping or list holds
    itself: a name with bytes that are not UTF-8 (`os.listdir` gives them as lone surrogates, "\\udcff") can be
    recorded in no event, path or report (a UnicodeEncodeError deep inside the run, its store file already made),
    and the CLI refuses such an argument (E200) or config value (E201). Shared values are walked once."""
    try:
        for text, where, _ in itertools.chain([(value, keyword, False)], nested_values(value, keyword, _indexed)):
            if isinstance(text, str) and not is_utf8(text):
                raise UsageError(code, f"{where} is not UTF-8 text: {text!a}", f"pass {keyword} as UTF-8 text")
    except ContainsItself as exc:
        raise UsageError(code, f"{exc.label} contains itself", f"pass {keyword} as plain values") from None


def config_values(keyword: str, value: Mapping[str, Any]) -> None:
    """A config or edit mapping a run can record: UTF-8 text, nothing inside itself, and at most as many values
    as a config file may hold once shared values are written out at each place (a list holding one list twice,
    forty levels deep, would be recorded as 2**40 values)."""
    utf8_texts(keyword, value, "E201")
    if expanded_size_over(value, MAX_CONFIG_VALUES):
        said = f"{keyword} holds more than {MAX_CONFIG_VALUES:,} values (shared values counted at each place)"
        raise UsageError("E201", said, f"pass {keyword} with the values a run records, hundreds at most")


def _indexed(where: str, key: object) -> str:
    return f"{where}[{key!a}]"


def optional_path(keyword: str, value: object) -> str | None:
    return None if value is None else path_text(keyword, value)


def optional_text(keyword: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise refused(keyword, "a str", value)
    return None if value is None else _given(keyword, value)


def run_id_text(value: object) -> str:
    if not isinstance(value, str):
        raise refused("run_id", "a str (a run id, as `invarlock runs` lists it)", value)
    utf8_texts("run_id", value)  # read as the store's fault (E603) before
    return value


def whole(keyword: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise refused(keyword, f"an int of at least {low}", value)
    if value < low:
        raise UsageError("E200", f"{keyword} {value} is below {low}", f"pass {keyword} as an int of at least {low}")
    return value


def flag(keyword: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise refused(keyword, "True or False", value)
    return value


def model_refs(value: object) -> dict[str, str]:
    """`models` as {role: reference}: a mapping of "baseline"/"subject" to a str or a path."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise refused("models", "a mapping {'baseline': REF, 'subject': REF}", value)
    return {str(role): path_text(f"models[{role!r}]", ref) for role, ref in value.items()}


def sample_size(value: object) -> int | str | None:
    """`sample`: None (every window), "all", or a whole number of windows."""
    if value is None or isinstance(value, str):
        return value
    return whole("sample", value, 1)


def optional_seed(value: object) -> int | None:
    """`sample_seed`: any 64-bit integer, as `--sample-seed` takes (the audit checks the range and says it)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise refused("sample_seed", "an int", value)
    return value


# How a run calls each method of a Progress (ports.ui.Progress): sample arguments, and the parameters they fill
_PROGRESS_CALLS = {"start": (("label", 1), "(label, total)"), "advance": ((1,), "(done)"), "finish": ((), "()")}


def progress_of(value: Any) -> Any:
    """A Progress (start, advance and finish), checked before the run records anything: each method exists and
    takes the arguments a run passes it (one of the wrong shape raised a TypeError mid-run, the run left open)."""
    if value is None:
        return None
    if not all(callable(getattr(value, name, None)) for name in _PROGRESS_CALLS):
        raise refused("progress", "a Progress (with start, advance and finish methods)", value)
    for name, (arguments, takes) in _PROGRESS_CALLS.items():
        try:
            inspect.signature(getattr(value, name)).bind(*arguments)
        except ValueError:  # no signature to read (a builtin): the call itself will tell
            continue
        except TypeError as exc:
            said = f"progress.{name} cannot be called as a run calls it: {exc}"
            raise UsageError("E200", said, f"define {name}{takes}") from exc
    return value
