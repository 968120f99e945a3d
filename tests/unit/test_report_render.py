"""HTML and Markdown reports rendered from certificates issued on the fakes."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest
from invarlock.adapters.report.figures import histogram, window_deltas
from invarlock.adapters.report.md import md_escape
from invarlock.application import report
from invarlock.application.report import verification_failures
from invarlock.cli.bootstrap import report_renderer
from invarlock.domain import certificate as c
from invarlock.domain.events_reuse import EventRef
from invarlock.domain.model import GGUFSource
from invarlock.ports.report import ReportFormat

from tests.fakes.certificates import EVIL_REF, fake_certificate, resealed


def _sections(cert: c.Certificate) -> Any:
    """The guard sections as the certificate's JSON holds them."""
    return msgspec.to_builtins(cert.guards)


@pytest.fixture(scope="module")
def passing() -> c.Certificate:
    return fake_certificate()


@pytest.fixture(scope="module")
def rollback() -> c.Certificate:
    return fake_certificate(quality=3.0)


@pytest.fixture(scope="module")
def evil() -> c.Certificate:
    return fake_certificate(EVIL_REF)


def render_report(cert: c.Certificate, fmt: ReportFormat) -> str:
    return report.render_report(cert, report_renderer(fmt))


def _no_active_content(page: str) -> None:
    assert "<script" not in page.lower()
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"\b(src|href)\s*=", page, re.IGNORECASE)


def test_passing_certificate_renders_a_green_verified_pass_banner_with_figures(passing):
    page = render_report(passing, "html")
    assert '<div class="banner pass" id="verdict"><b>PASS</b>' in page
    assert "NOT VERIFIED" not in page
    # number line, per-window Δ, final and preview histograms, per-window KL (the fake runner measures KL in
    # lockstep), spectral and RMT heat maps
    assert page.count("<svg") == 7
    assert 'class="limit"' in page and 'class="ci"' in page
    assert passing.digest in page and passing.dataset.window_plan_digest in page
    assert passing.provenance.event_log.head_hash in page
    assert "unsigned" in page
    _no_active_content(page)


def test_model_ref_with_a_script_tag_appears_only_escaped(evil):
    page = render_report(evil, "html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert EVIL_REF not in page
    _no_active_content(page)


def test_every_guard_check_appears_in_the_guard_tables(passing):
    page = render_report(passing, "html")
    for phase in _sections(passing)["invariants"]["phases"].values():
        for check in phase["checks"]:
            assert f"<td>{check['name']}</td>" in page


def test_rollback_certificate_renders_a_red_fail_banner_with_reasons_and_no_final_arm(rollback):
    page = render_report(rollback, "html")
    assert '<div class="banner fail" id="verdict"><b>FAIL</b>' in page
    assert "catastrophe: preview ratio" in page
    assert "rolled back" in page
    # number line on the preview ratio, per-window Δ, histogram and KL of the preview arm, two heat maps
    assert page.count("<svg") == 6
    assert 'class="ci"' not in page
    md = render_report(rollback, "md")
    assert "## Verdict: FAIL" in md and "Rolled back" in md


def test_altered_certificate_gets_a_not_verified_banner_naming_the_check(passing):
    forged = resealed(passing, verdict=c.VerdictSection(status="PASS", failed=[]))
    assert verification_failures(forged) == []
    tampered = msgspec.structs.replace(passing, issued_at="2026-01-01T00:00:09.000000Z")
    assert [name for name, _ in verification_failures(tampered)] == ["digest"]
    assert "NOT VERIFIED: digest" in render_report(tampered, "html")
    assert "**NOT VERIFIED: digest**" in render_report(tampered, "md")
    void = "NOT ESTABLISHED (the stated PASS is void: verify checks failed)"  # never PASS beside a failed check
    html, md = render_report(tampered, "html"), render_report(tampered, "md")
    assert f"<title>{void} · InvarLock certificate {passing.run_id}</title>" in html and ">PASS<" not in html
    assert f"## Verdict: {void}" in md and "## Verdict: PASS" not in md
    assert "## Verdict: PASS" in render_report(passing, "md")


def test_the_title_shows_the_status_before_a_run_id_that_reads_like_a_verdict(rollback):
    forged = resealed(rollback, run_id="r1: PASS ·")  # provenance names another run: the stated verdict is void
    void = f"NOT ESTABLISHED (the stated {rollback.verdict.status} is void: verify checks failed)"
    assert rollback.verdict.status != "PASS" and verification_failures(forged) != []
    assert f"<title>{void} · InvarLock certificate r1: PASS ·</title>" in render_report(forged, "html")
    assert render_report(forged, "md").startswith(f"# {md_escape(void)} · InvarLock certificate r1: PASS ·\n")
    assert f"<title>{rollback.verdict.status} · InvarLock certificate " in render_report(rollback, "html")


@pytest.mark.parametrize("ref", ["    indented like code", "1. a list item", "- a bullet", "> a quote"])
def test_a_model_reference_cannot_open_a_markdown_block(ref):
    md = render_report(fake_certificate(ref), "md")
    line = next(line for line in md.splitlines() if "→ subject" in line)
    assert line.startswith(f"Baseline {md_escape(ref)} → subject subject · edit "), line


def test_recomputation_failure_is_named_even_when_the_digest_was_resealed(passing):
    final = msgspec.structs.replace(passing.primary_metric.final, ratio=0.5)
    forged = resealed(passing, primary_metric=msgspec.structs.replace(passing.primary_metric, final=final))
    assert "NOT VERIFIED: primary_metric" in render_report(forged, "html")


def test_markdown_has_the_same_facts_and_escapes_table_breakers(evil):
    md = render_report(evil, "md")
    assert "## Verdict: PASS" in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md and EVIL_REF not in md
    assert "| preview | 8 | 248 |" in md
    assert evil.digest in md and "tier limit: 1.1" in md
    assert md_escape("a|b`c\nd") == "a\\|b\\`c d"


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_model_and_dataset_labels_are_shown_as_the_issuer_s_statement(passing, fmt):
    """Refs, architecture, adapter, device, parameter count and the dataset's provider are claims plain verify
    cannot check: a reviewer must not read them as established facts."""
    import html

    from invarlock.adapters.report.sections import DATASET_TITLE, MODELS_TITLE

    text = render_report(passing, fmt)
    shown = html.unescape(text) if fmt == "html" else text.replace("\\", "")
    assert MODELS_TITLE in shown and DATASET_TITLE in shown


def test_window_deltas_are_per_token_nll_differences_and_fill_the_histogram(passing):
    final = passing.evidence.final
    deltas = window_deltas(final)
    assert deltas[0] == pytest.approx((final.subject_nll[0] - final.baseline_nll[0]) / final.tokens_scored[0])
    assert sum(b.count for b in histogram(deltas)) == len(final.window_ids)
    assert histogram([0.5, 0.5]) == histogram([0.5, 0.5], bins=3) and len(histogram([0.5, 0.5])) == 1


FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)


@pytest.mark.parametrize("ref", ["~~~python", "```", "x ~~~ y", "~~~~"])
def test_a_model_ref_with_fence_characters_cannot_open_a_code_block(ref):
    md = render_report(fake_certificate(ref), "md")
    assert not FENCE.search(md), "a line opens a fenced code block"
    assert md_escape(ref).replace("\\", "") == ref and "~~~" not in md_escape(ref)
    assert "## Verdict: PASS" in md and "## Digests and signature" in md
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # the regex above is the check; the parser only confirms it when installed
        return
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    assert not [t for t in tokens if t.type in ("fence", "code_block")]


@pytest.mark.parametrize(
    "ref", ["https://evil.example/login", "see www.evil.example", "ftp://evil.example/x", "(WWW.evil.example)"]
)
def test_a_url_in_a_certificate_is_no_link_in_github_s_rendering(ref):
    """GitHub's renderer links bare URLs and `www.` names: a forged ref would be a link in a reviewer's report."""
    import cmarkgfm

    md = render_report(fake_certificate(ref), "md")
    html = cmarkgfm.github_flavored_markdown_to_html(md)
    assert "<a " not in html and "evil.example" in html
    assert md_escape(ref).replace("\\", "") == ref  # the text a reader sees is the ref


GUARD_SHAPES = {
    "measurements as a list": ("spectral", "measurements", [1, 2]),
    "families as a list": ("rmt", "families", [1]),
    "a family that is a number": ("spectral", "families", {"attn": 3}),
    "phases as a list": ("invariants", "phases", [{"verdict": "pass"}]),
    "scales as a number": ("variance", "scales", 3),
    "A/B gate as a list": ("variance", "ab", [1, 2]),
    "violations as a string": ("spectral", "violations", "many"),
    "violations of numbers": ("rmt", "violations", [1, 2]),
}


@pytest.mark.parametrize("case", sorted(GUARD_SHAPES))
@pytest.mark.parametrize("fmt", ["html", "md"])
def test_a_guard_section_of_the_wrong_shape_is_one_line_exit_2(passing, tmp_path, case, fmt):
    from tests.fakes.cli import run_cli

    guard, key, value = GUARD_SHAPES[case]
    guards = {**_sections(passing), guard: {**_sections(passing)[guard], key: value}}
    path = tmp_path / "cert.json"
    path.write_bytes(c.to_bytes(resealed(passing, guards=guards)))
    code, out, err = run_cli("report", fmt, path, "-o", tmp_path / f"out.{fmt}")
    assert code == 2 and out == "" and not (tmp_path / f"out.{fmt}").exists()
    [line] = err.splitlines()
    # guard sections are typed: a section of the wrong shape does not decode (schema v1)
    assert line.startswith("ERROR [INVARLOCK:E601] schema check failed:") and f"guards.{guard}.{key}" in line


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_a_file_that_is_not_the_canonical_encoding_is_not_reported_verified(passing, tmp_path, fmt):
    """A pretty-printed certificate (or one whose duplicate key hides another verdict) decodes to the same object,
    which the report re-verified as such: "Verified" for a file `verify` voids (the reports hunt)."""
    import json

    import invarlock

    from tests.fakes.cli import run_cli

    path = tmp_path / "cert.json"
    path.write_text(json.dumps(json.loads(c.to_bytes(passing)), indent=2), encoding="utf-8")
    code, _, err = run_cli("report", fmt, path, "-o", tmp_path / f"out.{fmt}")
    page = (tmp_path / f"out.{fmt}").read_text(encoding="utf-8")
    assert code == 0 and "NOT VERIFIED: canonical" in page, err
    assert "NOT VERIFIED: canonical" in invarlock.render_report(path, fmt)
    assert "NOT VERIFIED" not in invarlock.render_report(passing, fmt), "an object has no bytes to check"


@pytest.mark.parametrize("seed", [1, 2])
def test_seeded_byte_mutations_render_with_a_banner_or_fail_in_one_line(passing, tmp_path, seed):
    """Mutated bytes, and the same mutations resealed: a report is written (with a NOT VERIFIED banner unless the
    bytes decode to the same certificate or were resealed) or refused in one line (exit 2); never exit 1, E999
    or a traceback."""
    import random

    from tests.fakes.cli import run_cli
    from tests.unit.test_verify_fuzz import _mutate, _resealed

    raw, rng = c.to_bytes(passing), random.Random(seed)
    path, out = tmp_path / "cert.json", tmp_path / "report.md"
    for _ in range(60):
        mutated = _mutate(raw, rng)
        for variant in (mutated, _resealed(mutated)):
            if variant is None or variant == raw:
                continue
            path.write_bytes(variant)
            code, _, err = run_cli("report", "md", path, "-o", out)
            assert code in (0, 2) and "E999" not in err and "Traceback" not in err, err
            if code == 2:
                assert err.count("\n") == 1 and err.startswith("ERROR [INVARLOCK:E60"), err
            elif "NOT VERIFIED" not in out.read_text(encoding="utf-8"):
                # Shown as verified: only a resealed forgery, or bytes that decode to the very same certificate.
                assert variant != mutated or c.to_bytes(c.from_bytes(variant)) == raw


@pytest.mark.parametrize("fmt", ["html", "md"])
@pytest.mark.parametrize(("hidden", "shown"), [("\x1b[31m", "\\x1b"), ("\u202e", "\\u202e"), ("\u2066", "\\u2066")])
def test_a_control_or_bidi_character_in_a_certificate_string_is_shown_as_its_escape(fmt, hidden, shown):
    # ESC once reached the Markdown file raw (colouring a terminal that `cat`s it); U+202E showed a ref reversed.
    page = render_report(fake_certificate(f"org/model{hidden}-int8"), fmt)
    assert hidden not in page
    assert (md_escape(shown) if fmt == "md" else shown) in page


def test_the_report_states_a_model_s_runtime_device_map_unmapped_weights_gguf_and_graph_digests(passing):
    """They were in the certificate and in neither report: a GGUF file's sha256 is what a llama.cpp user ships (the
    real-checkpoint hunt). Resealed: the report renders what the certificate states (verify flags the change)."""
    gguf = GGUFSource(
        file_sha256="1" * 64, tensor_types={"Q4_1": 3}, tensor_types_sha256="2" * 64, metadata_sha256="3" * 64
    )
    subject = msgspec.structs.replace(
        passing.subject,
        runtime="onnxruntime 1.32.0 CPUExecutionProvider",
        device_map={"model.layers.0": "cpu", "model.layers.1": "disk", "lm_head": "cpu"},
        unmapped={"w": "an int8 weight"},
        gguf=gguf,
        graph_sha256="4" * 64,
    )
    page = render_report(resealed(msgspec.structs.replace(passing, subject=subject)), "md")
    assert "| runtime | torch | onnxruntime 1.32.0 CPUExecutionProvider |" in page
    assert "| device\\_map | — | 2 on cpu, 1 on disk |" in page
    assert "| unmapped weights | — | 1 (not measured by the weight guards) |" in page
    for name, digest in (("file", "1"), ("tensor types", "2"), ("metadata", "3")):
        assert f"| subject GGUF {name} | {digest * 64} |" in page
    assert "baseline GGUF" not in page
    assert f"| subject graph | {'4' * 64} |" in page and "baseline graph" not in page


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_a_reused_baseline_is_shown_with_its_source_run(passing, fmt):
    """A report of a run that copied the baseline's scores, guard measurements and variance taps never said so
    (the reports hunt, stop 71)."""
    refs = [EventRef(seq=3, hash="ab" * 32), EventRef(seq=4, hash="cd" * 32)]
    scoring = [
        c.BaselineScoring(arm="preview", source_run_id="src-1", reused=True, scoring_key="k", source_events=refs),
        c.BaselineScoring(arm="final", source_run_id="src-1", reused=False, reason="the subject measures KL"),
    ]
    provenance = msgspec.structs.replace(
        passing.provenance,
        baseline_scoring=scoring,
        guard_baseline=c.GuardBaseline(source_run_id="src-2", guard_key="g", source_events=refs[:1]),
        variance_baseline=c.VarianceBaseline(source_run_id="src-3", scoring_key="k", source_events=refs),
    )
    page = render_report(resealed(passing, provenance=provenance), fmt)
    for said in (
        "reused from run src-1 (2 events)",
        "scored again: the subject measures KL",
        "reused from run src-2 (1 event)",
        "reused from run src-3 (2 events)",
    ):
        assert said in page, said
    assert "scored and measured in this run" in render_report(passing, fmt)
