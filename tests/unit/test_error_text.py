"""A library's exception cut to one printable line (adapters/error_text.py)."""

from invarlock.adapters.error_text import first_line, said


def test_the_first_line_only_and_cut_to_the_limit():
    error = ValueError("  first line of it\nsecond line\nthird")
    assert first_line(error) == "first line of it"
    assert said(error) == "ValueError: first line of it"
    assert first_line(ValueError("x" * 500), 10) == "x" * 10


def test_control_characters_from_a_files_bytes_are_shown_as_question_marks():
    assert first_line(OSError("bad\x1b[31m name\x00")) == "bad?[31m name?"


def test_an_empty_message_gives_the_type_name():
    assert first_line(KeyError()) == "KeyError"
    assert said(RuntimeError("   \n  ")) == "RuntimeError"
