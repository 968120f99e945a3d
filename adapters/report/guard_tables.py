"""The guards of a certificate as plain tables: each guard's summary and phases, a measured guard's families,
violations and top matrices, and the guard overhead."""

from __future__ import annotations

from typing import Any

from invarlock.domain import certificate as c

from .cells import cell
from .figures import Table
from .layout import guard_sections
from .sections import kv_table, rows_table


def _checks_table(guard: str, phase: str, checks: Any) -> Table:
    rows = [ch for ch in checks if isinstance(ch, dict)] if isinstance(checks, list) else []
    headers = sorted({key for row in rows for key in row})
    return Table(f"{guard} · {phase} checks", headers, [[cell(row.get(h)) for h in headers] for row in rows])


_MEASURED_TABLES = ("violations", "top", "ab")


def _measured_tables(guard: str, section: dict[str, Any]) -> list[Table]:
    """A measured guard: summary, per-family table, violations, the matrices it could not measure (and the top
    matrices / VE scales)."""
    skip = {"measurements", "families", "scales", *_MEASURED_TABLES}
    measurements = section.get("measurements", {})
    count = sum(len(v) for k, v in measurements.items() if isinstance(v, list) and k != "not_applicable")
    summary = [(k, v) for k, v in sorted(section.items()) if k not in skip]
    summary.append(("recorded measurements", f"{count} rows (in the certificate, re-derived by verify)"))
    families = section.get("families")
    family_rows = [{"family": f, **v} for f, v in sorted(families.items())] if isinstance(families, dict) else []
    tables = [kv_table(f"Guard {guard}", summary)]
    if family_rows:
        tables.append(rows_table(f"{guard} · per family", family_rows))
    tables.append(rows_table(f"{guard} · violations", section.get("violations")))
    if measurements.get("not_applicable"):
        tables.append(
            rows_table(f"{guard} · not applicable (matrices a model cannot map)", measurements["not_applicable"])
        )
    if guard == "spectral":
        tables.append(rows_table("spectral · top matrices by |z|", section.get("top")))
    if guard == "variance":
        scales = [r for r in section.get("scales", []) if isinstance(r, dict) and r.get("kept")]
        tables.append(rows_table("variance · proposed scales", scales))
        tables.append(kv_table("variance · A/B gate", sorted((section.get("ab") or {}).items())))
    return tables


def guard_tables(cert: c.Certificate) -> list[Table]:
    """Per guard: its mode/verdict/other summary fields, then each phase's verdict and checks table
    (measured guards: summary, per-family table, violations)."""
    tables: list[Table] = []
    for guard, section in sorted(guard_sections(cert).items()):
        if "measurements" in section:
            tables += _measured_tables(guard, section)
            continue
        phases = section.get("phases")
        phases = sorted(phases.items()) if isinstance(phases, dict) else []
        summary = [(k, v) for k, v in sorted(section.items()) if k != "phases"]
        summary += [(f"phase {name}", _phase_verdict(ph)) for name, ph in phases]
        tables.append(kv_table(f"Guard {guard}", summary))
        for name, phase in phases:
            if isinstance(phase, dict):
                tables.append(_checks_table(guard, name, phase.get("checks")))
    if cert.guard_overhead is not None:
        o = cert.guard_overhead
        tables.append(
            kv_table(
                "Guard overhead (PPL guarded / bare, final arm)",
                [
                    ("ratio", o.ratio),
                    ("limit", o.limit),
                    ("bare PPL", o.bare_ppl),
                    ("guarded PPL", o.guarded_ppl),
                    ("repaired weights", ", ".join(o.repaired_weights)),
                ],
            )
        )
    return tables


def _phase_verdict(phase: Any) -> str:
    if not isinstance(phase, dict):
        return str(cell(phase))
    return f"{cell(phase.get('verdict'))} ({cell(phase.get('seconds'))} s)"
