"""The `invarlock` command line. Every error is one line; exit codes as in README.md and docs/user-guide.md."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click
from invarlock.domain.canonical import is_utf8
from invarlock.domain.errors import InvarlockError, RunInterrupted, UsageError, error_line

from . import console
from .lazy_group import Interrupted, LazyGroup
from .start import EXIT_INTERRUPTED, INTERRUPTED_HINT
from .version import tool_version


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
# the certificate schema versions it writes and reads (domain SCHEMA_VERSIONS, spelt out: --version stays light)
@click.version_option(tool_version(), prog_name="invarlock", message="%(prog)s %(version)s · schema=v1,v2")
@click.option("--quiet", "-q", is_flag=True, help="print only errors (and the JSON of a --json); no progress")
@click.option("--verbose", "-v", is_flag=True, help="one stderr line per step, and tracebacks of unexpected errors")
def cli(quiet: bool, verbose: bool) -> None:
    """InvarLock: certify that a weight edit of a language model preserves quality.

    Exit codes: 0 success/PASS, 1 gates FAIL, 2 usage/config/schema invalid, 3 integrity failure or hard abort.
    Colour only on a terminal, never with NO_COLOR set. Shell completion: `invarlock completion bash|zsh|fish`.
    """
    console.configure(quiet=quiet, verbose=verbose)


# The optional-dependency group that carries torch & co; a core-only install (verify, audit) lacks them.
_HF_EXTRA = {"torch", "transformers", "datasets", "safetensors", "gguf", "accelerate", "huggingface_hub"}


@dataclass(frozen=True)
class _Failure:
    """An error reduced to its exit code, stable code, message and hint."""

    exit_code: int
    code: str
    message: str
    hint: str = ""

    def line(self) -> str:
        """The one line printed: the message and hint escaped (a path or a certificate's text in them stays on it)."""
        return error_line(self.code, self.message, self.hint)


@contextmanager
def _stdout_errors() -> Iterator[None]:
    """A full disk or a failing device behind stdout (`> /dev/full`) is E608 naming stdout, not E999; a closed
    pipe (`| head`) is left to end the command as before."""
    try:
        yield
    except BrokenPipeError:
        raise
    except AttributeError as exc:  # `>&-`: Python sets sys.stdout to None when descriptor 1 is closed
        if sys.__stdout__ is not None:
            raise
        raise UsageError("E608", "cannot write to standard output: it is closed", "give the command an output") from exc
    except OSError as exc:
        hint = "free space where the output goes, or redirect it elsewhere"
        raise UsageError("E608", f"cannot write to standard output: {exc.strerror or exc}", hint) from exc


class _WatchedStdout:
    """Delegates to the real stdout and remembers whether the command printed anything on it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.used = False

    def write(self, text: str) -> int:
        self.used = self.used or bool(text)
        with _stdout_errors():
            return int(self._stream.write(text))

    def flush(self) -> None:
        with _stdout_errors():
            self._stream.flush()

    @property
    def buffer(self) -> _WatchedBuffer:
        """The binary stream under stdout (console.out_bytes writes a certificate's exact bytes to it), watched
        the same way; AttributeError where the stream has none (an in-process capture)."""
        return _WatchedBuffer(self, self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _WatchedBuffer:
    """stdout's binary stream: a write marks stdout used, and a full device is E608 as for text."""

    def __init__(self, owner: _WatchedStdout, buffer: Any) -> None:
        self._owner = owner
        self._buffer = buffer

    def write(self, data: bytes) -> int:
        self._owner.used = self._owner.used or bool(data)
        with _stdout_errors():
            return int(self._buffer.write(data))

    def flush(self) -> None:
        with _stdout_errors():
            self._buffer.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._buffer, name)


def _failure(exc: BaseException) -> _Failure:
    """Map any exception that ended a command to its exit code and one line (never a traceback)."""
    if isinstance(exc, InvarlockError):
        return _Failure(exc.exit_code, exc.code, exc.message, exc.hint)
    if isinstance(exc, click.Abort):
        return _Failure(1, "E000", "interrupted")
    if isinstance(exc, click.ClickException):  # "… — hint": the help of the command that refused the arguments
        where = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx is not None else "invarlock"
        said = exc.format_message().replace("\n\t", " ")  # click's own list breaks ("Choose from:\n\tbash,")
        return _Failure(2, "E200", said.removesuffix("."), f"see `{where} --help`")
    if _interrupted(exc):
        return _Failure(EXIT_INTERRUPTED, "E000", "interrupted", _interrupted_hint(exc))
    if os.environ.get("_INVARLOCK_COMPLETE") and isinstance(exc, (KeyError, ValueError)):  # click's completion
        return _Failure(
            2, "E200", "the shell completion variables (COMP_WORDS, COMP_CWORD) are missing or malformed",
            "load the script `invarlock completion bash|zsh|fish` prints; do not set _INVARLOCK_COMPLETE by hand",
        )  # fmt: skip
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in _HF_EXTRA:
        missing = (exc.name or "").split(".")[0]
        return _Failure(
            2, "E105", f"this command needs the Hugging Face extra and {missing} is not installed",
            "pip install 'invarlock[hf]'",
        )  # fmt: skip
    fault = _plugin_fault(exc)  # a third-party plugin's own code raised: name it (E224), do not blame InvarLock
    if os.environ.get("INVARLOCK_DEBUG") == "1" or console.verbose():  # a bug or a failure we did not foresee
        traceback.print_exception(exc)
    if fault is not None:
        return _Failure(fault.exit_code, fault.code, fault.message, fault.hint)
    first = str(exc).splitlines()[0] if str(exc) else ""
    hint = "rerun with --verbose (or INVARLOCK_DEBUG=1) for the traceback and report it"
    return _Failure(1, "E999", f"unexpected {type(exc).__name__}: {first}", hint)


def _interrupted(exc: BaseException) -> bool:
    """Ctrl-C, or an error raised because of it: pybind11 turns a KeyboardInterrupt in a module's initialisation
    (scipy's _pava_pybind, pypocketfft, ...) into ImportError('initialization failed') raised from it (E999)."""
    return any(isinstance(cause, (KeyboardInterrupt, Interrupted)) for cause in _causes(exc))


def _interrupted_hint(exc: BaseException) -> str:
    """How to go on: with the run's id when Ctrl-C stopped a recorded run (RunInterrupted)."""
    return next((cause.hint for cause in _causes(exc) if isinstance(cause, RunInterrupted)), INTERRUPTED_HINT)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it was raised from or while handling, nearest first (`raise ... from None` ends it)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        yield cause
        seen.add(id(cause))
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)


def _plugin_fault(exc: BaseException) -> InvarlockError | None:
    """E224 when a loaded third-party plugin's code raised `exc` (cli/plugin_faults.py); None when no plugin
    was loaded (the registry is only read, never discovered, here)."""
    from . import registry
    from .plugin_faults import plugin_fault

    return plugin_fault(exc, registry.loaded_registry())


def _envelope(failure: _Failure) -> str:
    """What `--json` prints when a command ends in an error before printing its own JSON: `verify`'s own envelope
    with an `error` member (what a reader of `verify --json` parses whatever happened), else `error-v1`."""
    error = {"code": failure.code, "message": failure.message, "hint": failure.hint}
    loaded = sys.modules.get("invarlock.cli.commands_verify")  # never imported here: Ctrl-C may have cut its import
    if _command_name(sys.argv[1:]) == "verify" and loaded is not None:
        return str(loaded.envelope(loaded.VerifyReport(), failure.exit_code, error))
    return json.dumps({"format_version": "error-v1", "ok": False, "exit_code": failure.exit_code, "error": error})


def _command_name(args: list[str]) -> str | None:
    """The command `args` name: the first that is not an option (the group's own options are flags)."""
    return next((arg for arg in args if not arg.startswith("-")), None)


def _require_utf8_arguments(args: list[str]) -> None:
    """An argument whose bytes are not UTF-8 (Python keeps them as lone surrogates) could be recorded in no event,
    store path or report: refused before any command runs."""
    for arg in args:
        if not is_utf8(arg):
            raise UsageError("E200", f"argument {arg!a} is not UTF-8 text", "pass paths and values as UTF-8")


def _never_fail_to_encode() -> None:
    """Under a terminal or PYTHONIOENCODING that cannot encode a character we print (≤, −, —, a model's name), the
    character is printed as its escape instead of ending the command with UnicodeEncodeError half way through its
    report."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


# click >= 8.2 raises it for a group called without a command (8.1 printed the help and exited 0); () matches nothing
_NO_ARGS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _report(failure: _Failure, watched: _WatchedStdout) -> int:
    """Print the failure's one line (and, with `--json`, its envelope when the command printed nothing)."""
    click.echo(failure.line(), err=True)
    if "--json" in sys.argv[1:] and not watched.used:
        click.echo(_envelope(failure))
    return failure.exit_code


def main() -> None:
    """Console entry point: maps every error to its one-line message and exit code, never a traceback.

    With `--json`, a command that fails before printing its JSON prints the error envelope on stdout too."""
    _never_fail_to_encode()
    watched = _WatchedStdout(sys.stdout)
    sys.stdout = watched
    try:
        _require_utf8_arguments(sys.argv[1:])
        # Without standalone mode click returns (not raises) the code of a `click.exceptions.Exit`.
        code = cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except _NO_ARGS_HELP as exc:  # `invarlock` or `invarlock report` alone asks for the help, as click 8.1 gave it
        click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        code = 0
    except SystemExit as exc:  # a plugin calling sys.exit (0 read as PASS) is E224; click's own exits pass
        fault = _plugin_fault(exc)
        if fault is None:
            raise
        code = _report(_Failure(fault.exit_code, fault.code, fault.message, fault.hint), watched)
    except (Exception, KeyboardInterrupt) as exc:  # every error becomes one line
        code = _report(_failure(exc), watched)
    except BaseException as exc:  # GeneratorExit or a bare BaseException, raised by a plugin: one line too
        code = _report(_failure(exc), watched)
    finally:
        sys.stdout = watched._stream
    sys.exit(code if isinstance(code, int) else 0)
