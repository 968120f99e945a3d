"""A signed run copies evidence only from runs its own key sealed, and verify --events fails a signed run whose
copied evidence no such seal vouches for (a run planted unsigned in the store, copied by an earlier release)."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import msgspec
import pytest
from invarlock.adapters.ed25519 import generate_keypair, load_signer, load_verifier, public_path
from invarlock.application.certification import reuse_source
from invarlock.application.certification.certify import certify_edit, resume_run
from invarlock.application.config_sections import GuardsConfig
from invarlock.application.replay.replay import event_findings
from invarlock.application.services import Services
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError, UsageError
from invarlock.ports.signing import SignatureVerifier, Signer

from tests.fakes.killing_store import KillingStore
from tests.integration.event_forgery import Records, decoded, rewrite, with_event
from tests.unit.test_baseline_reuse import _request, svc  # noqa: F401  (the fixture)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Signer, Signer, SignatureVerifier]:
    for name in ("mine", "other"):
        generate_keypair(tmp_path / name)
    return (
        load_signer(tmp_path / "mine"),
        load_signer(tmp_path / "other"),
        load_verifier(public_path(tmp_path / "mine")),
    )


def _sources(svc: Services, run_id: str) -> set[str]:  # noqa: F811
    records = svc.store.read(run_id)
    links = [decoded(r) for r in records if r.type in ("baseline_reused", "guard_baseline_reused")]
    return {e.source_run_id for e in links}


def test_a_signing_run_copies_only_from_runs_its_own_key_sealed(svc: Services, keys) -> None:  # noqa: F811
    mine, other, verifier = keys
    unsigned = certify_edit(_request("int8ish"), svc)
    assert _sources(svc, certify_edit(_request("same"), svc).run_id) == {unsigned.run_id}  # unsigned copies freely
    by_other = certify_edit(_request("int8ish"), dataclasses.replace(svc, signer=other))
    assert _sources(svc, by_other.run_id) == set()  # neither the unsigned runs nor ...
    signed = certify_edit(_request("same"), dataclasses.replace(svc, signer=mine))
    assert _sources(svc, signed.run_id) == set()  # ... another key's run is a source of a signing run
    again = certify_edit(_request("int8ish"), dataclasses.replace(svc, signer=mine))
    assert _sources(svc, again.run_id) == {signed.run_id}
    found = dict(event_findings(again.certificate, svc.store, verifier))
    assert found["source_seal"].ok and found["source_seal"].detail.endswith(f"sealed by {mine.fingerprint}")
    assert all(f.ok for f in found.values()), found


@pytest.mark.parametrize("with_key", [False, True])
def test_a_signed_run_that_copied_an_unsealed_run_fails_verify_events(
    svc: Services,  # noqa: F811
    keys,
    monkeypatch: pytest.MonkeyPatch,
    with_key: bool,
) -> None:
    """As an earlier release copied (or a forger planting a run unsigned in the victim's store): the run's own
    chain and the copies are intact, so only the key behind the copied numbers tells."""
    mine, _, verifier = keys
    planted = certify_edit(_request("int8ish"), svc)
    monkeypatch.setattr(reuse_source, "sealed_by_signer", lambda candidate, signer: True)
    victim = certify_edit(_request("same"), dataclasses.replace(svc, signer=mine))
    assert planted.run_id in _sources(svc, victim.run_id)
    found = dict(event_findings(victim.certificate, svc.store, verifier if with_key else None))
    assert found["baseline_source"].ok and not found["source_seal"].ok and found["source_seal"].integrity
    assert found["source_seal"].detail.startswith(
        f"the signed run copied evidence from run {planted.run_id}, which no key sealed"
    )


def test_a_resume_signing_with_a_key_its_copied_evidence_lacks_is_refused_and_the_run_stays_resumable(
    svc: Services,  # noqa: F811
    keys,
) -> None:
    """The key is an input of each resume, not a fact the run recorded: a wrong one was E605 "the event store was
    altered", recorded as the run's failure, and the run could never be resumed again (the signing hunt)."""
    mine, _, _ = keys
    certify_edit(_request("int8ish"), svc)
    after_link = KillingStore(svc.store, lambda events: any(isinstance(e, ev.GuardBaselineReused) for e in events))
    with pytest.raises(KeyboardInterrupt):
        certify_edit(_request("int8ish"), dataclasses.replace(svc, store=after_link))  # type: ignore[arg-type]
    [killed] = after_link.killed
    recorded = len(svc.store.read(killed))
    with pytest.raises(UsageError) as raised:
        resume_run(killed, dataclasses.replace(svc, signer=mine))
    assert raised.value.code == "E705" and mine.fingerprint in raised.value.message
    assert "without --sign-key" in raised.value.hint and "is not failed" in raised.value.hint
    assert len(svc.store.read(killed)) == recorded
    resumed = resume_run(killed, svc)
    assert resumed.certificate.signature is None and resumed.run_id == killed


def _killed_after(svc: Services, signer: Signer, copied: type) -> str:  # noqa: F811
    after = KillingStore(svc.store, lambda events: any(isinstance(e, copied) for e in events))
    with pytest.raises(KeyboardInterrupt):
        certify_edit(_request("int8ish"), dataclasses.replace(svc, store=after, signer=signer))  # type: ignore[arg-type]
    return after.killed[0]


def test_a_resume_whose_only_copy_is_the_baseline_scores_checks_their_seal_too(svc: Services, keys) -> None:  # noqa: F811
    """With the guards measured afresh (another guard order at the source), the scores' link was never checked:
    a resume with another key finished signed, and verify --events failed it (the regression hunt, stop 71)."""
    mine, other, verifier = keys
    source = _request("int8ish")
    invariants = msgspec.structs.replace(source.config, guards=GuardsConfig(order=["invariants", "invariants"]))
    certify_edit(dataclasses.replace(source, config=invariants), dataclasses.replace(svc, signer=mine))
    killed = _killed_after(svc, mine, ev.BaselineReused)
    assert "guard_baseline_reused" not in [r.type for r in svc.store.read(killed)]
    recorded = len(svc.store.read(killed))
    with pytest.raises(UsageError) as raised:
        resume_run(killed, dataclasses.replace(svc, signer=other))
    assert raised.value.code == "E705" and len(svc.store.read(killed)) == recorded
    resumed = resume_run(killed, dataclasses.replace(svc, signer=mine))
    assert all(f.ok for _, f in event_findings(resumed.certificate, svc.store, verifier))


def test_a_source_seal_by_the_resumes_own_key_that_fails_is_an_altered_source_not_the_wrong_key(
    svc: Services,  # noqa: F811
    keys,
    tmp_path: Path,
) -> None:
    """A bit of the source's seal flipped and re-chained read E705 "resume with the key the run started with",
    unrecorded, for ever (the regression hunt, stop 71): it is E605, recorded."""
    mine, _, _ = keys
    source = certify_edit(_request("int8ish"), dataclasses.replace(svc, signer=mine))
    killed = _killed_after(svc, mine, ev.GuardBaselineReused)

    def flip_seal(records: Records) -> Records:
        seal = decoded(records[-1])
        raw = bytearray(base64.b64decode(seal.signature))
        raw[0] ^= 1  # still 64 bytes of an Ed25519 signature, by no key
        signature = base64.b64encode(bytes(raw)).decode()
        return [*records[:-1], with_event(records[-1], msgspec.structs.replace(seal, signature=signature))]

    rewrite(tmp_path / "events.duckdb", source.run_id, flip_seal, link=True)
    with pytest.raises(IntegrityError) as raised:
        resume_run(killed, dataclasses.replace(svc, signer=mine))
    assert raised.value.code == "E605"
    assert svc.store.read(killed)[-1].type == "run_failed"
