"""The primary metric is reached only through domain/metrics: no other module computes a paired statistic or
its interval, or names a metric kind, so a new kind plugs in without touching the pipeline, build or verify."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATISTICS = {"paired_summary", "bca_interval", "bootstrap_key"}
# The variance guard's A/B test and the guard chain's sample keys use the same pinned bootstrap for their own
# statistics; they are guards, not the primary metric.
GUARD_USERS = {"domain/guards/variance.py", "domain/guards/chain.py"}


def _modules() -> list[Path]:
    return sorted(p for layer in ("domain", "application") for p in (ROOT / layer).rglob("*.py"))


def _outside_metrics(path: Path) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return not rel.startswith("domain/metrics/") and rel not in {"domain/stats.py", *GUARD_USERS}


def test_only_the_metrics_package_computes_the_primary_metrics_statistics():
    offenders = []
    for path in filter(_outside_metrics, _modules()):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and STATISTICS & {a.name for a in node.names}:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


# The policy holds a kind's own thresholds in a section named like the kind (Policy.accuracy, policy.SECTIONS).
KIND_SECTIONS = {"domain/policy.py"}


def test_no_module_outside_the_metrics_package_names_a_metric_kind():
    # accuracy as a literal: `baseline_accuracy` is a field, not a kind
    kinds = ("ppl_causal", "ppl_mlm", "embedding_cosine", '"accuracy"')
    named = [
        str(p.relative_to(ROOT))
        for p in filter(_outside_metrics, _modules())
        if p.relative_to(ROOT).as_posix() not in KIND_SECTIONS and any(k in p.read_text() for k in kinds)
    ]
    assert named == []
