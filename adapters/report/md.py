"""The Markdown report: the same facts as the HTML page, as text and tables.

Certificate strings are escaped so they cannot break a table (`|`), open code spans or fenced code blocks
(backticks, `~`), add emphasis or links, or smuggle raw HTML into a Markdown renderer (`<`, `>`, `&` become
entities). A URL or `www.` name in them stays text: GitHub's renderer (cmark-gfm) would otherwise make it a link
that a report reader may follow. An e-mail address still becomes a `mailto:` link there (an `xmpp:` link when
`xmpp:` precedes it): that renderer finds addresses in the text after escapes and entities are undone, so no escape
prevents it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from invarlock.domain import certificate as c
from invarlock.ports.report import CheckFailure

from . import guard_tables, metrics, sections, summaries
from .cells import Cell, beside, limit_text, short
from .figures import Table, histogram, plotted_arm, window_deltas
from .headline import headline
from .visible import visible

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SPECIAL = set("\\`|*_[]#~$")  # `$`: GitHub renders $...$ as math (styled text a certificate could fake)
# cmark-gfm's extended autolinks start at `SCHEME://` or at `www.`; an escaped `:` or `.` ends each match.
_AUTOLINK = re.compile(r":(?=//)|(?i:www)\.")


def md_escape(value: str) -> str:
    """`value` safe inside Markdown text or a table cell: one line, specials backslash-escaped, HTML inert."""
    out = []
    for ch in visible(value.replace("\r", " ").replace("\n", " ").replace("\t", " ")):
        out.append(_ENTITIES.get(ch) or ("\\" + ch if ch in _SPECIAL else ch))
    return _AUTOLINK.sub(lambda m: m.group()[:-1] + "\\" + m.group()[-1], "".join(out))


def table_md(table: Table) -> str:
    """A titled pipe table; a table without headers becomes a two-column key/value table."""
    headers = table.headers or ["field", "value"]
    lines = [f"**{md_escape(table.title)}**", "", "| " + " | ".join(md_escape(h) for h in headers) + " |"]
    lines.append("|" + " --- |" * len(headers))
    lines += ["| " + " | ".join(md_escape(str(v)) for v in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def _verdict(cert: c.Certificate, failures: Sequence[CheckFailure]) -> list[str]:
    # a blank line after each: consecutive quoted lines would render as one paragraph
    lines = [
        s for name, detail in failures for s in (f"> **NOT VERIFIED: {md_escape(name)}** — {md_escape(detail)}", "")
    ]
    if not failures:
        lines.append(md_escape(sections.VERIFIED_LINE))
    lines += ["", f"## Verdict: {md_escape(sections.shown_status(cert, failures))}", ""]
    if cert.status == "rollback":
        lines.append("Rolled back: the final arm was not scored.")
    lines += [f"- failed **{md_escape(f.flag)}**: {md_escape(f.reason)}" for f in cert.verdict.failed]
    return lines


def _headline_lines(cert: c.Certificate) -> list[str]:
    h = headline(cert)
    ci = f"[{beside(h.ci[0], h.limit)}, {beside(h.ci[1], h.limit)}]" if h.ci is not None else "—"
    value = beside(h.value, h.limit) if h.value is not None else "—"
    limit = limit_text(h.limit) if h.limit is not None else "— (see the validation flags)"
    return [
        f"- {md_escape(h.label)}: {value}",
        f"- CI: {ci}",
        f"- tier limit: {limit}",
        f"- no change: {h.reference:g}",
    ]


def _histogram_table(cert: c.Certificate) -> list[str]:
    arm_name, arm = plotted_arm(cert)
    rows: list[list[Cell]] = [[f"[{short(b.lo)}, {short(b.hi)}]", str(b.count)] for b in histogram(window_deltas(arm))]
    if not rows:
        return []
    return [table_md(Table(f"Per-window ΔlogNLL histogram ({arm_name} arm)", ["Δ per token", "windows"], rows))]


def _figure_tables(cert: c.Certificate) -> list[str]:
    windows = summaries.window_table(cert)
    return [*_histogram_table(cert), *([table_md(windows)] if windows is not None else [])]


def render_md(cert: c.Certificate, failures: Sequence[CheckFailure]) -> str:
    """The Markdown report for `cert`; `failures` are the verify checks that did not hold ([] when verified)."""
    title = sections.page_title(cert, failures)
    parts = [
        f"# {md_escape(title)}",
        "",
        md_escape(sections.models_line(cert)),
        "",
        *_verdict(cert, failures),
        "",
        "## Headline against the limit",
        "",
        *_headline_lines(cert),
        "",
        *_figure_tables(cert),
    ]
    groups = [
        ("Metrics", [*metrics.metric_tables(cert), sections.validation_table(cert)]),
        ("Guards", [*summaries.grid_tables(cert), *guard_tables.guard_tables(cert)]),
        ("Inputs", sections.input_tables(cert)),
        ("Policy", sections.policy_tables(cert)),
        ("Provenance", sections.provenance_tables(cert)),
        ("Digests and signature", [sections.digest_table(cert)]),
    ]
    for name, tables in groups:
        parts += [f"## {name}", "", *(table_md(t) for t in tables)]
    parts.append(f"Signature: {md_escape(sections.signature_line(cert))}")
    return "\n".join(parts) + "\n"
