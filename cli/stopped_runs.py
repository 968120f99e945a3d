"""How a stopped run's hint names what a resume needs: the event store it is in, when not the default, and the
outputs given to the call that started it (the run records none of them)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from invarlock.domain.errors import ResourceShortage, RunInterrupted, UnknownRun

from .bootstrap import DEFAULT_EVENTS


def named_store(events: str | os.PathLike[str]) -> str | None:
    """`events` as a hint names it: None for the default store (a command without --events reads it)."""
    return None if os.path.abspath(events) == os.path.abspath(DEFAULT_EVENTS) else os.fspath(events)


Output = str | os.PathLike[str] | None


def run_outputs(sign_key: Output, cert_out: Output, export: Output) -> tuple[tuple[str, Output], ...]:
    """The outputs a call that starts or resumes a run may be given, as the (flag, value) pairs its hint repeats."""
    return (("--sign-key", sign_key), ("--cert-out", cert_out), ("--export", export))


@contextmanager
def naming_the_store(events: str | os.PathLike[str], outputs: Sequence[tuple[str, Output]] = ()) -> Iterator[None]:
    """A Ctrl-C's hint, and that of a run stopped by the machine's shortage (ResourceShortage: a full disk), names
    the event store the run is in when it is not the default (the resume or replay it prints would look in the
    default store, which holds no such run), and repeats the `outputs` given, (flag, value) pairs such as
    ("--sign-key", path): the run records none of them (the resume hunt: a store held by another process gave a
    resume without --sign-key, which issued an unsigned certificate in the default folder). The CLI and the Python
    API both stop runs through it (the API hunt: a notebook's Ctrl-C named neither)."""
    store = named_store(events)
    again = tuple((flag, os.fspath(value)) for flag, value in outputs if value is not None)
    try:
        yield
    except RunInterrupted as stopped:
        stopped.events, stopped.outputs = store, again
        raise
    except ResourceShortage as short:  # a full disk (E608, E501) or a store held by another process (E505)
        if short.run_id is not None:
            short.stopped(short.run_id, store, again)
        raise


@contextmanager
def naming_the_searched_store(events: str | os.PathLike[str]) -> Iterator[None]:
    """E404 (no such run) names the event store searched, and its hint lists that store's runs (it said "the
    event store" and listed the default one's, whichever was searched)."""
    try:
        yield
    except UnknownRun as unknown:
        raise unknown.in_store(os.fspath(events), named_store(events)) from None
