"""An evidence arm holds the NLL columns its kind's runs record: accuracy and embedding runs score no token
likelihood, so NLL sums in their evidence are made up (the forgery hunt: plain verify passed an accuracy
certificate given +89 nats a token per window, and its report drew them as a verified ΔlogNLL histogram); a
perplexity run always records them."""

from __future__ import annotations

import msgspec
import pytest
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c

from tests.fakes.certificates import resealed
from tests.fakes.kind_certificates import accuracy_certificate, embedding_certificate, kl_certificate


def _with_nll(cert: c.Certificate, baseline: float | None, subject: float | None) -> c.Certificate:
    arms = {}
    for name in ("preview", "final"):
        arm = getattr(cert.evidence, name)
        n = len(arm.window_ids)
        columns = {"baseline_nll": None if baseline is None else [baseline] * n}
        columns["subject_nll"] = None if subject is None else [subject] * n
        arms[name] = msgspec.structs.replace(arm, **columns)
    return resealed(cert, evidence=msgspec.structs.replace(cert.evidence, **arms))


@pytest.mark.parametrize(
    ("made", "kind"), [(accuracy_certificate, "accuracy"), (embedding_certificate, "embedding_cosine")]
)
def test_nll_columns_in_the_evidence_of_a_kind_that_scores_none_fail_verify(made, kind: str) -> None:
    cert = made()
    assert _evidence_check(cert) == (True, "columns aligned, values finite")
    report = verify_certificate(_with_nll(cert, 1.0, 90.0))
    assert report.exit_code == 3
    assert _evidence_check(_with_nll(cert, 1.0, 90.0)) == (
        False,
        f"evidence.preview: NLL columns, which {kind} runs do not score",
    )


def test_a_perplexity_arm_without_its_nll_columns_fails_verify() -> None:
    cert = kl_certificate()  # comparisons beside the NLL columns: an arm left with only those is no ppl run's
    assert _evidence_check(cert) == (True, "columns aligned, values finite")
    said = "evidence.preview: no NLL columns, which every ppl_causal run records"
    assert _evidence_check(_with_nll(cert, None, None)) == (False, said)
    assert verify_certificate(_with_nll(cert, None, None)).exit_code == 3


def _evidence_check(cert: c.Certificate) -> tuple[bool, str]:
    [check] = [ch for ch in verify_certificate(cert).checks if ch.name == "evidence"]
    return check.ok, check.detail
