"""Secondary metrics (KL, top-1/top-5 agreement) on the fakes: the quantile rule, the shared bootstrap index
matrix, the optional per-tier gates, and verify catching every resealed edit of the measures or summaries."""

from __future__ import annotations

import itertools
import json
import math

import msgspec
import numpy as np
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import EvalConfig, ModelConfig, SecondaryConfig
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain import stats
from invarlock.domain.metrics import kl_bins
from invarlock.domain.policy import policy_digest, resolve_policy
from invarlock.domain.stats import bootstrap_key, ratio_interval, resample_indices

from tests.unit.conftest import small_config

Doc = dict  # the certificate's JSON


def _issue(services, subject: str = "int8ish", gate: bool = False) -> c.Certificate:  # type: ignore[no-untyped-def]
    config = msgspec.structs.replace(small_config(), eval=EvalConfig(secondary=SecondaryConfig(gate=gate)))
    request = CertifyRequest("certify", config, ModelConfig(id=subject), tier="balanced", profile="dev")
    return certify_edit(request, services).certificate


def _reseal(doc: Doc) -> c.Certificate:
    cert = c.from_bytes(json.dumps(doc).encode())
    return c.seal(cert)


def _failed(cert: c.Certificate) -> tuple[list[str], int]:
    report = verify_certificate(cert)
    return [ch.name for ch in report.checks if not ch.ok], report.exit_code


def test_the_bins_are_101_increasing_decimal_edges_from_1e_8_to_1e2() -> None:
    edges = kl_bins.EDGES
    assert len(edges) == 101 and kl_bins.BINS == 102
    assert edges[0] == 1e-8 and edges[-1] == 1e2 and all(a < b for a, b in itertools.pairwise(edges))
    assert all(math.isclose(b / a, 10**0.1, rel_tol=1e-2) for a, b in itertools.pairwise(edges))


def test_quantiles_are_the_upper_edge_of_the_bin_of_the_ranked_token_capped_by_the_largest() -> None:
    hist = [0] * kl_bins.BINS
    hist[0], hist[11], hist[41] = 50, 40, 10  # 50 tokens below 1e-8, 40 in [1e-7, 1.26e-7), 10 in [1e-4, 1.26e-4)
    assert kl_bins.quantile(hist, 0.5, 1.1e-4) == 1e-8
    assert kl_bins.quantile(hist, 0.51, 1.1e-4) == 1.26e-7
    assert kl_bins.quantile(hist, 0.9, 1.1e-4) == 1.26e-7
    assert kl_bins.quantile(hist, 0.91, 1.1e-4) == 1.1e-4  # the bin's upper edge 1.26e-4 exceeds the largest
    only_zero = [100] + [0] * (kl_bins.BINS - 1)
    assert kl_bins.quantile(only_zero, 0.99, 0.0) == 0.0


def test_identical_subject_has_zero_kl_and_full_agreement_with_degenerate_intervals(services) -> None:  # type: ignore[no-untyped-def]
    sm = _issue(services, subject="same").secondary_metrics
    assert sm is not None and sm.arm == "final"
    assert (sm.kl_divergence.mean, sm.kl_divergence.ci, sm.kl_divergence.max) == (0.0, (0.0, 0.0), 0.0)
    assert (sm.kl_divergence.median, sm.kl_divergence.p99) == (0.0, 0.0)
    assert (sm.top1_agreement.top1, sm.top1_agreement.ci, sm.top1_agreement.top5_overlap) == (
        100.0,
        (100.0, 100.0),
        100.0,
    )


def test_the_summary_is_the_token_weighted_mean_of_the_final_arms_measures(services) -> None:  # type: ignore[no-untyped-def]
    cert = _issue(services)
    rows = cert.evidence.final.comparisons  # type: ignore[union-attr]
    sm = cert.secondary_metrics
    assert rows is not None and sm is not None
    tokens = sum(m.positions for m in rows)
    assert sm.kl_divergence.tokens == sm.top1_agreement.tokens == tokens
    assert sm.kl_divergence.mean == pytest.approx(sum(m.kl_sum for m in rows) / tokens, rel=1e-12)  # type: ignore[misc]
    assert sm.top1_agreement.top1 == pytest.approx(100 * sum(m.top1_agree for m in rows) / tokens, rel=1e-12)  # type: ignore[misc]
    assert sm.kl_divergence.ci[0] <= sm.kl_divergence.mean <= sm.kl_divergence.ci[1]
    assert sm.top1_agreement.ci[0] <= sm.top1_agreement.top1 <= sm.top1_agreement.ci[1]
    assert sm.kl_divergence.max == max(m.kl_max for m in rows)  # type: ignore[type-var]
    assert sm.quantile_rule == kl_bins.QUANTILE_RULE


def test_the_intervals_resample_the_primary_metrics_index_matrix_drawn_once(services) -> None:  # type: ignore[no-untyped-def]
    cert = _issue(services)
    key = bootstrap_key(cert.bootstrap.seed, cert.dataset.window_plan_digest, "final")
    assert key.hex() == cert.bootstrap.key
    n = len(cert.evidence.final.window_ids)  # type: ignore[union-attr]
    first = resample_indices(key, cert.bootstrap.replicates, n)
    assert resample_indices(key, cert.bootstrap.replicates, n) is first and not first.flags.writeable
    # The matrix is the one the primary interval used: the same interval comes out of it for the same data.
    final = cert.evidence.final
    assert final is not None
    base, subj = final.nll()
    primary = stats.bca_interval(
        np.asarray(final.tokens_scored), np.asarray(base), np.asarray(subj), key=key, replicates=500, alpha=0.05
    )
    diffs = np.asarray(subj) - np.asarray(base)
    same = ratio_interval(np.asarray(final.tokens_scored), diffs, key=key, replicates=500, alpha=0.05)
    assert (same.lo, same.hi, same.method) == (primary.lo, primary.hi, primary.method)
    assert cert.primary_metric.ci == (primary.lo, primary.hi)


def test_secondary_flags_are_not_applicable_unless_the_config_gates_them(services) -> None:  # type: ignore[no-untyped-def]
    cert = _issue(services)
    assert cert.validation["kl_divergence_acceptable"] == "not_applicable"
    assert cert.validation["top1_agreement_acceptable"] == "not_applicable"
    assert "secondary" not in cert.policy.resolved
    gated = _issue(services, gate=True)
    assert gated.policy.resolved["secondary"] == msgspec.to_builtins(
        resolve_policy("balanced", "dev", secondary_gate=True).secondary
    )
    assert (
        gated.validation["kl_divergence_acceptable"] is True and gated.validation["top1_agreement_acceptable"] is True
    )
    assert _failed(gated) == ([], 0)


def test_a_gated_subject_beyond_the_tier_limits_fails_both_secondary_flags(services) -> None:  # type: ignore[no-untyped-def]
    cert = _issue(services, subject="broken", gate=True)  # rolls back at preview: gated on the preview arm
    sm = cert.secondary_metrics
    assert sm is not None and sm.arm == "preview"
    assert (
        cert.validation["kl_divergence_acceptable"] is False and cert.validation["top1_agreement_acceptable"] is False
    )
    failed = {f.flag for f in cert.verdict.failed}
    assert {"kl_divergence_acceptable", "top1_agreement_acceptable"} <= failed
    assert _failed(cert)[1] == 1


def test_the_optional_section_leaves_every_ungated_policy_digest_unchanged() -> None:
    for tier in ("conservative", "balanced", "aggressive"):
        plain = resolve_policy(tier, "ci")
        assert "secondary" not in msgspec.to_builtins(plain)
        assert policy_digest(resolve_policy(tier, "ci", secondary_gate=True)) != policy_digest(plain)


def _edit_first_final_row(doc: Doc, field: str, value: object) -> None:
    doc["evidence"]["final"]["comparisons"][0][field] = value


@pytest.mark.parametrize(
    ("mutate", "check"),
    [
        (
            lambda d: _edit_first_final_row(d, "kl_sum", d["evidence"]["final"]["comparisons"][0]["kl_sum"] * 0.5),
            "secondary_metrics",
        ),
        (
            lambda d: _edit_first_final_row(
                d, "top1_agree", d["evidence"]["final"]["comparisons"][0]["top1_agree"] - 1
            ),
            "secondary_metrics",
        ),
        (
            lambda d: _edit_first_final_row(
                d, "top5_overlap", d["evidence"]["final"]["comparisons"][0]["top5_overlap"] - 1
            ),
            "secondary_metrics",
        ),
        (lambda d: _edit_first_final_row(d, "kl_max", 50.0), "secondary_metrics"),
        (lambda d: _edit_first_final_row(d, "window_id", 10**6), "comparisons"),
        (lambda d: d["secondary_metrics"]["kl_divergence"].__setitem__("mean", 1e-9), "secondary_metrics"),
        (lambda d: d["secondary_metrics"]["kl_divergence"].__setitem__("p99", 1e-9), "secondary_metrics"),
        (lambda d: d["secondary_metrics"]["top1_agreement"].__setitem__("ci", [99.0, 100.0]), "secondary_metrics"),
        (lambda d: d.__setitem__("secondary_metrics", None), "secondary_metrics"),
        (lambda d: d["validation"].__setitem__("kl_divergence_acceptable", True), "validation"),
        (lambda d: d["validation"].pop("top1_agreement_acceptable"), "validation"),
    ],
    ids=[
        "kl_sum",
        "top1_agree",
        "top5_overlap",
        "kl_max",
        "window_id",
        "mean",
        "p99",
        "top1_ci",
        "dropped",
        "flag",
        "flag_dropped",
    ],
)
def test_a_resealed_edit_of_the_measures_or_the_summary_fails_verify_with_exit_3(services, mutate, check) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(c.to_bytes(_issue(services)))
    mutate(doc)
    failed, code = _failed(_reseal(doc))
    assert check in failed and code == 3, failed


def test_removing_the_secondary_gate_from_a_gated_policy_is_caught(services) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(c.to_bytes(_issue(services, gate=True)))
    policy = resolve_policy("balanced", "dev")
    doc["policy"] = {"resolved": msgspec.to_builtins(policy), "digest": policy_digest(policy)}
    for flag in ("kl_divergence_acceptable", "top1_agreement_acceptable"):
        doc["validation"][flag] = "not_applicable"
    failed, code = _failed(_reseal(doc))
    assert "secondary_gate" in failed and code == 3


def _preview_row(doc: Doc, **values: object) -> None:
    doc["evidence"]["preview"]["comparisons"][0].update(values)


def _every_row(doc: Doc, arm: str, **values: object) -> None:
    """Every row of `arm` changed alike: a measure set to None in each read as "no measures" (stop-62 hunt)."""
    for row in doc["evidence"][arm]["comparisons"]:
        row.update(values)


def _strip_final(doc: Doc) -> None:
    doc["evidence"]["final"]["comparisons"] = None
    doc["secondary_metrics"] = None


@pytest.mark.parametrize(
    ("mutate", "said"),
    [
        (lambda d: _preview_row(d, top1_agree=-5), "evidence.preview.comparisons: window"),
        (lambda d: _preview_row(d, kl_sum=1e308, kl_max=-1e308), "evidence.preview.comparisons: window"),
        (_strip_final, "evidence.final.comparisons is missing where evidence.preview has them"),
        (lambda d: d["evidence"]["preview"].__setitem__("comparisons", None), "evidence.preview.comparisons is"),
        (lambda d: _every_row(d, "preview", top1_agree=-5, kl_sum=None), "evidence.preview.comparisons: the row"),
        (lambda d: _every_row(d, "final", kl_histogram=None), "evidence.final.comparisons: the row of window"),
    ],
    ids=["preview_top1", "preview_kl", "final_stripped", "preview_stripped", "preview_partial", "final_partial"],
)
def test_both_arms_measures_are_checked_not_only_the_gated_arms(services, mutate, said) -> None:  # type: ignore[no-untyped-def]
    """The preview arm's KL/top-1 measures were never checked (top1_agree -5 passed), and a final arm stripped of
    its measures and the secondary metrics with the preview's kept passed: the stop-62 statistics hunt."""
    doc = json.loads(c.to_bytes(_issue(services)))
    mutate(doc)
    report = verify_certificate(_reseal(doc))
    [check] = [ch for ch in report.checks if ch.name == "comparisons"]
    assert not check.ok and check.detail.startswith(said) and report.exit_code == 3, check.detail
