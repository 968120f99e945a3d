"""Where verify says two certificates differ: a certificate rebuilt from events holds tuples where its JSON has
lists, and every altered field after `policy` was located at policy.resolved.guard_order (stop-62 precision hunt)."""

from __future__ import annotations

from invarlock.application.verification.verify_report import diff


def test_a_tuple_and_a_list_of_the_same_values_do_not_differ() -> None:
    stated = {"policy": {"guard_order": ["invariants", "spectral"]}, "provenance": {"output": {"dir": "x"}}}
    rebuilt = {"policy": {"guard_order": ("invariants", "spectral")}, "provenance": {"output": {"dir": "y"}}}
    assert diff(stated, rebuilt, "certificate") == "certificate.provenance.output.dir"
    assert diff([1.0, 2.0], (1.0, 2.0), "x") is None
    assert diff([1.0, 2.0], (1.0, 2), "x") == "x[1]"  # an int is still not its float


def test_a_zero_of_the_other_sign_differs() -> None:
    """`-0.0 == 0.0` in Python, so a resealed certificate stating ci [-0.0, -0.0] where the evidence gives
    [0.0, 0.0] verified (the statistics hunt); the values are compared bit for bit, as the digest reads them."""
    assert diff({"ci": [0.0, 0.0]}, {"ci": (-0.0, 0.0)}, "primary_metric") == "primary_metric.ci[0]"
    assert diff({"delta": -0.0}, {"delta": -0.0}, "m") is None and diff(0.0, 0.0, "m") is None
