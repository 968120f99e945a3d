"""`invarlock calibrate --resume`: a suite stopped in a case goes on where it stopped, scoring nothing again.

A case whose certificate is already in --out keeps it, once the store replays that very certificate from a run
that recorded this case's inputs (E605 otherwise), and the suite's model, loaded once for all such cases, still
has the fingerprint that run recorded (its weights changed at the same path since would mix two models' figures
in one table). The first case without one continues its own run when the store
holds it, started after the cases before it with the same recorded inputs: an incomplete run is resumed as
`certify --resume` resumes it, a completed one (stopped before its certificate was written) gives its certificate.
Any other case is certified anew.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError, InvarlockError, UsageError
from invarlock.domain.model import ModelIdentity
from invarlock.domain.run_query import RunQuery

from ..certification.certify import CertifyOutcome, CertifyRequest, certify_edit, resume_run
from ..certification.input_steps import load_model
from ..certification.issuing import awaits_seal
from ..certification.model_identity import checked_identity
from ..certification.run_request import policy_for, started_event
from ..certification.scoring_mode import with_scoring_mode
from ..replay.replay import CheckedRun, check_run, replay_certificate
from ..services import Services
from .calibration import CalibrationCase


def recorded_start(req: CertifyRequest, svc: Services) -> ev.RunStarted:
    """The run_started a new run of `req` would record now (its run id and clock aside)."""
    return started_event(with_scoring_mode(req, svc), policy_for(req), "", svc)


def start_difference(started: ev.RunStarted, expected: ev.RunStarted) -> str | None:
    """What a recorded run_started has other than `expected` (command, version, policy, a config key), or None."""
    if started.command != expected.command:
        return f"it was recorded by `invarlock {started.command}`"
    if started.tool_version != expected.tool_version:
        return f"it was recorded by invarlock {started.tool_version}, this is {expected.tool_version}"
    if started.policy_digest != expected.policy_digest:
        return "its policy differs from the suite's tier, profile and guard settings"
    keys = sorted(set(started.config) | set(expected.config))
    differ = next((k for k in keys if started.config.get(k) != expected.config.get(k)), None)
    return None if differ is None else f"its config's {differ} differs from the case's"


@dataclass
class Resumption:
    """The outcome of each case of a resumed suite, in suite order (calibration.run_suite's `outcome_of`).

    `certified`: the certificates --out holds, by case name. `after`: when the latest case's run started; a
    stopped case's run started after it. `anew`: a case was certified anew, so no later case has a run to go on
    with (none started after it)."""

    svc: Services
    certified: Mapping[str, c.Certificate]
    after: str = ""
    anew: bool = False
    model_now: ModelIdentity | None = None

    def __call__(self, case: CalibrationCase, req: CertifyRequest) -> CertifyOutcome:
        expected = recorded_start(req, self.svc)
        kept = self.certified.get(case.name)
        if kept is not None:
            outcome = _kept(case.name, kept, expected, self.svc)
            self._require_same_model(case.name, req, outcome.run_id)
        else:
            outcome = (None if self.anew else self._continued(case.name, req, expected)) or self._new(case, req)
        self.after = outcome.certificate.provenance.started_at
        return outcome

    def _require_same_model(self, case: str, req: CertifyRequest, run_id: str) -> None:
        """E605 when the suite's model is not the one `run_id` fingerprinted. The subjects are edits of it (or
        itself), made by the same recorded tool version, so its fingerprint stands for both models."""
        recorded = check_run(self.svc.store.read(run_id)).state
        if self.model_now is None:
            cfg = req.config.model
            model = load_model(cfg, req.config.eval.batch_size, self.svc)
            self.model_now = checked_identity(model.identity(), cfg, recorded.started.environment)
            del model
            gc.collect()  # a model's module holds reference cycles: free it before the next case loads one
        if recorded.models["baseline"].identity != self.model_now:
            raise IntegrityError(
                "E605",
                f"{req.config.model.id} is not the model case {case}'s run {run_id} scored: its fingerprint changed",
                "restore the model the suite ran with, or run the suite again with another --out",
            )

    def _new(self, case: CalibrationCase, req: CertifyRequest) -> CertifyOutcome:
        if not self.certified and not self.after:  # a mistyped --out or --events would run the whole suite again
            raise UsageError(
                "E404",
                f"nothing of this suite to resume: no case certificate in --out and no run of case {case.name}",
                "give the --out and --events the suite ran with, or run it without --resume",
            )
        self.anew = True
        return certify_edit(req, self.svc)

    def _continued(self, case: str, req: CertifyRequest, expected: ev.RunStarted) -> CertifyOutcome | None:
        for checked in self._runs_after():
            if checked.state.failed is not None or start_difference(checked.state.started, expected) is not None:
                continue
            run_id = checked.state.started.run_id
            if checked.certificate is not None and not awaits_seal(checked.state):
                self._require_same_model(case, req, run_id)
                return CertifyOutcome(run_id=run_id, certificate=checked.certificate)
            return resume_run(run_id, self.svc)
        return None

    def _runs_after(self) -> Iterator[CheckedRun]:
        """Calibration runs started after `after`, latest first; a stream that does not check is no candidate."""
        found = []
        for run_id in self._calibration_run_ids():
            try:
                checked = check_run(self.svc.store.read(run_id))
            except InvarlockError:
                continue
            started = checked.state.started
            if started.command == "calibrate" and started.started_at > self.after:
                found.append(checked)
        yield from sorted(found, key=lambda r: r.state.started.started_at, reverse=True)

    def _calibration_run_ids(self) -> list[str]:
        """Every stream, or with a run index only calibration runs it lists as started after `after` and not failed
        (each is still read and checked: the index only narrows what is read)."""
        if self.svc.index is None:
            return self.svc.store.run_ids()
        entries, _ = self.svc.index.indexed_runs(RunQuery())
        return [
            e.run.run_id
            for e in entries
            if e.run.command == "calibrate" and e.run.status != "failed" and (e.run.started_at or "") > self.after
        ]


def _started(record: ev.RecordedEvent) -> ev.RunStarted:
    started = ev.decode_event(record.type, record.version, record.payload)
    assert isinstance(started, ev.RunStarted), "a certified or resumed run's stream starts with run_started"
    return started


def _kept(case: str, cert: c.Certificate, expected: ev.RunStarted, svc: Services) -> CertifyOutcome:
    """The certificate --out holds for `case`, once the store replays it from a run of the case's inputs."""
    not_recorded = IntegrityError(
        "E605",
        f"--out's certificate of case {case} is not the one run {cert.run_id} recorded in this store",
        "resume with the --events the suite ran with, or run the suite again with another --out",
    )
    try:
        replayed = replay_certificate(svc.store, cert.run_id)
    except UsageError as exc:  # E404: no such run here (another store's certificate)
        if exc.code != "E404":
            raise
        raise not_recorded from exc
    if c.to_bytes(replayed) != c.to_bytes(cert):  # every field: an edited file kept its digest (the tools hunt)
        raise not_recorded
    why = start_difference(_started(svc.store.read(cert.run_id)[0]), expected)
    if why is not None:
        raise IntegrityError(
            "E605",
            f"--out's certificate of case {case} (run {cert.run_id}) is not of this suite's case: {why}",
            "resume with the --suite, --tier and --profile it ran with, or run the suite again with another --out",
        )
    return CertifyOutcome(run_id=cert.run_id, certificate=replayed)
