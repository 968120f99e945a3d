"""Typed errors. Every error carries a stable code, a one-line message, a fix hint and an exit code."""

from __future__ import annotations

import shlex

from .hidden_text import escape_hidden

EXIT_OK = 0
EXIT_GATES_FAILED = 1
EXIT_USAGE = 2
EXIT_INTEGRITY = 3


class InvarlockError(Exception):
    """Base error: `code` like "E303", `message` says what happened, `hint` says how to fix it."""

    exit_code = EXIT_GATES_FAILED

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The single line the CLI prints for this error (error_line)."""
        return error_line(self.code, self.message, self.hint)


def error_line(code: str, message: str, hint: str = "") -> str:
    """`ERROR [INVARLOCK:E###] message — hint`, every control character of the message and hint escaped (`\\n`,
    `\\x1b`): a path's newline or escape sequence stays on the one line."""
    text = f"ERROR [INVARLOCK:{code}] {escape_hidden(message)}"
    return f"{text} — {escape_hidden(hint)}" if hint else text


class UsageError(InvarlockError):
    """Bad arguments, config, schema or input files (exit 2)."""

    exit_code = EXIT_USAGE

    def within(self, where: str) -> UsageError:
        """This error as one about `where` (a file, a suite's case): its message prefixed, its code and hint kept."""
        return UsageError(self.code, f"{where}: {self.message}", self.hint)


class CertificateOnRecord(UsageError):
    """E406: a run asked to resume already has its certificate, which `invarlock replay` writes; `in_store` names
    an event store other than the default in the hint (the CLI and the API know it, the use case does not)."""

    def __init__(self, code: str, message: str, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(code, message, self._replay(None))

    def in_store(self, events: str | None) -> CertificateOnRecord:
        """This error with its hint's replay command reading `events` (None: the default store)."""
        self.hint = self._replay(events)
        return self

    def _replay(self, events: str | None) -> str:
        return replay_hint(self.run_id, events)


def replay_hint(run_id: str, events: str | None) -> str:
    """How to write the certificate file of the recorded run `run_id` (its store when not the default)."""
    return f"the run is recorded: `invarlock replay {run_id}{_store_flag(events)} -o FILE` writes it"


class UnknownRun(UsageError):
    """E404: the event store holds no stream of `run_id`; `in_store` names the store in the message and in the
    hint's `invarlock runs` (the CLI and the API know it, the use case does not: the hint listed the default
    store's runs whichever store was searched)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__("E404", f"no run '{run_id}' in the event store", "list runs with `invarlock runs`")

    def in_store(self, events: str, named: str | None) -> UnknownRun:
        """This error naming `events`, its hint listing the runs of `named` (None: the default store)."""
        self.message = f"no run '{self.run_id}' in the event store {events}"
        self.hint = f"list its runs with `invarlock runs{_store_flag(named)}`"
        return self


class IntegrityError(InvarlockError):
    """A recomputed number, digest, signature or event chain does not match (exit 3)."""

    exit_code = EXIT_INTEGRITY


class NewerEvents(IntegrityError):
    """A stream holding an event version a newer release writes: this release cannot check it, which does not
    make it altered (`invarlock runs` lists such a run as UNREADABLE, not TAMPERED)."""


class AbortError(InvarlockError):
    """A hard abort during a run: pairing broken, non-finite weights, too little data (exit 3)."""

    exit_code = EXIT_INTEGRITY


class ResourceShortage(UsageError):
    """The machine ran short while a run was under way (a disk too full for what the run writes), its inputs not at
    fault: the run is not recorded as failed, and `certify --resume` goes on with it once there is room (exit 2).
    `stopped` names the run: the hint then says how to go on with it."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(code, message, hint)
        self.fix = hint
        self.run_id: str | None = None

    def stopped(self, run_id: str, events: str | None = None, outputs: tuple[tuple[str, str], ...] = ()) -> None:
        """Name the run this stopped, its event store when not the default, and the (flag, value) outputs a resume
        must be given again (as RunInterrupted.outputs: the run records none of them), in the hint."""
        self.run_id = run_id
        self.hint = f"{self.fix}; run {run_id} goes on where it stopped with {resume_command(run_id, events, outputs)}"


def _store_flag(events: str | None) -> str:
    return "" if events is None else f" --events {shlex.quote(events)}"


def resume_command(run_id: str, events: str | None, outputs: tuple[tuple[str, str], ...]) -> str:
    """The `certify --resume` that goes on with `run_id`: its store when not the default, and the (flag, value)
    outputs the run was given, which it records none of (a resume without --sign-key is unsigned)."""
    again = "".join(f" {flag} {shlex.quote(value)}" for flag, value in outputs)
    return f"`invarlock certify --resume {run_id}{_store_flag(events)}{again}`"


class ConcurrencyConflict(InvarlockError):
    """An append raced another writer of the same stream (expected sequence number was stale)."""

    exit_code = EXIT_INTEGRITY


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a recorded run. Still a KeyboardInterrupt (every caller stops as for any Ctrl-C); it
    carries how to go on with the run, which the CLI's E000 line prints as its hint."""

    def __init__(self, run_id: str, completed: bool) -> None:
        super().__init__(run_id)
        self.run_id = run_id
        self.completed = completed
        self.events: str | None = None  # the event store's path when not the default (the CLI sets it)
        # (flag, value) of the command's outputs a resume must be given again (--sign-key, --cert-out, --export):
        # the run records none of them, so a resume without them would, e.g., issue an unsigned certificate
        self.outputs: tuple[tuple[str, str], ...] = ()
        self.advice: str | None = None  # how to go on instead, where resuming the run does not finish the command

    @property
    def hint(self) -> str:
        if self.advice is not None:
            return self.advice
        run_id, store = self.run_id, _store_flag(self.events)
        if self.completed:
            return f"run {run_id} has its certificate: `invarlock replay {run_id}{store} -o FILE` writes it"
        return f"finish run {run_id} with {resume_command(run_id, self.events, self.outputs)}"
