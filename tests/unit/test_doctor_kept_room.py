"""The doctor's `holding` check on recorded-state fakes: a run that holds one model at a time and measures KL and
top-1 agreement keeps the baseline's final hidden states in the temporary folder; the doctor states their size
there (preview and final tokens × the stated hidden size × the dtype's bytes) and warns (D917) where they and the
256 MiB left beside them do not fit, as the run would stop with E608 once the baseline is loaded."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest
from invarlock.application.config import ModelConfig
from invarlock.application.doctor.diagnose import DoctorDeps, DoctorRequest, diagnose
from invarlock.application.services import Services
from invarlock.domain import diagnostics as d
from invarlock.domain.doctor_report import DoctorReport
from invarlock.domain.policy import PREFLIGHT_MIN_FREE_BYTES

from tests.fakes.loaders import HoldingLoader
from tests.fakes.system import FakeSystemProbe
from tests.unit.conftest import small_config

HIDDEN = 64
# small_config: 8 preview and 12 final windows of 32 tokens; the calibration arm is not kept
KEPT_BYTES = (8 + 12) * 32 * HIDDEN * 4


@dataclass
class ShapedLoader(HoldingLoader):
    """A HoldingLoader that also states each reference's shape settings (ports.loader.ShapeSettings)."""

    shapes: dict[str, dict[str, int]] = field(default_factory=dict)

    def shape_settings(self, ref: str, *, adapter: str) -> dict[str, int] | None:
        self._require(ref)
        return self.shapes.get(ref)


def _request(*, sequential: bool | None = True, measure: bool | None = None, dtype: str = "float32") -> CertifyRequest:
    cfg = small_config()
    secondary = msgspec.structs.replace(cfg.eval.secondary, measure=measure)
    cfg = msgspec.structs.replace(
        cfg,
        model=msgspec.structs.replace(cfg.model, dtype=dtype),
        eval=msgspec.structs.replace(cfg.eval, sequential=sequential, secondary=secondary),
    )
    return CertifyRequest(
        command="certify", config=cfg, subject=ModelConfig(id="int8ish"), tier="balanced", profile="dev"
    )


def _diagnose(req: CertifyRequest, svc: Services, probe: FakeSystemProbe, shapes: dict[str, int]) -> DoctorReport:
    loader = ShapedLoader(models=svc.loader.models, shapes={"base": shapes, "int8ish": shapes})  # type: ignore[attr-defined]
    deps = DoctorDeps(
        loader=loader,
        corpora=svc.corpora,
        probe=probe,
        edit_names=lambda: list(svc.edits),
        edit_of=svc.edits.__getitem__,
    )
    return diagnose(DoctorRequest(request=req, source="case.yaml", events="ev.duckdb", config_error=None), deps)


def _holding(report: DoctorReport) -> list[d.Finding]:
    return [f for f in report.findings if f.check == "holding"]


def test_with_room_the_note_states_the_kept_size_and_the_free_space(services: Services) -> None:
    probe = FakeSystemProbe(temp="/scratch/tmp", free_in_temp=2**30)
    [note] = _holding(_diagnose(_request(), services, probe, {"hidden_size": HIDDEN}))
    assert note.severity == "note" and note.code == d.D_HOLDING
    assert note.message == (
        "the run holds one model at a time (eval.sequential: true); the baseline's kept hidden states take "
        f"{KEPT_BYTES / 2**20:,.0f} MiB in /scratch/tmp (1,024 MiB free)"
    )


@pytest.mark.parametrize(("dtype", "width"), [("float32", 4), ("bfloat16", 2), ("float16", 2)])
def test_too_little_room_is_a_d917_warning_with_the_sizes_and_the_ways_out(
    services: Services, dtype: str, width: int
) -> None:
    need = KEPT_BYTES // 4 * width
    free = need + PREFLIGHT_MIN_FREE_BYTES - 1  # one byte short of the states and what is left beside them
    probe = FakeSystemProbe(free_in_temp=free)
    report = _diagnose(_request(dtype=dtype), services, probe, {"n_embd": HIDDEN})
    note, short = _holding(report)
    assert note.message == "the run holds one model at a time (eval.sequential: true)"
    assert (short.severity, short.code) == ("warning", d.D_KEPT_ROOM)
    assert f"take {need / 2**20:,.0f} MiB in /fake/tmp ({free / 2**20:,.0f} MiB free)" in short.message
    assert "256 MiB to be left beside them" in short.message and "E608" in short.message
    assert "TMPDIR" in short.hint and "--no-sequential" in short.hint
    assert report.resolution.exit_code == 0  # a warning: the run may still be started


def test_exactly_enough_room_is_no_warning(services: Services) -> None:
    probe = FakeSystemProbe(free_in_temp=KEPT_BYTES + PREFLIGHT_MIN_FREE_BYTES)
    [note] = _holding(_diagnose(_request(), services, probe, {"d_model": HIDDEN}))
    assert "kept hidden states take" in note.message


CASES = {
    "both models held": {"sequential": False},
    "no paired measures": {"measure": False},
}


@pytest.mark.parametrize("changes", CASES.values(), ids=CASES.keys())
def test_nothing_is_kept_so_nothing_is_sized(services: Services, changes: dict[str, object]) -> None:
    probe = FakeSystemProbe(free_in_temp=0)
    [note] = _holding(_diagnose(_request(**changes), services, probe, {"hidden_size": HIDDEN}))  # type: ignore[arg-type]
    assert "kept hidden states" not in note.message


def test_a_loader_that_states_no_hidden_size_is_not_sized(services: Services) -> None:
    probe = FakeSystemProbe(free_in_temp=0)
    [note] = _holding(_diagnose(_request(), services, probe, {"num_hidden_layers": 2}))
    assert note.message == "the run holds one model at a time (eval.sequential: true)"


def test_the_unset_default_held_alone_is_sized_too(services: Services) -> None:
    probe = FakeSystemProbe(free_in_temp=0)
    report = _diagnose(_request(sequential=None), services, probe, {"hidden_size": HIDDEN})
    note, short = _holding(report)
    assert "eval.sequential unset: recorded as true" in note.message and short.code == d.D_KEPT_ROOM
    assert report.summary.warnings == 1


def test_a_model_its_loader_cannot_hold_alone_is_e104_when_sequential_is_set(services: Services) -> None:
    """`eval.sequential: true` with windows too short to keep: the run stopped with E104 once the baseline was
    loaded and fingerprinted; the doctor says so before."""
    probe = FakeSystemProbe(temp="/scratch/tmp", free_in_temp=2**30)
    too_short = {"base": "windows of 16 tokens are too short"}
    loader = ShapedLoader(models=services.loader.models, obstacles=too_short, stops=too_short)  # type: ignore[attr-defined]
    deps = DoctorDeps(loader=loader, corpora=services.corpora, probe=probe, edit_names=lambda: list(services.edits))
    report = diagnose(DoctorRequest(request=_request(), source="c.yaml", events="ev.duckdb", config_error=None), deps)
    [error] = [f for f in report.findings if f.check == "sequential"]
    assert error.severity == "error" and error.code == "D104", error
    assert error.message == "eval.sequential: true, but base: windows of 16 tokens are too short"
    assert report.resolution.error_code == "E104"
    unset = diagnose(
        DoctorRequest(request=_request(sequential=None), source="c.yaml", events="e", config_error=None), deps
    )
    assert [f.severity for f in _holding(unset)] == ["note"]  # unset: both held, as the run then does


def test_what_only_the_default_avoids_is_no_error_when_sequential_is_set(services: Services) -> None:
    """A device where one model at a time was never measured makes an unset config hold both; a stated true runs
    one at a time there (the run does), so the doctor notes it and predicts no stop."""
    probe = FakeSystemProbe(temp="/scratch/tmp", free_in_temp=2**30)
    untried = {"base": "one model at a time was not yet measured on cuda"}
    loader = ShapedLoader(models=services.loader.models, obstacles=untried)  # type: ignore[attr-defined]
    deps = DoctorDeps(loader=loader, corpora=services.corpora, probe=probe, edit_names=lambda: list(services.edits))
    report = diagnose(DoctorRequest(request=_request(), source="c.yaml", events="ev.duckdb", config_error=None), deps)
    [note] = _holding(report)
    assert note.severity == "note" and "one model at a time (eval.sequential: true)" in note.message
    assert report.resolution.exit_code == 0 and report.resolution.error_code is None
