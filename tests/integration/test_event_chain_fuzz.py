"""A forger who re-links the chain can put any value into any event. check_run (behind replay, verify --events
and runs) must then either accept the stream or fail as an integrity error (exit 3): never another exception."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import certify_edit
from invarlock.application.replay.replay import check_run
from invarlock.application.services import Services
from invarlock.domain import events as ev
from invarlock.domain.errors import EXIT_INTEGRITY, InvarlockError

from tests.integration.event_forgery import relink
from tests.unit.conftest import loader, services, store  # noqa: F401 (fixtures used by name)
from tests.unit.test_certify_use_case import _request

_ANY = st.one_of(st.none(), st.booleans(), st.text(max_size=8), st.lists(st.integers(-3, 3), max_size=3))


def _like(old: Any) -> st.SearchStrategy[Any]:
    """Mostly a value of the old one's type (it still decodes, so the fold and the build see it), sometimes any."""
    if isinstance(old, bool):
        same: st.SearchStrategy[Any] = st.booleans()
    elif isinstance(old, int):
        same = st.one_of(st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1))
    elif isinstance(old, float):
        same = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, -0.0, 1e308, 5e-324]))
    elif isinstance(old, str):
        same = st.one_of(st.text(max_size=8), st.sampled_from(["preview", "final", "baseline", "subject", "PASS"]))
    else:
        same = _ANY
    return st.one_of(same, same, same, _ANY)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of the scalars (and of each list, which a mutation may shorten) inside a payload."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() if k != "type" for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list) and value:
        return [path, *(leaf for i, v in enumerate(value[:3]) for leaf in _leaves(v, (*path, i)))]
    return [path]


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


_STREAMS: dict[str, list[ev.RecordedEvent]] = {}


def _issued_stream(fake: Services, subject: str) -> list[ev.RecordedEvent]:
    """The stream of one certify run on the fake models (a PASS or a rollback), recorded once per subject."""
    if subject not in _STREAMS:
        mem = InMemoryEventStore()
        _STREAMS[subject] = mem.read(certify_edit(_request(subject), dataclasses.replace(fake, store=mem)).run_id)
    return _STREAMS[subject]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_relinked_value_in_any_event_is_accepted_or_an_integrity_error(
    request: pytest.FixtureRequest, data: Any
) -> None:
    records = _issued_stream(request.getfixturevalue("services"), data.draw(st.sampled_from(["int8ish", "broken"])))
    at = data.draw(st.integers(0, len(records) - 1))
    doc = json.loads(records[at].payload)
    paths = [p for p in _leaves(doc) if p]
    if paths:
        path = data.draw(st.sampled_from(paths))
        old = _get(doc, path)
        new = old[:-1] if isinstance(old, list) and data.draw(st.booleans()) else data.draw(_like(old))
        _get(doc, path[:-1])[path[-1]] = new
    forged = msgspec.structs.replace(records[at], payload=json.dumps(doc).encode())
    try:
        check_run(relink([*records[:at], forged, *records[at + 1 :]]))
    except InvarlockError as exc:
        assert exc.exit_code == EXIT_INTEGRITY, exc.one_line()
