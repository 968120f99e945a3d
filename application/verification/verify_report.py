"""The outcome of verify: named checks, the exit code they give, and what verify proves and what it trusts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
from invarlock.domain.errors import EXIT_GATES_FAILED, EXIT_INTEGRITY, EXIT_OK

# Free-form JSON of the wrong shape (recorded policy overrides, the run config) raises one of these when read.
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError)

RECOMPUTED = (
    "every statistic of the primary metric's kind (perplexities, deltas and ratios; accuracies, their difference "
    "and agreement; mean and min cosine), its bootstrap interval, drift, pairing, and the secondary metrics (KL "
    "divergence and top-1 agreement with their intervals and quantiles)",
    "every gate flag and the verdict, under the certificate's policy and under yours (--tier/--policy)",
    "every digest: certificate, policy (and that the policy is its tier plus the listed overrides), window plan, "
    "edit plan",
    "every guard outcome, from the guard's recorded measurements and checks, whose rows must be whole (each weight "
    "once and in a known family, the same matrices in both weight guards, every invariants check of each phase)",
    "the window counts, token counts, status and seeds, against the evidence and the plan",
    "the run id, times, seeds, seq_len, stride, metric and edit, against the event log reference and the run's config",
)
TRUSTED = (
    "per-window NLL sums (evidence baseline_nll/subject_nll, guard_overhead.bare_subject_nll)",
    "per-window paired measures (evidence comparisons: KL sums, maxima and histograms, top-1/top-5 counts; "
    "embedding cosines; gold labels and both models' predictions)",
    "guard measurements (per-matrix spectra, variance taps, invariants checks)",
    "weight, tokenizer and config digests of both models, and the window content digests",
)
TRUSTED_HOW = (
    "checkable only by re-executing the models: invarlock verify CERT --baseline B --subject S (every metric kind: "
    "NLL sums where the evidence has them, and every paired measure: KL/top-1, cosines, labels and predictions)"
)


def dig(value: Any, *keys: str) -> Any:
    """value[k1][k2]... of free-form JSON, None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


class Proves(msgspec.Struct, frozen=True, kw_only=True):
    """What plain verify recomputes, which inputs it takes on trust, and how those are checked instead."""

    recomputed: tuple[str, ...]
    trusted_inputs: tuple[str, ...]
    trusted_inputs_check: str


def proves() -> Proves:
    """What plain verify recomputes and which inputs it takes on trust (for the human output and --json)."""
    return Proves(recomputed=RECOMPUTED, trusted_inputs=TRUSTED, trusted_inputs_check=TRUSTED_HOW)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    integrity: bool = True


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)
    verdict: str | None = None

    @property
    def ok(self) -> bool:
        return all(ch.ok for ch in self.checks)

    @property
    def exit_code(self) -> int:
        if any(not ch.ok and ch.integrity for ch in self.checks):
            return EXIT_INTEGRITY
        return EXIT_GATES_FAILED if self.verdict != "PASS" or not self.ok else EXIT_OK

    def add(self, name: str, ok: bool, detail: str, integrity: bool = True) -> bool:
        self.checks.append(Check(name, ok, detail, integrity))
        return ok


def diff(stated: Any, recomputed: Any, path: str) -> str | None:
    """First difference between two plain values; floats too must match bit for bit (JSON keeps every bit)."""
    if isinstance(stated, dict) and isinstance(recomputed, dict):
        if stated.keys() != recomputed.keys():
            return path
        return next((d for k in stated if (d := diff(stated[k], recomputed[k], f"{path}.{k}"))), None)
    if isinstance(stated, list) and isinstance(recomputed, list):
        if len(stated) != len(recomputed):
            return path
        return next(
            (d for i, (a, b) in enumerate(zip(stated, recomputed, strict=True)) if (d := diff(a, b, f"{path}[{i}]"))),
            None,
        )
    return None if stated == recomputed and type(stated) is type(recomputed) else path


def compare(report: VerifyReport, name: str, stated: Any, recomputed: Any) -> bool:
    """One check: the stated section equals the recomputed one exactly."""
    where = diff(msgspec.to_builtins(stated), msgspec.to_builtins(recomputed), name)
    return report.add(name, where is None, "recomputed from evidence" if where is None else f"mismatch at {where}")
