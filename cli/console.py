"""The CLI's output, the one place commands print through (tests/unit/test_cli_output.py checks they do).

`out` is what a command was asked for (its --json, a listing, rows, a certificate on stdout) and always prints;
`say` (stdout) and `tell` (stderr) are human commentary that `invarlock --quiet` drops; `note` prints only
with `--verbose`. Colour is used only on a terminal and never when NO_COLOR is set (no-color.org)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from dataclasses import dataclass
from typing import Any

import click
from invarlock.domain.hidden_text import escape_hidden


@dataclass
class _Settings:
    quiet: bool = False
    verbose: bool = False


_SETTINGS = _Settings()
_VERDICT_COLOURS = {"PASS": "green", "FAIL": "red"}


def configure(*, quiet: bool, verbose: bool) -> None:
    """Set by the `invarlock` group for the command it runs (the options are mutually exclusive)."""
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose cannot be combined")
    _SETTINGS.quiet, _SETTINGS.verbose = quiet, verbose


def quiet_option(fn: Any = None, *, printed: str = "errors and the line of a --json") -> Any:
    """A command's own `-q/--quiet`: the same switch as `invarlock --quiet` (`invarlock certify -q` prints what
    `invarlock -q certify` prints), so the command reads `quiet()` and takes no parameter for it. `printed`: what
    the command still prints, for its help (`@quiet_option(printed=...)`)."""
    if fn is None:
        return lambda command: quiet_option(command, printed=printed)

    def switch(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            configure(quiet=True, verbose=_SETTINGS.verbose)

    help_ = f"as `invarlock --quiet`: print only {printed}; no progress"
    return click.option("--quiet", "-q", is_flag=True, expose_value=False, callback=switch, help=help_)(fn)


def quiet() -> bool:
    return _SETTINGS.quiet


def verbose() -> bool:
    return _SETTINGS.verbose


def printable(text: str) -> str:
    """`text` with every control character escaped (`\\x1b`, `\\n`), newlines too: one line on a terminal."""
    return escape_hidden(text)


def colour() -> bool | None:
    """False when NO_COLOR is set to anything non-empty; otherwise click decides (colour on a terminal only)."""
    return False if os.environ.get("NO_COLOR") else None


def verdict(status: str) -> str:
    """`status` styled green/red; the styling is stripped off a non-terminal or under NO_COLOR by `say`."""
    return click.style(status, fg=_VERDICT_COLOURS.get(status), bold=True)


# The command's stdout while its callback runs (commands_only_print_to_stdout); None outside: click's own.
_COMMAND_STDOUT: list[Any] = []


def commands_only_print_to_stdout(callback: Any) -> Any:
    """`callback` with stdout kept for this module's output: what other code prints while it runs (a plugin's
    edit, metric or dataset, a library) goes to stderr, so that stdout holds the command's own (`--json`: one
    line)."""

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        _COMMAND_STDOUT.append(sys.stdout)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return callback(*args, **kwargs)
        finally:
            _COMMAND_STDOUT.pop()

    return run


def _stdout() -> Any:
    return _COMMAND_STDOUT[-1] if _COMMAND_STDOUT else None


def out(text: str) -> None:
    """The command's requested output on stdout: printed even with --quiet."""
    click.echo(text, file=_stdout(), color=colour())


def out_bytes(data: bytes) -> None:
    """Requested output that must reach stdout byte for byte (a certificate): no newline added, not re-encoded,
    so `invarlock replay RUN_ID > cert.json` writes the issued file's exact bytes."""
    stdout = _stdout() or sys.stdout
    buffer = getattr(stdout, "buffer", None)
    if buffer is None:  # a text-only stream (an in-process capture): the same characters
        click.echo(data.decode(), file=stdout, nl=False)
        return
    stdout.flush()
    buffer.write(data)
    buffer.flush()


def say(text: str) -> None:
    """One line of human output on stdout, unless --quiet."""
    if not _SETTINGS.quiet:
        click.echo(text, file=_stdout(), color=colour())


def tell(text: str) -> None:
    """One line of human commentary on stderr (a page note, an unmet expectation), unless --quiet."""
    if not _SETTINGS.quiet:
        click.echo(text, err=True, color=colour())


def error(text: str) -> None:
    """An error's one line on stderr, printed even with --quiet."""
    click.echo(text, err=True)


def note(text: str) -> None:
    """One line on stderr, only with --verbose."""
    if _SETTINGS.verbose:
        click.echo(text, err=True, color=colour())


def others_print_to_stderr() -> contextlib.redirect_stdout[Any]:
    """What code other than the CLI prints while this holds (a plugin module on import) goes to stderr: stdout
    holds the command's own output (`--json`: one line)."""
    return contextlib.redirect_stdout(sys.stderr)
