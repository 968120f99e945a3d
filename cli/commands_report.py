"""`invarlock report html|md CERT -o OUT`: a readable, self-contained report of a certificate."""

from __future__ import annotations

import re
from pathlib import Path

import click
from invarlock.application.report import render_report
from invarlock.domain import certificate as c
from invarlock.ports.report import ReportFormat

from . import console
from .api_verify import require_plugins_unless_altered
from .bootstrap import report_renderer
from .inputs import MAX_CERTIFICATE_BYTES, read_input_file
from .outputs import write_atomically


def _render(certificate: str, out: str, fmt: ReportFormat) -> None:
    target = Path(out)
    raw = read_input_file(certificate, what="certificate", code="E600", max_bytes=MAX_CERTIFICATE_BYTES)
    cert = c.from_bytes(raw)
    require_plugins_unless_altered(cert, raw)
    page = render_report(cert, report_renderer(fmt), raw)
    if out == "-":  # the page on stdout, byte for byte as the file would hold it
        console.out_bytes(page.encode("utf-8"))
        return
    reports = ("an InvarLock report", _is_report)
    hint, inputs = "choose another -o path", (Path(certificate),)
    write_atomically(target, page, what="the report", hint=hint, inputs=inputs, replaces=reports)
    console.say(console.printable(str(target)))  # the file is the output; --quiet drops its name


def _is_report(path: Path) -> bool:
    """Whether `path` begins as the Markdown or HTML page `report` writes (one it may write again)."""
    try:
        with open(path, "rb") as held:
            head = held.read(4096)
    except OSError:
        return False
    first = head.split(b"\n", 1)[0]
    title = head.split(b"<title>", 1)[1].split(b"</title>", 1)[0] if b"<title>" in head else b""
    html = head.startswith(b"<!DOCTYPE html>") and _titled(title)
    return html or (first.startswith(b"# ") and _titled(first[2:]))


_STATUS = r"(?:PASS|FAIL|NOT ESTABLISHED \(the stated (?:PASS|FAIL) is void: verify checks failed\))"
# its status first, or (written by an earlier release) its run id first; a user's "# InvarLock certificate review
# notes" was taken for a report and replaced
_TITLES = (re.compile(rf"{_STATUS} · InvarLock certificate .+"), re.compile(rf"InvarLock certificate .+: {_STATUS}"))


def _titled(title: bytes) -> bool:
    """Whether `title` is a report's title, as this release or an earlier one wrote it."""
    text = title.decode("utf-8", "replace").strip()
    return any(form.fullmatch(text) for form in _TITLES)


def _same(target: Path, rendered: Path) -> bool:
    try:
        return target.samefile(rendered)
    except OSError:  # the certificate came from stdin ("-"), or is gone
        return False


@click.group("report")
def report_cmd() -> None:
    """Render a certificate as a self-contained HTML page or Markdown (verified first; failures are shown)."""


@report_cmd.command("html")
@click.argument("certificate", type=click.Path())
@click.option("--out", "-o", "out", type=click.Path(), required=True, help="HTML file to write (- for stdout)")
def html_cmd(certificate: str, out: str) -> None:
    """Write CERTIFICATE as one HTML page: inline CSS and SVG, no JavaScript, no network."""
    _render(certificate, out, "html")


@report_cmd.command("md")
@click.argument("certificate", type=click.Path())
@click.option("--out", "-o", "out", type=click.Path(), required=True, help="Markdown file to write (- for stdout)")
def md_cmd(certificate: str, out: str) -> None:
    """Write CERTIFICATE as Markdown: the same facts as the HTML report, as text and tables."""
    _render(certificate, out, "md")
