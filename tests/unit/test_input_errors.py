"""What the operating system says about a named input becomes one UsageError naming it (adapters/input_errors.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from invarlock.adapters.input_errors import reading_input
from invarlock.domain.errors import UsageError


def _read(ref: str, code: str = "E102") -> UsageError:
    with pytest.raises(UsageError) as caught, reading_input("model", ref, code):
        Path(ref).expanduser().read_bytes()
    return caught.value


def test_a_name_over_the_file_systems_limit_is_named_with_the_reason() -> None:
    error = _read("m" * 300)
    assert error.code == "E102" and error.message == f"cannot read model {'m' * 300}: File name too long"


def test_a_folder_is_named_with_the_file_that_could_not_be_read(tmp_path: Path) -> None:
    error = _read(str(tmp_path))
    assert error.code == "E102" and error.message.endswith(": Is a directory")


def test_an_unknown_users_home_is_e101_for_a_model_and_the_callers_code_for_a_dataset() -> None:
    assert _read("~nosuchuser/m").code == "E101"
    assert _read("~nosuchuser/d.txt", "E301").code == "E301"


def test_other_errors_pass_through() -> None:
    with pytest.raises(RuntimeError, match="not about paths"), reading_input("model", "m"):
        raise RuntimeError("not about paths")


def test_one_line_is_one_line_whatever_the_message_holds() -> None:
    """`one_line()` is "the line the CLI prints": a path's newline or escape sequence in the message came through
    raw (the inputs hunt); it is escaped as the CLI escapes it."""
    error = UsageError("E600", "cannot read certificate 'a\nb\x1b[2J'", "check the path\n")
    assert error.one_line() == "ERROR [INVARLOCK:E600] cannot read certificate 'a\\nb\\x1b[2J' — check the path\\n"
