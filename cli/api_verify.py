"""The Python API behind `invarlock.verify`, `replay`, `load_certificate` and `render_report` (docs/python-api.md).

The CLI's verify, replay and report commands are thin layers over these functions; errors are InvarlockErrors
with the CLI's E-codes, and a failed check is in the VerifyReport, not raised. None of them imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, cast

from invarlock.application.replay.replay import replay_certificate
from invarlock.application.report import render_report as render
from invarlock.application.verification.verify import (
    VerifyReport,
    altered,
    integrity_checks,
    verify_certificate,
)
from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.policy import REEXECUTION_DEFAULT_SAMPLE, VERIFY_MAX_REPLICATES, Policy
from invarlock.ports.report import ReportFormat
from invarlock.ports.store import RunIndex

from . import api_arguments as args
from .bootstrap import DEFAULT_EVENTS, load_verifier, open_store, plugin_registry, report_renderer
from .inputs import MAX_CERTIFICATE_BYTES, read_input_file
from .plugin_guards import require_plugin_guards, version_notes
from .plugin_metrics import require_metric_kind, require_recorded_kind
from .recipient_policy import recipient_policy
from .reexecute import ReexecutionOptions, audit_certificate, audit_request, require_subject
from .stopped_runs import naming_the_searched_store
from .version import tool_version

PathLike = str | os.PathLike[str]


def load_certificate(path: PathLike) -> c.Certificate:
    """Read and strictly decode a certificate file (UsageError E600 unreadable, E601 not a certificate)."""
    return _read(args.path_text("path", path))[0]


def _read(path: PathLike) -> tuple[c.Certificate, bytes]:
    raw = read_input_file(os.fspath(path), what="certificate", code="E600", max_bytes=MAX_CERTIFICATE_BYTES)
    return c.from_bytes(raw), raw


def require_plugins_unless_altered(cert: c.Certificate, raw: bytes | None) -> None:
    """require_plugins, for a certificate whose bytes, digest and signature's form are intact: an altered one is
    void, and what it names is never asked of the recipient (a forged plugin name read "install it")."""
    if not altered(cert, integrity_checks(cert, verifier=None, require_signature=False, raw=raw)):
        require_plugins(cert)


def require_plugins(cert: c.Certificate) -> None:
    """E222 when the plugin that computed the certificate's metric kind or one of its guards is not installed:
    without its code nothing can be recomputed, which is the verifier's environment, not the certificate, failing."""
    require_metric_kind(cert.primary_metric.kind, cert.provenance.environment, plugin_registry())
    require_plugin_guards(cert.provenance.environment, plugin_registry(), cert.provenance.config)


def _policy_source(policy: Policy | Mapping[str, Any] | PathLike | None) -> Policy | Mapping[str, Any] | str | None:
    return policy if policy is None or isinstance(policy, Policy | Mapping) else args.path_text("policy", policy)


def _certificate(certificate: object) -> c.Certificate | str:
    """A Certificate object checked as a file's would be (E601: a struct built in Python, not decoded, may hold
    None where a section belongs, or a NaN), or the path of one."""
    if isinstance(certificate, c.Certificate):
        return c.from_bytes(_encoded(certificate))
    return args.path_text("certificate", certificate)


def _encoded(cert: c.Certificate) -> bytes:
    """The bytes a file of `cert` would hold; E601 for a struct no file can hold (a NaN, a non-text key, text that
    is not UTF-8, a value that holds itself or nests past Python's limit: a raw error or E402 before)."""
    try:
        return c.to_bytes(cert)
    except (InvarlockError, TypeError, ValueError, OverflowError, RecursionError, UnicodeError) as exc:
        what = exc.message if isinstance(exc, InvarlockError) else f"{type(exc).__name__}: {exc}"
        said = f"schema check failed: the Certificate object cannot be written as a file: {what[:200]}"
        raise UsageError("E601", said, "build it with the fields a certificate file holds") from None


def _audit_options(
    models: Mapping[str, str],
    sample: int | str | None,
    seed: int | None,
    device: str | None,
    how: tuple[bool, bool],
) -> ReexecutionOptions:
    unknown = sorted(set(models) - {"baseline", "subject"})
    if unknown:
        raise UsageError("E200", f"models has unknown key '{unknown[0]}'", "use {'baseline': REF, 'subject': REF}")
    text = None if str(sample) == str(REEXECUTION_DEFAULT_SAMPLE) else "all" if sample is None else str(sample)
    exact, sequential = how
    return ReexecutionOptions(models.get("baseline"), models.get("subject"), text, seed, device, exact, sequential)


def verify_into(
    report: VerifyReport,
    certificate: c.Certificate | PathLike,
    *,
    policy: Policy | Mapping[str, Any] | PathLike | None = None,
    tier: str | None = None,
    profile: str | None = None,
    events: PathLike | None = None,
    models: Mapping[str, str] | None = None,
    sample: int | str | None = REEXECUTION_DEFAULT_SAMPLE,
    sample_seed: int | None = None,
    device: str | None = None,
    exact: bool = False,
    sequential: bool = False,
    pubkey: PathLike | None = None,
    require_signature: bool = False,
    max_replicates: int = VERIFY_MAX_REPLICATES,
    notes: list[str] | None = None,
) -> VerifyReport:
    """`verify`, adding its checks to `report` (so that a caller keeps the checks made before an error) and to
    `notes` a line per plugin whose installed version is not the one the certificate names."""
    audit = audit_request(_audit_options(models or {}, sample, sample_seed, device, (exact, sequential)))
    cert, raw = (certificate, None) if isinstance(certificate, c.Certificate) else _read(certificate)
    require_subject(cert, audit)
    verifier = load_verifier(pubkey) if pubkey is not None else None
    events_path = os.fspath(events) if events is not None else None
    first = integrity_checks(cert, verifier=verifier, require_signature=require_signature, raw=raw)
    if not altered(cert, first):  # an altered certificate's plugins are not asked for: it is void (exit 3) anyway
        require_plugins(cert)
    if notes is not None:
        notes.extend(plugin_notes(cert))
    recipient = recipient_policy(cert, tier, profile, _policy_source(policy))
    store = open_store(events, read_only=True) if events is not None else None
    done = verify_certificate(
        cert,
        recipient=recipient,
        store=store,
        index=cast(RunIndex, store) if store is not None else None,  # the DuckDB store keeps its run index
        verifier=verifier,
        require_signature=require_signature,
        raw=raw,
        max_replicates=max_replicates,
    )
    report.checks.extend(done.checks)
    report.verdict = done.verdict
    audit_certificate(cert, audit, events_path, report)
    return report


def verify(
    certificate: c.Certificate | PathLike,
    *,
    policy: Policy | Mapping[str, Any] | PathLike | None = None,
    tier: str | None = None,
    profile: str | None = None,
    events: PathLike | None = None,
    models: Mapping[str, str] | None = None,
    sample: int | str | None = REEXECUTION_DEFAULT_SAMPLE,
    sample_seed: int | None = None,
    device: str | None = None,
    exact: bool = False,
    sequential: bool = False,
    pubkey: PathLike | None = None,
    require_signature: bool = False,
    max_replicates: int = VERIFY_MAX_REPLICATES,
) -> VerifyReport:
    """Recompute every number, digest and gate of `certificate` (a path or a Certificate) from its evidence.

    `tier`/`profile` or `policy` (a YAML path, the same mapping `{tier, profile, overrides, guards}`, or a
    Policy) re-decide under the recipient's policy; `events` also checks the event chain and replay;
    `models` (`{"baseline": REF, "subject": REF}`) runs the re-execution audit on `sample` windows (None:
    all), every number bit for bit with `exact` (you run the issuer's build), else as the build the certificate
    states allows, holding one model at a time with `sequential` (as it does for a certificate issued so). The
    outcome is in the report (`ok`, `verdict`, `exit_code`, `checks`): a failed check is not an exception. A
    file's bytes must be the canonical encoding; a Certificate object is checked as decoded.

    Raises:
        UsageError: unreadable or malformed certificate (E600/E601), bad policy (E200-E202), bad key or store, an
            argument of another type (E200).
    """
    certificate, models = _certificate(certificate), args.model_refs(models)
    tier, profile, device = (
        args.optional_text(k, v) for k, v in (("tier", tier), ("profile", profile), ("device", device))
    )
    events, pubkey = args.optional_path("events", events), args.optional_path("pubkey", pubkey)
    sample, sample_seed = args.sample_size(sample), args.optional_seed(sample_seed)
    exact, sequential = args.flag("exact", exact), args.flag("sequential", sequential)
    require_signature = args.flag("require_signature", require_signature)
    max_replicates = args.whole("max_replicates", max_replicates, 1)
    return verify_into(
        VerifyReport(), certificate, policy=policy, tier=tier, profile=profile, events=events, models=models,
        sample=sample, sample_seed=sample_seed, device=device, exact=exact, sequential=sequential, pubkey=pubkey,
        require_signature=require_signature,
        max_replicates=max_replicates,
    )  # fmt: skip


def replay(run_id: str, *, events: PathLike = DEFAULT_EVENTS) -> c.Certificate:
    """Rebuild `run_id`'s certificate from its events alone, byte-identical to the issued one (E404 unknown
    run; IntegrityError E603 for a broken chain; E222 when its metric kind's or a guard's plugin is not
    installed)."""
    run_id, events = args.run_id_text(run_id), args.path_text("events", events)
    store = open_store(events, read_only=True)
    with naming_the_searched_store(events):
        require_recorded_kind(store, run_id, plugin_registry())
        return replay_certificate(store, run_id, cast(RunIndex, store), tool_version())  # the store keeps its index


def plugin_notes(cert: c.Certificate) -> list[str]:
    """A line per plugin the certificate names whose installed version differs from the recorded one (verify
    and replay print each as a NOTE: the installed version is what recomputes the certificate)."""
    return version_notes(cert.provenance.environment, plugin_registry())


def render_report(certificate: c.Certificate | PathLike, fmt: ReportFormat = "html") -> str:
    """The certificate as a self-contained HTML page or Markdown (verified first; failures are shown). Raises
    UsageError E222 when a plugin that computed it is not installed."""
    given = _certificate(certificate)
    cert, raw = (given, None) if isinstance(given, c.Certificate) else _read(given)
    require_plugins_unless_altered(cert, raw)
    return render(cert, report_renderer(fmt), raw)
