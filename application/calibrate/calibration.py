"""calibrate: run a named suite of edits on one model through the real certify use case and tabulate what
every guard said (docs/assurance/guards.md §6). Benign edits must fail no guard and no gate; each harmful edit must be
flagged by the guard named for it, naming its matrix."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

import msgspec
from invarlock.domain.errors import UsageError
from invarlock.ports.loader import MatrixNames

from ..certification.certify import CertifyOutcome, CertifyRequest, certify_edit
from ..certification.preflight import INPUT_CHECKS, REQUEST_CHECKS, preflight_of, run_checks
from ..config import DEMO_MODEL, DatasetConfig, EditConfig, GuardsConfig, ModelConfig, RunConfig
from ..config_checks import check_semantics, refuse_unread_dataset_keys
from ..config_messages import plain
from ..services import Services
from .calibration_rows import CaseRow, case_row

KINDS = ("benign", "harmful", "reported")


class CalibrationCase(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One edit of the suite. `edit: null` certifies the model against itself (the identical subject)."""

    name: str
    kind: str
    edit: EditConfig | None = None
    matrix: str | None = None
    flagged_by: list[str] = []


class CalibrationSuite(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The model, data, guard settings, tier and profile every case runs with, and the cases."""

    model: ModelConfig = ModelConfig()
    dataset: DatasetConfig = DatasetConfig(preview_n=30, final_n=60, calibration_n=8)
    guards: GuardsConfig = GuardsConfig(spectral={"mode": "gate"}, rmt={"mode": "gate"}, variance={"mode": "gate"})
    tier: str = "balanced"
    profile: str = "dev"
    cases: list[CalibrationCase]


def _block(i: int, leaf: str) -> str:
    return f"model.layers.{i}.{leaf}.weight"


def _weight_of(plan: dict[str, object]) -> str | None:
    weight = plan.get("weight")
    return weight if isinstance(weight, str) else None


def _case(name: str, kind: str, edit: str | None, plan: dict[str, object], flagged_by: list[str]) -> CalibrationCase:
    return CalibrationCase(
        name=name,
        kind=kind,
        edit=None if edit is None else EditConfig(name=edit, plan=plan),
        matrix=_weight_of(plan),
        flagged_by=flagged_by,
    )


# The suite of docs/assurance/guards.md §6 on the demo model (SmolLM2-135M: 30 LLaMA blocks). Middle block 15 for the
# attention and FFN edits; the last block's down-projection for the VE case, where x0.9 moves the PPL most.
DEMO_SUITE = CalibrationSuite(
    model=ModelConfig(id=DEMO_MODEL),
    cases=[
        _case("identical", "benign", None, {}, []),
        _case("int8", "benign", "quant_rtn", {"bits": 8, "scope": "all"}, []),
        _case(
            "attn_scale3",
            "harmful",
            "scale_weight",
            {"weight": _block(15, "self_attn.o_proj"), "factor": 3.0},
            ["spectral"],
        ),
        _case(
            "ffn_scale1.5",
            "harmful",
            "scale_weight",
            {"weight": _block(15, "mlp.down_proj"), "factor": 1.5},
            ["spectral"],
        ),
        _case(
            "top8_removed",
            "harmful",
            "remove_top_singular",
            {"weight": _block(15, "self_attn.k_proj"), "k": 8},
            ["spectral", "rmt"],
        ),
        _case(
            "down_scale0.9",
            "harmful",
            "scale_weight",
            {"weight": _block(29, "mlp.down_proj"), "factor": 0.9},
            ["variance"],
        ),
        _case(
            "noise10",
            "reported",
            "gaussian_noise",
            {"weight": _block(15, "mlp.up_proj"), "rms_fraction": 0.1, "seed": 0},
            [],
        ),
    ],
)


def parse_suite(data: Any, *, source: str) -> CalibrationSuite:
    """Validate a decoded suite file. Raises UsageError E201 naming the file and the problem."""
    _check_top(data, source)
    try:
        suite = msgspec.convert(data, CalibrationSuite)
    except msgspec.ValidationError as exc:
        said = plain(str(exc))
        message = said[0] if said is not None else _unknown_key(str(exc))
        raise UsageError("E201", f"{source}: {message}", _FORMAT) from exc
    if not suite.cases:  # nothing would be certified, and an empty table would exit 0 as if every case met its mark
        raise UsageError("E201", f"{source}: the suite lists no cases", "add at least one case under cases:")
    _check_names([case.name for case in suite.cases], source)
    for case in suite.cases:
        config = _case_config(suite, case)
        check_semantics(config, f"{source}: case {case.name}")
        refuse_unread_dataset_keys(config.dataset, f"{source}: case {case.name}")
        if case.kind not in KINDS:
            raise UsageError("E201", f"{source}: case {case.name} has kind {case.kind!r}", f"use {', '.join(KINDS)}")
        if case.kind == "harmful" and (not case.flagged_by or case.matrix is None):
            raise UsageError("E201", f"{source}: harmful case {case.name} needs flagged_by and matrix", "add them")
        _check_expectations(suite, case, source)
    return suite


_FORMAT = "see the suite format in docs/user-guide.md (invarlock calibrate)"


def _check_top(data: Any, source: str) -> None:
    """msgspec's words for the file as a whole ("Expected `object`, got `array`") said in a suite's terms."""
    if not isinstance(data, dict):
        what = "empty" if data is None else "a list" if isinstance(data, list) else "a single value"
        message = (
            f"{source}: a suite is a mapping of keys (cases, and model, dataset, guards, tier, profile), not {what}"
        )
        raise UsageError("E201", message, _FORMAT)
    if "cases" not in data:
        raise UsageError("E201", f"{source}: the suite has no cases: key", f"list its edits under cases:; {_FORMAT}")


_UNKNOWN = re.compile(r"Object contains unknown field `(?P<key>[^`]*)`(?: - at `\$\.?(?P<path>[^`]*)`)?")


def _unknown_key(text: str) -> str:
    """msgspec's unknown-field text as the key it names (at the top, with the keys a suite takes)."""
    found = _UNKNOWN.match(text)
    if found is None:
        return text
    if found["path"]:
        return f"unknown key '{found['path']}.{found['key']}'"
    return f"unknown key {found['key']!r} (a suite takes model, dataset, guards, tier, profile and cases)"


MAX_CASE_NAME_BYTES = 255  # the longest file name Linux and macOS file systems take
TABLE_FILES = ("calibration.json", "calibration.md")  # beside the cases' folders in --out


def _check_names(names: list[str], source: str) -> None:
    """Each case's certificate goes to the folder <--out>/<name>: a name is one plain folder name, used once."""
    for name in names:
        too_long = len(name.encode("utf-8")) > MAX_CASE_NAME_BYTES  # the case's folder name (NAME_MAX)
        if name in ("", ".", "..") or any(c in name for c in "/\\\0") or not name.isprintable() or too_long:
            hint = "use e.g. int8 or attn_scale3"
            raise UsageError("E201", f"{source}: case name {name!r} is not a folder name", hint)
    folded = [name.casefold() for name in names]  # int8 and INT8 are one folder on macOS and Windows
    table = next((name for name, key in zip(names, folded, strict=True) if key in TABLE_FILES), None)
    if table is not None:  # its folder took the table's place: every case scored, then no table (the tools hunt)
        raise UsageError("E201", f"{source}: case name {table!r} is the calibration table's file", "rename the case")
    repeated = sorted({name for name, key in zip(names, folded, strict=True) if folded.count(key) > 1})
    if repeated:
        raise UsageError("E201", f"{source}: case name {repeated[0]!r} is used twice", "give each case its own name")


def _check_expectations(suite: CalibrationSuite, case: CalibrationCase, source: str) -> None:
    """flagged_by names guards of the chain that can flag a matrix, and only a harmful case has it: a misspelt
    or idle guard would otherwise be found only as an unmet expectation after every case is scored."""
    guards = [g for g in suite.guards.order if g != "invariants"]
    unknown = [g for g in case.flagged_by if g not in guards]
    if unknown:
        message = f"{source}: case {case.name} flagged_by names {unknown[0]!r}, not a guard of the chain"
        raise UsageError("E201", message, f"use one of {', '.join(guards) or 'the guards in guards.order'}")
    if case.flagged_by and case.kind != "harmful":
        message = f"{source}: {case.kind} case {case.name} has flagged_by, which only a harmful case uses"
        raise UsageError("E201", message, "remove flagged_by or make the case harmful")


def _case_config(suite: CalibrationSuite, case: CalibrationCase) -> RunConfig:
    return RunConfig(model=suite.model, dataset=suite.dataset, edit=case.edit, guards=suite.guards)


def case_request(suite: CalibrationSuite, case: CalibrationCase) -> CertifyRequest:
    """The certify request of one case: the suite's model, data, guards, tier and profile with the case's edit."""
    subject = suite.model if case.edit is None else None
    cfg = _case_config(suite, case)
    return CertifyRequest(command="calibrate", config=cfg, subject=subject, tier=suite.tier, profile=suite.profile)


def check_requests(suite: CalibrationSuite, svc: Services, source: str) -> None:
    """The tier, profile and every case's edit, plan and the weights it names (E202, E204), before any case is
    certified: a bad last case would otherwise stop the suite after the others were scored. Edit errors name the
    file and case."""
    once = tuple(check for check in REQUEST_CHECKS if check[0] != "edit")  # the suite's, the same for every case
    per_case = tuple(check for check in (*REQUEST_CHECKS, *INPUT_CHECKS) if check[0] in ("edit", "weights"))
    try:
        run_checks(preflight_of(case_request(suite, suite.cases[0]), svc), once, stop=True)
    except UsageError as exc:  # the suite's tier and profile: name the file
        raise exc.within(source) from exc
    for case in suite.cases:
        try:
            run_checks(preflight_of(case_request(suite, case), svc), per_case, stop=True)
        except UsageError as exc:
            raise exc.within(f"{source}: case {case.name}") from exc
    _check_matrices(suite, svc, source)


def _check_matrices(suite: CalibrationSuite, svc: Services, source: str) -> None:
    """Each case's `matrix` is a 2-D parameter of the model (E201), when the loader tells them without the weights:
    a misspelt one read, after the case was scored, as its guard not flagging it."""
    named = [case for case in suite.cases if case.matrix is not None]
    if not named or not isinstance(svc.loader, MatrixNames):
        return
    names = svc.loader.matrix_names(suite.model.id, adapter=suite.model.adapter)
    if names is None:
        return
    for case in named:
        if case.matrix not in names:
            close = difflib.get_close_matches(str(case.matrix), names, n=3)
            raise UsageError(
                "E201",
                f"{source}: case {case.name}: matrix {case.matrix!r} is not a 2-D parameter of {suite.model.id}",
                f"did you mean {', '.join(close)}?" if close else "name one of the model's weight matrices",
            )


CaseOutcome = Callable[[CalibrationCase, CertifyRequest], CertifyOutcome]


def run_suite(
    suite: CalibrationSuite,
    svc: Services,
    on_case: Callable[[CaseRow, CertifyOutcome], None] | None = None,
    *,
    source: str = "the suite",
    outcome_of: CaseOutcome | None = None,
) -> list[CaseRow]:
    """Certify every case (each its own recorded run), after checking every case's request (check_requests),
    and return one table row per case; `on_case(row, outcome)` sees each case as soon as it is certified.
    `outcome_of(case, request)` gives a case's outcome instead of a new run (calibration_resume)."""
    check_requests(suite, svc, source)
    certify = outcome_of or (lambda _case, req: certify_edit(req, svc))
    rows = []
    for case in suite.cases:
        outcome = certify(case, case_request(suite, case))
        rows.append(case_row(case.name, case.kind, case.matrix, case.flagged_by, outcome))
        if on_case is not None:
            on_case(rows[-1], outcome)
    return rows


def problems(rows: list[CaseRow]) -> list[str]:
    """Where the suite contradicts its expectations: a benign case failing a guard or gate, a harmful case
    its named guard did not flag (by matrix name)."""
    out = []
    for row in rows:
        if row.kind == "benign":
            failing = [g for g, s in row.guards.items() if s.verdict != "pass"]
            if failing or row.verdict != "PASS":
                out.append(f"benign {row.case}: verdict {row.verdict}, guards failing: {failing or 'none'}")
        if row.kind == "harmful":
            missed = [g for g in row.flagged_by if g not in row.guards or row.matrix not in row.guards[g].flagged]
            if missed:
                out.append(f"harmful {row.case}: {', '.join(missed)} did not flag {row.matrix}")
    return out
