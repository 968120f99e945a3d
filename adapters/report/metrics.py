"""The primary metric of any kind, and the secondary metrics, as tables.

Columns follow the ArmMetric fields an arm states (perplexity, accuracy, cosine); a field this module has no
format for is still shown, under its own name.
"""

from __future__ import annotations

from collections.abc import Callable

from invarlock.domain import certificate as c

from .cells import Cell, Num, beside, cell, fixed, misread, num, percent, points
from .figures import Table, labelled_rows, plotted_arm
from .headline import headline

_FORMATS: dict[str, tuple[str, Callable[[float], Cell]]] = {
    "baseline_ppl": ("PPL baseline", num),
    "subject_ppl": ("PPL subject", num),
    "ratio": ("ratio", num),
    "delta_mean": ("mean ΔlogNLL", num),
    "baseline_accuracy": ("accuracy baseline", percent),
    "subject_accuracy": ("accuracy subject", percent),
    "delta_pp": ("Δ accuracy", points),
    "agreement": ("agreement with baseline", percent),
    "mean_cosine": ("mean cosine", lambda v: fixed(v, 5)),
    "min_cosine": ("min cosine", lambda v: fixed(v, 5)),
}
_COUNTS = ("windows", "tokens")


def _stated(pm: c.PrimaryMetric) -> list[str]:
    """The optional ArmMetric fields either arm states: known ones in table order, then any other."""
    arms = [a for a in (pm.preview, pm.final) if a is not None]
    others = [f for f in c.ArmMetric.__struct_fields__ if f not in _COUNTS and f not in _FORMATS]
    fields = [*_FORMATS, *others]
    return [f for f in fields if any(getattr(a, f) is not None for a in arms)]


def _arm_row(name: str, arm: c.ArmMetric | None, fields: list[str]) -> list[Cell]:
    if arm is None:
        return [name, *(["—"] * (1 + len(fields))), "— (not scored: rolled back)"]
    values = [getattr(arm, f) for f in fields]
    shown = [_FORMATS.get(f, (f, cell))[1](v) if v is not None else "—" for f, v in zip(fields, values, strict=True)]
    return [name, str(arm.windows), str(arm.tokens), *shown]


def arms_table(cert: c.Certificate) -> Table:
    """Preview vs final: windows, tokens and every statistic the arms state."""
    pm = cert.primary_metric
    fields = _stated(pm)
    headers = ["arm", "windows", "tokens", *(_FORMATS.get(f, (f, cell))[0] for f in fields)]
    return Table(
        "Preview vs final", headers, [_arm_row("preview", pm.preview, fields), _arm_row("final", pm.final, fields)]
    )


def _interval(pair: tuple[float, float] | None, fmt: Callable[[float], Cell]) -> Cell:
    return "—" if pair is None else Num(f"[{fmt(pair[0])}, {fmt(pair[1])}]", f"[{pair[0]!r}, {pair[1]!r}]")


def _apart(fmt: Callable[[float], Cell], limit: float | None) -> Callable[[float], Cell]:
    """`fmt`, with more digits where its rounding would put a value on another side of the limit."""

    def shown(value: float) -> Cell:
        done = fmt(value)
        head = str(done).split(" ", 1)[0]
        try:
            reads_as_limit = limit is not None and misread(float(head), value, limit)
        except ValueError:
            return done
        return num(value, str(done).replace(head, beside(value, limit), 1)) if reads_as_limit else done

    return shown


def headline_table(cert: c.Certificate) -> Table:
    """The gated statistic, its intervals, drift and the bootstrap that drew them; intervals and drift of a
    non-ratio kind in its headline's unit (pp, cosine)."""
    pm, boot, top = cert.primary_metric, cert.bootstrap, headline(cert)
    field = top.field
    ratio = field == "ratio" or field is None
    base = num if ratio or field not in _FORMATS else _FORMATS[str(field)][1]
    fmt = _apart(base, top.limit)  # the display CI is what is compared with the limit
    drift: Cell = cell(pm.drift) if ratio or pm.drift is None else base(pm.drift)
    rows: list[list[Cell]] = [
        ["ratio vs baseline", cell(pm.ratio_vs_baseline)],
        ["CI (ratio)" if ratio else f"CI ({pm.unit})", _interval(pm.display_ci, fmt)],
        ["CI (log space)" if ratio else "CI (gated statistic)", _interval(pm.ci, base)],
        ["CI approximate", cell(pm.ci_approximate)],
        ["drift (final/preview)" if ratio else "drift (final − preview)", drift],
        ["gating basis", pm.gating_basis],
        ["bootstrap", f"{boot.method}, {boot.replicates} replicates, alpha {boot.alpha}, seed {boot.seed}"],
        ["bootstrap generator", f"{boot.generator} key {boot.key}"],
    ]
    return Table(f"Primary metric ({pm.kind}, {pm.unit}, {pm.direction})", [], rows)


def metric_tables(cert: c.Certificate) -> list[Table]:
    """Preview vs final, the headline statistic, and the secondary metrics when the certificate has them."""
    tables = [arms_table(cert), headline_table(cert)]
    if cert.secondary_metrics is not None:
        tables.append(secondary_table(cert.secondary_metrics, cert.policy.resolved.get("secondary")))
    paired = paired_outcomes(cert)
    if paired is not None:
        tables.append(paired)
    return tables


def secondary_table(sm: c.SecondaryMetrics, gates: object = None) -> Table:
    """KL(baseline ‖ subject) per token (mean with CI, quantiles, max), top-1 agreement with CI, top-5 overlap; the
    intervals with the digits that tell them from the policy's `gates` (a KL bound of 0.0200004 read as 0.02)."""
    kl, top = sm.kl_divergence, sm.top1_agreement
    limits = gates if isinstance(gates, dict) else {}
    kl_fmt = _apart(num, _limit(limits.get("kl_mean_upper_limit")))
    top_fmt = _apart(percent, _limit(limits.get("top1_lower_limit")))
    rows: list[list[Cell]] = [
        ["KL mean (nats/token)", num(kl.mean), _interval(kl.ci, kl_fmt), str(kl.tokens)],
        ["KL median", num(kl.median), "—", str(kl.tokens)],
        ["KL p90", num(kl.p90), "—", str(kl.tokens)],
        ["KL p99", num(kl.p99), "—", str(kl.tokens)],
        ["KL max", num(kl.max), "—", str(kl.tokens)],
        ["top-1 agreement", percent(top.top1), _interval(top.ci, top_fmt), str(top.tokens)],
        ["top-5 overlap", percent(top.top5_overlap), "—", str(top.tokens)],
        ["KL quantile rule", sm.quantile_rule, "", ""],
    ]
    title = f"Secondary metrics ({sm.arm} arm)"
    return Table(title, ["measure", "value", "CI", "tokens"], rows)


def _limit(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def paired_outcomes(cert: c.Certificate) -> Table | None:
    """Per-example correctness of baseline and subject, counted (accuracy kinds); None without labels."""
    rows = labelled_rows(plotted_arm(cert)[1])
    if not rows:
        return None
    counts = {(b, s): 0 for b in (True, False) for s in (True, False)}
    for r in rows:
        counts[(r.baseline_pred == r.label, r.subject_pred == r.label)] += 1
    agree = sum(r.baseline_pred == r.subject_pred for r in rows)
    body: list[list[Cell]] = [
        ["baseline correct", str(counts[(True, True)]), str(counts[(True, False)])],
        ["baseline wrong", str(counts[(False, True)]), str(counts[(False, False)])],
    ]
    title = f"Paired outcomes ({len(rows)} examples, predictions agree on {agree})"
    return Table(title, ["", "subject correct", "subject wrong"], body)
