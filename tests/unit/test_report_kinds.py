"""The report per metric kind, on hand-built certificates (tests/fakes/kind_certificates.py): accuracy in % and
pp with its outcome strip, embedding cosine, KL/top-1 secondary metrics and per-window KL, the limit each kind's
policy section states, and a kind no layout knows."""

from __future__ import annotations

import math
import re

import msgspec
import pytest
from invarlock.adapters.report.renderers import HTMLReportRenderer, MarkdownReportRenderer

from tests.fakes.certificates import fake_certificate
from tests.fakes.kind_certificates import (
    accuracy_certificate,
    embedding_certificate,
    kl_certificate,
    unknown_kind_certificate,
)

SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def _arm_headers(page: str) -> str:
    [headers] = re.findall(r"<caption>Preview vs final</caption><tr>(.*?)</tr>", page)
    return headers


def _window_titles(svg: str) -> dict[int, float]:
    found = re.findall(r'class="bar win"><title>window (\d+): ([^<]+)</title>', svg)
    return {int(w): float(v) for w, v in found}


def test_per_window_kl_plot_draws_kl_sum_over_positions_of_every_final_window():
    cert = kl_certificate()
    final = cert.evidence.final
    assert final is not None and final.comparisons is not None
    page = HTMLReportRenderer().render(cert, [])
    [plot] = [s for s in SVG.findall(page) if "mean KL per token" in s]
    expected = {r.window_id: r.kl_sum / r.positions for r in final.comparisons if r.kl_sum is not None}
    assert _window_titles(plot) == expected and len(expected) == len(final.window_ids)


def test_secondary_metrics_table_states_kl_quantiles_and_top1_with_their_intervals():
    cert = kl_certificate()
    sm = cert.secondary_metrics
    assert sm is not None
    page = HTMLReportRenderer().render(cert, [])
    kl, top = sm.kl_divergence, sm.top1_agreement
    for value in (kl.mean, kl.median, kl.p90, kl.p99, kl.max):
        assert f'title="{value!r}"' in page
    assert f'<td title="{top.top1!r}">{top.top1:.2f} %</td>' in page
    assert f'title="[{top.ci[0]!r}, {top.ci[1]!r}]">[{top.ci[0]:.2f} %, {top.ci[1]:.2f} %]</td>' in page
    assert f"<td>KL quantile rule</td><td>{sm.quantile_rule}</td>" in page
    md = MarkdownReportRenderer().render(cert, [])
    assert f"| top-1 agreement | {top.top1:.2f} % |" in md and "| mean KL | nats/token |" in md


def test_accuracy_is_shown_in_percent_and_pp_with_the_paired_outcomes_and_no_perplexity():
    cert = accuracy_certificate()
    final, rows = cert.primary_metric.final, (cert.evidence.final.comparisons if cert.evidence.final else None)
    assert final is not None and final.delta_pp is not None and final.subject_accuracy is not None and rows
    assert _arm_headers(HTMLReportRenderer().render(cert, [])) == "".join(
        f"<th>{h}</th>"
        for h in (
            "arm",
            "windows",
            "tokens",
            "accuracy baseline",
            "accuracy subject",
            "Δ accuracy",
            "agreement with baseline",
        )
    )
    for page in (HTMLReportRenderer().render(cert, []), MarkdownReportRenderer().render(cert, [])):
        assert "ΔlogNLL" not in page  # no per-model NLL: no Δ plot, histogram or Δ column
        assert f"{final.subject_accuracy:.2f} %" in page and f"{final.delta_pp:+.2f} pp" in page
        lo, hi = cert.primary_metric.display_ci or (math.nan, math.nan)
        assert f"[{lo:+.2f} pp, {hi:+.2f} pp]" in page.replace("\\[", "[").replace("\\]", "]")
        both = sum(r.baseline_pred == r.label and r.subject_pred == r.label for r in rows)
        assert f"Paired outcomes ({len(rows)} examples" in page
        assert re.search(rf"baseline correct(?:</td><td>| \| ){both}\b", page)


def test_embedding_cosine_is_not_a_perplexity_and_gets_a_per_window_cosine_plot():
    cert = embedding_certificate()
    final = cert.primary_metric.final
    assert final is not None and final.mean_cosine is not None and final.min_cosine is not None
    page = HTMLReportRenderer().render(cert, [])
    headers = "<th>arm</th><th>windows</th><th>tokens</th><th>mean cosine</th><th>min cosine</th>"
    assert _arm_headers(page) == headers and "ΔlogNLL" not in page
    assert f'<td title="{final.mean_cosine!r}">{final.mean_cosine:.5f}</td>' in page
    [plot] = [s for s in SVG.findall(page) if "cosine per window" in s]
    assert min(_window_titles(plot).values()) == final.min_cosine
    assert "final mean cosine" in page and "no change: 1" in MarkdownReportRenderer().render(cert, [])


@pytest.mark.parametrize(
    ("build", "field", "section", "key", "sign"),
    [
        (accuracy_certificate, "delta_pp", "accuracy", "delta_pp_limit", -1.0),
        (embedding_certificate, "mean_cosine", "embedding", "min_cosine", 1.0),
        (fake_certificate, "ratio", "gates", "ratio_limit", 1.0),
    ],
)
def test_the_number_line_draws_the_limit_the_kinds_policy_section_states(build, field, section, key, sign):
    cert = build()
    limit = sign * cert.policy.resolved[section][key]
    final = cert.primary_metric.final
    page = HTMLReportRenderer().render(cert, [])
    [line] = [s for s in SVG.findall(page) if "Headline statistic" in s]
    assert f"<title>limit: {limit!r}</title>" in line and f"limit {limit:g}" in line
    assert f"{getattr(final, field)!r}</title></circle>" in line
    assert f"- tier limit: {limit:g}" in MarkdownReportRenderer().render(cert, [])


def test_an_unknown_kind_renders_its_fields_generically():
    cert = unknown_kind_certificate()
    page = HTMLReportRenderer().render(cert, [])
    assert "mystery_metric" in page and "widgets" in page
    assert "agreement with baseline" in page and "96.50 %" in page
    assert "states no ratio, Δ accuracy or cosine" in page


def test_extreme_or_empty_per_window_values_still_draw_finite_coordinates():
    cert = kl_certificate()
    final = cert.evidence.final
    assert final is not None and final.comparisons is not None
    rows = [
        msgspec.structs.replace(r, kl_sum=1e308 if i % 2 else 0.0, positions=0 if i == 0 else r.positions)
        for i, r in enumerate(final.comparisons)
    ]
    evidence = msgspec.structs.replace(cert.evidence, final=msgspec.structs.replace(final, comparisons=rows))
    page = HTMLReportRenderer().render(msgspec.structs.replace(cert, evidence=evidence), [])
    [plot] = [s for s in SVG.findall(page) if "mean KL per token" in s]
    assert not re.search(r'="-?(nan|inf)', plot, re.IGNORECASE)
    assert set(_window_titles(plot)) == {r.window_id for r in rows[1:]}  # no positions: no per-token mean


def test_accuracy_outcome_strip_colours_each_example_by_who_got_it_right():
    cert = accuracy_certificate()
    final = cert.evidence.final
    assert final is not None and final.comparisons is not None
    page = HTMLReportRenderer().render(cert, [])
    [strip] = [s for s in SVG.findall(page) if "Per-example" in s or "examples, plan order" in s]
    squares = re.findall(r'fill="(#[0-9a-f]{6})" class="outcome"><title>example (\d+): ([^<]*)</title>', strip)
    assert [int(w) for _, w, _ in squares] == [r.window_id for r in final.comparisons]
    fills = {"both correct": "#1a7f37", "only the baseline correct": "#cf222e"}
    fills |= {"only the subject correct": "#0969da", "both wrong": "#8c959f"}
    for (fill, _, tip), row in zip(squares, final.comparisons, strict=True):
        base_ok, subj_ok = row.baseline_pred == row.label, row.subject_pred == row.label
        words = {(True, True): "both correct", (True, False): "only the baseline correct"}.get((base_ok, subj_ok))
        words = words or ("only the subject correct" if subj_ok else "both wrong")
        assert fill == fills[words] and tip.endswith(f"({words})")


def test_the_run_config_is_shown_with_an_accuracy_runs_prompt_template_and_label_words():
    """Two reports whose prompts differed entirely looked the same: no table read provenance.config."""
    cert = accuracy_certificate()
    config = msgspec.structs.asdict(cert.provenance)["config"]
    metric = {**config.get("eval", {}).get("metric", {}), "template": "Review: {text}\nSentiment:"}
    config = {**config, "eval": {**config.get("eval", {}), "metric": {**metric, "label_words": [" bad", " good"]}}}
    cert = msgspec.structs.replace(cert, provenance=msgspec.structs.replace(cert.provenance, config=config))
    html, md = HTMLReportRenderer().render(cert, []), MarkdownReportRenderer().render(cert, [])
    assert "Run config (as the issuer states it)" in html and "Run config (as the issuer states it)" in md
    assert "eval.metric.template" in html and "Review: {text}" in html and "eval.metric.label\\_words" in md
    assert "&quot; good&quot;" in html and '" good"' in md, "the label words' leading space is shown: they are quoted"
    assert '"Review: {text}\\\\nSentiment:"' in md, "the template's newline is shown (a Markdown-escaped \\n)"


def test_secondary_intervals_beside_their_limits_get_the_digits_that_tell_them_apart() -> None:
    """A KL bound of 0.0200004 read "0.02" beside a limit of 0.02 (the reports hunt, stop 71)."""
    from invarlock.adapters.report.metrics import secondary_table
    from invarlock.domain import certificate as c

    kl = c.KlSummary(tokens=10, mean=0.01, ci=(0.005, 0.0200004), median=0.01, p90=0.01, p99=0.01, max=0.02)
    top = c.AgreementSummary(tokens=10, top1=93.0, ci=(91.999996, 94.0), top5_overlap=99.0)
    sm = c.SecondaryMetrics(arm="final", kl_divergence=kl, top1_agreement=top, quantile_rule="r")
    rows = {
        str(row[0]): str(row[2])
        for row in secondary_table(sm, {"kl_mean_upper_limit": 0.02, "top1_lower_limit": 92.0}).rows
    }
    assert rows["KL mean (nats/token)"] == "[0.005, 0.0200004]"
    assert rows["top-1 agreement"] == "[91.999996 %, 94.00 %]"
    plain = {str(row[0]): str(row[2]) for row in secondary_table(sm).rows}
    assert plain["KL mean (nats/token)"] == "[0.005, 0.02]"
