"""Which runs `invarlock runs` lists: its filters and paging, and the listing order."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import msgspec

from .errors import UsageError
from .run_index import AUDIT, IndexedRun

VERDICTS = ("PASS", "FAIL")
_HEX = re.compile(r"[0-9a-f]{1,64}")
MAX_ROWS = 2**63 - 1  # the store counts rows in signed 64-bit integers
_HINT = "see `invarlock runs --help`"
# the fraction of an ISO-8601 time: the first digits after a decimal mark (a date has none), however the time is
# written (`T12:00:00.1`, `,1`, `120000.1`, `_12:00:00.1`: Python reads each, the fraction as of the seconds)
_FRACTION = re.compile(r"[.,](\d+)")
# a fraction of the seconds, after `HH:MM:SS` or `HHMMSS`: Python read `T12.5` (ISO: 12:30) as 12:00:00.5
_OF_SECONDS = re.compile(r"(?:\d\d:\d\d:\d\d|(?<!\d)\d{6})[.,]\d")


class RunQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Filters and a page over the runs of a store, oldest first (by first recorded event, then run id).

    Attributes:
        since: only runs whose run_started time is at or after this ISO-8601 UTC instant.
        verdict: only runs whose run_completed verdict is this (PASS or FAIL).
        baseline_digest: only runs whose baseline weights sha256 starts with this lowercase hex.
        limit: at most this many runs (None: all).
        offset: skip this many matching runs first.
        run_id: only the run of this id (a stream's own entry, for the checks that it is the one appended).
    """

    since: str | None = None
    verdict: str | None = None
    baseline_digest: str | None = None
    limit: int | None = None
    offset: int = 0
    run_id: str | None = None


def parse_instant(text: str) -> str:
    """`text` (`YYYY-MM-DD` or ISO-8601; no zone means UTC) as `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`.

    Raises:
        UsageError: E513 when it is not a date or time.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(
            "E513", f"--since {text!r} is not a date or time", "write e.g. 2026-02-01 or 2026-02-01T09:30Z"
        ) from exc
    if _FRACTION.search(text) and not _OF_SECONDS.search(text):
        raise UsageError(
            "E513",
            f"--since {text!r} has a fraction of an hour or minute",
            "write the seconds, e.g. 2026-02-01T12:30:00",
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return (moment + _beyond_microseconds(text)).astimezone(UTC).isoformat(timespec="microseconds")
    except OverflowError as exc:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise UsageError(
            "E513", f"--since {text!r} is out of range in UTC", "write a date between 0001-01-02 and 9999-12-30"
        ) from exc


def _beyond_microseconds(text: str) -> timedelta:
    """One microsecond when `text` states a fraction finer than microseconds that is not zero: Python reads it cut
    to microseconds, and `--since` ...193494999Z then listed a run of ...193494, before the instant asked for."""
    fraction = _FRACTION.search(text)
    digits = fraction.group(1)[6:] if fraction else ""
    return timedelta(microseconds=1) if digits.strip("0") else timedelta(0)


def make_query(
    *,
    since: str | None = None,
    verdict: str | None = None,
    baseline_digest: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> RunQuery:
    """A RunQuery from user input; UsageError E513 for a bad date, verdict, digest, limit or offset."""
    digest = baseline_digest.strip().lower() if baseline_digest is not None else None
    if digest is not None and not _HEX.fullmatch(digest):
        raise UsageError("E513", f"--baseline-digest {baseline_digest!r} is not hex sha256 (or its start)", _HINT)
    if verdict is not None and verdict.upper() not in VERDICTS:
        raise UsageError("E513", f"--verdict {verdict!r} is not PASS or FAIL", _HINT)
    if limit is not None and not 1 <= limit <= MAX_ROWS:
        raise UsageError("E513", f"--limit {limit} is not 1 to {MAX_ROWS}", _HINT)
    if not 0 <= offset <= MAX_ROWS:
        raise UsageError("E513", f"--offset {offset} is not 0 to {MAX_ROWS}", _HINT)
    return RunQuery(
        since=parse_instant(since) if since is not None else None,
        verdict=verdict.upper() if verdict is not None else None,
        baseline_digest=digest,
        limit=limit,
        offset=offset,
    )


def started_instant(run: IndexedRun) -> str | None:
    """The run's run_started time normalized like `parse_instant`, None when it has none or it does not parse."""
    try:
        return parse_instant(run.started_at) if run.started_at is not None else None
    except UsageError:
        return None


def matches(run: IndexedRun, query: RunQuery) -> bool:
    """Whether `run` is a run (not an audit stream) that passes every filter of `query`."""
    if run.kind == AUDIT:
        return False
    if query.run_id is not None and run.run_id != query.run_id:
        return False
    if query.verdict is not None and run.verdict != query.verdict:
        return False
    digest = query.baseline_digest
    if digest is not None and not (run.baseline_digest or "").startswith(digest):
        return False
    started = started_instant(run) if query.since is not None else None
    return query.since is None or (started is not None and started >= query.since)


def select(runs: Iterable[IndexedRun], query: RunQuery, *, flagged_too: bool = False) -> tuple[list[IndexedRun], int]:
    """The page of `runs` that `query` asks for, in listing order, and how many runs match in all; `flagged_too`:
    also every run whose entry has a `problem`, whatever the filters."""
    chosen = sorted(
        (r for r in runs if matches(r, query) or (flagged_too and r.problem is not None)),
        key=lambda r: (r.first_recorded_at, r.run_id),
    )
    end = None if query.limit is None else query.offset + query.limit
    return chosen[query.offset : end], len(chosen)
