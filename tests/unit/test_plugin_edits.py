"""A third-party edit whose outcome verify would refuse (None, a dict, another edit's name, plan or digest, a
negative or string count) is refused before it is recorded, naming its plugin; numpy counts are their numbers;
an edit entry whose factory returns no edit is E223."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import msgspec
import numpy as np
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import EditConfig
from invarlock.domain.errors import UsageError
from invarlock.domain.model import EditOutcome
from invarlock.domain.run import replay

from tests.fakes.models import FakeScaleEdit
from tests.fakes.plugin_dist import stored_events as _events
from tests.unit.conftest import small_config


@dataclasses.dataclass
class _OddEdit(FakeScaleEdit):
    """FakeScaleEdit whose outcome is bent by `bend` before it is returned."""

    bend: Callable[[EditOutcome], object] = lambda outcome: outcome

    def apply(self, model, plan):  # type: ignore[no-untyped-def]
        return self.bend(super().apply(model, plan))


def _deltas(**changes: object) -> Callable[[EditOutcome], object]:
    return lambda o: msgspec.structs.replace(o, deltas=msgspec.structs.replace(o.deltas, **changes))


ODD_EDITS = {
    "None": (lambda o: None, "returned NoneType, not an EditOutcome"),
    "a dict": (msgspec.structs.asdict, "returned dict, not an EditOutcome"),
    "another edit's outcome": (lambda o: msgspec.structs.replace(o, name="other"), "the outcome of the edit 'other'"),
    "another plan": (lambda o: msgspec.structs.replace(o, plan={"factor": 2.0}), "whose 'factor' is not"),
    "a digest of nothing": (lambda o: msgspec.structs.replace(o, plan_digest="0" * 64), "plan_digest"),
    "a negative count": (_deltas(params_changed=-3), "negative count params_changed = -3"),
    "a string count": (_deltas(layers_modified="1"), "Expected `int`, got `str`"),
}


@pytest.mark.parametrize("case", ODD_EDITS)
def test_an_edit_outcome_verify_would_refuse_is_refused_before_it_is_recorded(case: str, services, store) -> None:
    """None or a dict was recorded as the edit_applied event (which no replay decodes) and the run ended in
    E999; another name, plan, digest or a negative count gave a certificate that verify voided (exit 3)."""
    bend, words = ODD_EDITS[case]
    edits = {**services.edits, "odd": _OddEdit(name="odd", bend=bend)}
    environment = {"python": "test", "plugin.edits.odd": "oddedits 2.0"}
    svc = dataclasses.replace(services, edits=edits, environment=lambda: environment)
    request = CertifyRequest("run", small_config(EditConfig(name="odd", plan={"factor": 1.5})), None, "balanced", "dev")
    with pytest.raises(UsageError) as refused:
        certify_edit(request, svc)
    assert refused.value.code == "E223" and words in refused.value.message
    assert refused.value.message.startswith("edit plugin 'odd' (oddedits 2.0): its apply() returned")
    [run_id] = store.run_ids()
    state = replay(_events(store, run_id))
    assert state.failed is not None and state.failed.code == "E223" and state.edit is None


def test_an_edit_outcome_of_numpy_counts_is_recorded_as_their_numbers(services, store) -> None:
    from invarlock.application.verification.verify import verify_certificate

    numpy_counts = _deltas(params_changed=np.int64(16), layers_modified=np.int32(1))
    svc = dataclasses.replace(services, edits={**services.edits, "odd": _OddEdit(name="odd", bend=numpy_counts)})
    request = CertifyRequest("run", small_config(EditConfig(name="odd", plan={"factor": 1.5})), None, "balanced", "dev")
    cert = certify_edit(request, svc).certificate
    assert cert.edit.deltas is not None and cert.edit.deltas.params_changed == 16
    assert verify_certificate(cert).ok


@pytest.mark.usefixtures("raising_plugin")
def test_an_edit_entry_whose_factory_returns_no_edit_is_e223() -> None:
    from invarlock.cli.registry import registry
    from invarlock.cli.routing import RegistryEdits

    with pytest.raises(UsageError) as refused:
        RegistryEdits(registry())["nothing"]
    assert refused.value.code == "E223"
    assert refused.value.message == "edit plugin 'nothing' (raising 1.0): its Edit (object) lacks apply"
