"""The report's pictures and numbers: guard heat maps on a real certificate (SmolLM2-135M, int4 RTN, recorded
in tests/fixtures/store_v1), the per-window Δ plot, rounded cells with exact titles, escaping, and no active content
or nondeterminism in any kind's page."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import msgspec
import pytest
from invarlock.adapters.report.heatmap import block_of, guard_grids
from invarlock.adapters.report.md import md_escape
from invarlock.adapters.report.renderers import HTMLReportRenderer, MarkdownReportRenderer
from invarlock.domain import certificate as c

from tests.fakes.certificates import fake_certificate, resealed
from tests.fakes.kind_certificates import (
    accuracy_certificate,
    embedding_certificate,
    kl_certificate,
    unknown_kind_certificate,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1"
SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
CELL = re.compile(r'<rect [^>]*class="cell( flagged)?"[^>]*><title>([^<]*)</title></rect>')
TITLED_TD = re.compile(r'<td title="([^"]*)">([^<]*)</td>')


@pytest.fixture(scope="module")
def real() -> c.Certificate:
    return c.from_bytes((FIXTURE / "run.cert.json").read_bytes())


@pytest.fixture(scope="module")
def real_page(real: c.Certificate) -> str:
    return HTMLReportRenderer().render(real, [])


def _heat_map(page: str, guard: str) -> str:
    [found] = [s for s in SVG.findall(page) if f"<title>{guard}: " in s]
    return found


def _cells(svg: str) -> dict[str, tuple[bool, str]]:
    """matrix name -> (outlined, the value its title states)."""
    cells = {}
    for flagged, tip in CELL.findall(svg):
        name, _, rest = html.unescape(tip).partition(": ")
        cells[name] = (bool(flagged), rest.rpartition(" = ")[2].removesuffix(" (flagged)"))
    return cells


def test_spectral_heat_map_outlines_exactly_the_violations_and_titles_carry_the_guards_own_r(real, real_page):
    section = real.guards.spectral
    assert section is not None
    cells = _cells(_heat_map(real_page, "spectral"))
    assert set(cells) == {m.name for m in section.measurements.matrices}
    assert {name for name, (outlined, _) in cells.items() if outlined} == {v.name for v in section.violations}
    assert len(section.violations) >= 3
    for v in section.violations:  # the r the guard judged, recorded in the certificate, is the title's value
        assert v.r is not None and float(cells[v.name][1]) == v.r


def test_rmt_heat_map_outlines_exactly_the_violations_with_their_log_edge_ratio(real, real_page):
    section = real.guards.rmt
    assert section is not None
    cells = _cells(_heat_map(real_page, "rmt"))
    assert set(cells) == {m.name for m in section.measurements.matrices}
    assert {name for name, (outlined, _) in cells.items() if outlined} == {v.name for v in section.violations}
    for v in section.violations:
        assert v.log_edge_ratio is not None and float(cells[v.name][1]) == pytest.approx(v.log_edge_ratio, rel=1e-12)


def test_the_grid_is_layers_by_matrix_type_with_the_embedding_outside(real):
    spectral = guard_grids(real)[0]
    assert spectral.layers == list(range(30)) and len(spectral.types) == 7
    assert [e.name for e in spectral.outside] == ["model.embed_tokens.weight"]
    assert block_of("encoder.layer.5.attention.self.query.weight") == (5, "attention.self.query")
    assert block_of("transformer.h.11.mlp.c_fc.weight") == (11, "mlp.c_fc")
    assert block_of("lm_head.weight") is None


def _visible(page: str) -> str:
    """The text a reader sees: tags (and with them every title attribute) removed."""
    return html.unescape(re.sub(r"<title>.*?</title>|<[^>]+>", " ", page, flags=re.DOTALL))


def test_cells_show_rounded_numbers_and_their_title_holds_the_exact_value(real, real_page):
    titled = TITLED_TD.findall(real_page)
    assert len(titled) > 20
    for full, shown in titled:
        if re.fullmatch(r"-?[\d.e+-]+", shown):
            assert float(shown) == pytest.approx(float(full), rel=1e-4), (shown, full)
    final = real.primary_metric.final
    assert final is not None and final.ratio is not None
    assert f'<td title="{final.ratio!r}">{final.ratio:.5g}</td>' in real_page
    assert not re.search(r"\d\.\d{9,}", _visible(real_page)), "a long float is shown unrounded"
    assert '{"' not in _visible(real_page), "a dict is shown as JSON"


def test_nested_policy_and_edit_values_are_rows_under_dotted_keys(real, real_page):
    assert "<th>guards.spectral.mode</th>" in real_page and "<th>plan.bits</th>" in real_page
    deltas = real.edit.deltas
    assert deltas is not None and set(deltas.bitwidth_map.values()) == {4}  # int4 RTN on every linear layer
    assert f"<td>{len(deltas.bitwidth_map)} modules at 4 bits</td>" in real_page
    assert "bitwidth_map.model" not in real_page, "one row per module"


@pytest.mark.parametrize(
    "build", [fake_certificate, kl_certificate, accuracy_certificate, embedding_certificate, unknown_kind_certificate]
)
def test_no_page_has_active_content_and_the_bytes_are_deterministic(build):
    cert = build()
    page = HTMLReportRenderer().render(cert, [])
    assert "<script" not in page.lower() and "javascript:" not in page.lower()
    assert not re.search(r"<[^>]*\son\w+\s*=", page, re.IGNORECASE), "an on*= event attribute"
    again = c.from_bytes(c.to_bytes(cert))
    assert page == HTMLReportRenderer().render(again, []) == HTMLReportRenderer().render(cert, [])
    kind = cert.primary_metric.kind
    assert kind in page and md_escape(kind) in MarkdownReportRenderer().render(cert, [])


def test_per_window_delta_plot_draws_the_final_arms_dlognll(real, real_page):
    final = real.evidence.final
    assert final is not None
    [plot] = [s for s in SVG.findall(real_page) if "ΔlogNLL per window" in s]
    base, subj = final.nll()
    expected = {w: (s - b) / t for w, s, b, t in zip(final.window_ids, subj, base, final.tokens_scored, strict=True)}
    assert _window_titles(plot) == expected


def test_markdown_summarises_the_heat_maps_flagged_layers_by_matrix_type(real):
    md = MarkdownReportRenderer().render(real, [])
    section = real.guards.spectral
    assert section is not None
    down = sorted(int(v.name.split(".")[2]) for v in section.violations if "down_proj" in v.name)
    row = next(line for line in md.splitlines() if line.startswith("| mlp.down\\_proj | 30 |"))
    assert row.endswith(f"| {', '.join(map(str, down))} |")
    assert math.isfinite(float(row.split("|")[3]))


def test_a_hostile_matrix_name_reaches_the_heat_map_only_escaped(real):
    section = real.guards.spectral
    assert section is not None
    old = section.violations[0].name
    evil = "model.layers.3.<img src=x onerror=alert(1)>.weight"
    matrices = [msgspec.structs.replace(m, name=evil) if m.name == old else m for m in section.measurements.matrices]
    violations = [msgspec.structs.replace(v, name=evil) if v.name == old else v for v in section.violations]
    hostile = msgspec.structs.replace(
        section, measurements=msgspec.structs.replace(section.measurements, matrices=matrices), violations=violations
    )
    cert = resealed(real, guards=msgspec.structs.replace(real.guards, spectral=hostile))
    for page in (HTMLReportRenderer().render(cert, []), MarkdownReportRenderer().render(cert, [])):
        assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert evil in _cells(_heat_map(HTMLReportRenderer().render(cert, []), "spectral"))


def _window_titles(svg: str) -> dict[int, float]:
    found = re.findall(r'class="bar win"><title>window (\d+): ([^<]+)</title>', svg)
    return {int(w): float(v) for w, v in found}


class _CountedEntry:
    """An entry whose value counts its reads."""

    reads = 0

    def __init__(self, name: str, value: float) -> None:
        self.name, self._value, self.flagged = name, value, False

    @property
    def value(self) -> float:
        _CountedEntry.reads += 1
        return self._value


def test_a_heat_map_reads_each_value_a_bounded_number_of_times() -> None:
    """The colour scale's extent was a property rescanning every cell, read once per cell: a certificate of
    200 000 matrices took over five minutes to render (8 000 matrices: 3.8 s, four times 4 000's)."""
    from invarlock.adapters.report.heatmap import Grid
    from invarlock.adapters.report.svg_heatmap import heat_map

    n = 2000
    cells = {(i, "mlp.up_proj"): _CountedEntry(f"model.layers.{i}.mlp.up_proj.weight", i / n) for i in range(n)}
    grid = Grid("spectral", "r", list(range(n)), ["mlp.up_proj"], cells, [])  # type: ignore[arg-type]
    _CountedEntry.reads = 0
    assert len(CELL.findall(heat_map(grid))) == n
    assert _CountedEntry.reads <= 8 * n, _CountedEntry.reads  # a few per cell; it was 8.1 million


def test_nll_sums_near_the_float_range_and_a_layer_number_past_int_s_digits_still_render() -> None:
    """A forged certificate (NLLs of ±1e308, a layer numbered with 5 000 digits) was refused as E601 "cannot convert
    float NaN to integer": a report never refuses a decodable certificate, it says NOT VERIFIED (the reports hunt,
    stop 71)."""
    cert = fake_certificate()
    assert cert.evidence.final is not None
    final = msgspec.structs.replace(
        cert.evidence.final,
        baseline_nll=[0.0, 0.0, *cert.evidence.final.baseline_nll[2:]],
        subject_nll=[1e308, -1e308, *cert.evidence.final.subject_nll[2:]],
        tokens_scored=[1, 1, *cert.evidence.final.tokens_scored[2:]],
    )
    forged = resealed(cert, evidence=msgspec.structs.replace(cert.evidence, final=final))
    for renderer in (HTMLReportRenderer(), MarkdownReportRenderer()):
        assert "ΔlogNLL" in renderer.render(forged, [("evidence", "not finite")])
    assert block_of(f"model.layers.{'9' * 5000}.mlp.weight") is None
