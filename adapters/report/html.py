"""The HTML report: one self-contained page (inline CSS and SVG, no JavaScript, no external resources).

Every string taken from the certificate goes through `visible.escape` (HTML-escaped, control and bidi characters
shown as escapes) before it reaches the page.
"""

from __future__ import annotations

from collections.abc import Sequence

from invarlock.domain import certificate as c
from invarlock.ports.report import CheckFailure

from . import guard_tables, metrics, sections
from .cells import Cell, Num
from .figures import Table, cosine_points, delta_points, histogram, kl_points, labelled_rows, plotted_arm, window_deltas
from .headline import headline
from .heatmap import guard_grids
from .svg import delta_histogram, number_line, window_plot
from .svg_heatmap import heat_map
from .svg_outcomes import outcome_strip
from .visible import escape

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1b1f24;max-width:1100px}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
.banner{padding:14px 18px;border-radius:6px;color:#fff;margin:10px 0}
.banner b{font-size:22px}.banner ul{margin:6px 0 0 18px;padding:0}
.pass{background:#1a7f37}.fail{background:#cf222e}.unverified{background:#9a6700}
table{border-collapse:collapse;margin:6px 0 14px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td{word-break:break-all;max-width:700px}caption{text-align:left;font-weight:600;padding:4px 0}
.axis{stroke:#57606a;stroke-width:2}.one{stroke:#57606a;stroke-dasharray:3 3}
.limit{stroke:#cf222e;stroke-width:3}.limit-lbl{fill:#cf222e}
.ci{fill:#0969da;fill-opacity:.35;stroke:#0969da}.ratio{fill:#0969da}
.bar{fill:#8250df}.lbl{font-size:12px;fill:#1b1f24}svg{display:block;margin:8px 0}
.small{font-size:10px}.cell{stroke:#d0d7de;stroke-width:.5}.flagged,.flag-key{stroke:#1b1f24;stroke-width:2.5}
td[title]{text-decoration:underline dotted #8c959f}.muted{color:#57606a}
"""


def _td(value: Cell, tag: str = "td") -> str:
    """A cell; a rounded number keeps its exact value in the title attribute."""
    if isinstance(value, Num):
        return f'<{tag} title="{escape(value.full)}">{escape(value.display)}</{tag}>'
    return f"<{tag}>{escape(value)}</{tag}>"


def _row(row: list[Cell], key_column: bool) -> str:
    return "<tr>" + _td(row[0], "th" if key_column else "td") + "".join(_td(v) for v in row[1:]) + "</tr>"


def table_html(table: Table) -> str:
    """A <table> with every header and cell escaped; a table without headers is key/value."""
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    header = f"<tr>{head}</tr>" if head else ""
    rows = "".join(_row(row, not table.headers) for row in table.rows if row)
    return f"<table><caption>{escape(table.title)}</caption>{header}{rows}</table>"


def _banner(cert: c.Certificate, failures: Sequence[CheckFailure]) -> str:
    status = sections.shown_status(cert, failures)
    cls = "pass" if status == "PASS" else "fail"
    items = "".join(f"<li>{escape(f.flag)}: {escape(f.reason)}</li>" for f in cert.verdict.failed)
    failed = f"<ul>{items}</ul>" if items else ""
    what = "rollback: the final arm was not scored" if cert.status == "rollback" else "all gates evaluated"
    return f'<div class="banner {cls}" id="verdict"><b>{escape(status)}</b> — {escape(what)}{failed}</div>'


def _verification(failures: Sequence[CheckFailure]) -> str:
    if not failures:
        return f'<p class="muted">{escape(sections.VERIFIED_LINE)}</p>'
    items = "".join(f"<li>NOT VERIFIED: {escape(name)} — {escape(detail)}</li>" for name, detail in failures)
    first = escape(failures[0][0])
    return (
        f'<div class="banner unverified" id="not-verified"><b>NOT VERIFIED: {first}</b>'
        f"<ul>{items}</ul>Do not rely on this certificate's numbers.</div>"
    )


def _figures(cert: c.Certificate) -> str:
    h = headline(cert)
    parts = ["<h2>Headline against the limit</h2>", number_line(h)]
    arm_name, arm = plotted_arm(cert)
    deltas = delta_points(arm)
    if deltas:
        parts += [
            "<h2>Per-window ΔlogNLL</h2>",
            window_plot(deltas, f"ΔlogNLL per window ({arm_name} arm)", "nats/token", 0.0),
        ]
        if cert.evidence.final is not None:
            parts.append(
                delta_histogram(histogram(window_deltas(cert.evidence.final)), "Final arm: per-window ΔlogNLL")
            )
        parts.append(
            delta_histogram(histogram(window_deltas(cert.evidence.preview)), "Preview arm: per-window ΔlogNLL")
        )
        parts.append('<p class="muted">Δ = (subject NLL − baseline NLL) / tokens, in nats per token.</p>')
    kl = kl_points(arm)
    if kl:
        parts += [
            "<h2>Per-window KL divergence</h2>",
            window_plot(kl, f"mean KL per token ({arm_name} arm)", "nats/token", 0.0),
        ]
        parts.append('<p class="muted">KL(baseline ‖ subject) summed over the window, divided by its positions.</p>')
    labelled = labelled_rows(arm)
    if labelled:
        parts += ["<h2>Per-example outcomes</h2>", outcome_strip(labelled, f"baseline vs subject ({arm_name} arm)")]
    cosines = cosine_points(arm)
    if cosines:
        parts += [
            "<h2>Per-window cosine</h2>",
            window_plot(cosines, f"cosine per window ({arm_name} arm)", "cosine", 1.0),
        ]
    return "".join(parts)


def _heat_maps(cert: c.Certificate) -> str:
    grids = guard_grids(cert)
    if not grids:
        return ""
    note = '<p class="muted">Hover a cell for the matrix name and exact value; outlined cells are flagged.</p>'
    return "".join(heat_map(g) for g in grids) + note


def _section(title: str, tables: list[Table], figures: str = "") -> str:
    return f"<h2>{escape(title)}</h2>" + figures + "".join(table_html(t) for t in tables)


def render_html(cert: c.Certificate, failures: Sequence[CheckFailure]) -> str:
    """The full page for `cert`; `failures` are the verify checks that did not hold ([] when verified)."""
    title = sections.page_title(cert, failures)
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="muted">{escape(sections.models_line(cert))} · {escape(sections.signature_line(cert))}</p>',
        _verification(failures),
        _banner(cert, failures),
        _figures(cert),
        _section("Metrics", [*metrics.metric_tables(cert), sections.validation_table(cert)]),
        _section("Guards", guard_tables.guard_tables(cert), _heat_maps(cert)),
        _section("Inputs", sections.input_tables(cert)),
        _section("Policy", sections.policy_tables(cert)),
        _section("Provenance", sections.provenance_tables(cert)),
        _section("Digests and signature", [sections.digest_table(cert)]),
        f'<p id="signature">Signature: {escape(sections.signature_line(cert))}</p>',
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
