"""The ReportRenderer contract, run against every renderer (HTML and Markdown).

A new renderer (PDF, JSON summary, ...) joins the suite with one entry in `RENDERERS`: its format name and a
function `() -> ReportRenderer`. Every test below then runs on it too.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import msgspec
import pytest
from invarlock.adapters.report.renderers import HTMLReportRenderer, MarkdownReportRenderer
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.ports.report import ReportRenderer

from tests.fakes.certificates import EVIL_REF, fake_certificate
from tests.fakes.kind_certificates import (
    accuracy_certificate,
    embedding_certificate,
    kl_certificate,
    unknown_kind_certificate,
)

RENDERERS: dict[str, Callable[[], ReportRenderer]] = {"html": HTMLReportRenderer, "md": MarkdownReportRenderer}


@pytest.fixture(params=sorted(RENDERERS))
def renderer(request: pytest.FixtureRequest) -> ReportRenderer:
    return RENDERERS[request.param]()


@pytest.fixture(scope="module")
def cert() -> c.Certificate:
    return fake_certificate()


def test_a_certificate_renders_to_the_same_text_in_memory_and_decoded_from_its_file(
    renderer: ReportRenderer, cert: c.Certificate
) -> None:
    page = renderer.render(cert, [])
    assert page == renderer.render(c.from_bytes(c.to_bytes(cert)), [])
    assert cert.digest in page and cert.run_id in page


def test_each_failure_is_shown_as_not_verified_with_its_check_name(
    renderer: ReportRenderer, cert: c.Certificate
) -> None:
    assert "NOT VERIFIED" not in renderer.render(cert, [])
    page = renderer.render(cert, [("digest", "recomputed digest differs"), ("guard_order", "dropped")])
    assert "NOT VERIFIED: digest" in page and "NOT VERIFIED: guard" in page


def test_a_hostile_string_from_the_certificate_appears_only_escaped(renderer: ReportRenderer) -> None:
    page = renderer.render(fake_certificate(EVIL_REF), [("x", EVIL_REF)])
    assert EVIL_REF not in page and "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_member_of_a_shape_the_layout_does_not_expect_is_E601_not_a_traceback(
    renderer: ReportRenderer, cert: c.Certificate
) -> None:
    with pytest.raises(UsageError) as err:
        renderer.render(msgspec.structs.replace(cert, evidence=None), [])
    assert err.value.code == "E601" and err.value.message.startswith("certificate cannot be reported:")


NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
KINDS: dict[str, Callable[[], c.Certificate]] = {
    "ppl_causal with KL and top-1": kl_certificate,
    "accuracy": accuracy_certificate,
    "embedding_cosine": embedding_certificate,
    "a kind no layout knows": unknown_kind_certificate,
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_metric_kind_renders_its_kind_unit_and_every_stated_statistic_rounded(
    renderer: ReportRenderer, kind: str
) -> None:
    cert = KINDS[kind]()
    page = renderer.render(cert, [])
    pm = cert.primary_metric
    assert pm.kind.replace("_", "\\_") in page or pm.kind in page
    assert pm.unit in page and cert.digest in page
    assert pm.final is not None
    shown = [float(n) for n in NUMBER.findall(page)]
    for name in c.ArmMetric.__struct_fields__:
        value = getattr(pm.final, name)
        if isinstance(value, float):  # shown rounded, to at least three significant digits (or 0.01)
            assert any(abs(x - value) <= max(5e-3 * abs(value), 5e-3) for x in shown), name
