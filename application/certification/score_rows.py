"""What a model's scoring hands the run, checked before anything is recorded.

ModelRunner (ports/model.py) yields one WindowScore, or one PairedScore, per window it was given: the window's
id, the token count the run's metric kind scores in a window (`Metric.scored_tokens`, which verify requires of
every row) and a finite NLL sum that is never negative (each token's −log p is ≥ 0). Numpy scalars are taken
as the numbers they hold. A model that yields anything else (a third-party adapter's, usually) is refused
naming its adapter and distribution, before a number it had no right to give is recorded: a window it was not
given, one twice or not at all, a count or an NLL that is no number, a negative NLL (which turns a degradation
into an improvement), a token count its kind does not score."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.events import ComparedRow
from invarlock.domain.metrics import recorded_metric
from invarlock.domain.metrics.answers import checked_scored_tokens
from invarlock.domain.metrics.secondary import KlRow, consistent, kl_row
from invarlock.domain.model import PairedScore, WindowComparison, WindowScore
from invarlock.domain.numpy_scalars import plain_number
from invarlock.domain.run import RunState
from invarlock.domain.windows import TokenWindow

S = TypeVar("S", WindowScore, WindowComparison)


Run = tuple[Mapping[str, Any], Mapping[str, str]]  # a run's recorded config and provenance environment


def _run(state: RunState | Run) -> Run:
    return (state.started.config, state.started.environment) if isinstance(state, RunState) else state


def adapter_of(state: RunState | Run, role: str) -> tuple[str, str | None]:
    """The adapter name that scored for `role` and its plugin distribution ("badplug 1.0"), None if built-in."""
    config, environment = _run(state)
    section = config.get("subject") if role.startswith("subject") and isinstance(config.get("subject"), dict) else None
    model = section if section is not None else config.get("model")
    name = str(model.get("adapter")) if isinstance(model, dict) else "?"
    return name, environment.get(f"plugin.adapters.{name}")


SCORES = "one score per window given, in nats, for the tokens the metric kind scores"


def model_fault(adapter: str, origin: str | None, what: str, rule: str) -> UsageError:
    """E223 `adapter plugin 'NAME' (DIST VERSION): its model's WHAT` (`adapter 'NAME'` for a built-in, whose
    fault is InvarLock's to fix); the hint says what to do about it, then the port's `rule`."""
    who = f"adapter plugin '{adapter}' ({origin})" if origin else f"adapter '{adapter}'"
    fix = f"fix or uninstall {origin.partition(' ')[0]}" if origin else "report it"
    return UsageError("E223", f"{who}: its model's {what}", f"{fix}; {rule}")


def adapter_fault(state: RunState | Run, role: str, method: str, what: str, rule: str = SCORES) -> UsageError:
    """E223 naming the adapter that loaded `role`'s model (and its plugin distribution): its `method` `what`;
    the hint quotes the port's `rule` (ports/model.py)."""
    name, origin = adapter_of(state, role)
    return model_fault(name, origin, f"{method} {what}", f"ports/model.py: {rule}")


def _plain(value: Any) -> Any:
    """Numpy scalars (inside tuples too) as the Python numbers they hold."""
    return [_plain(v) for v in value] if isinstance(value, (tuple, list)) else plain_number(value)


def _strict(value: object, kind: type[S], fault: Any) -> S:
    """`value` as a `kind` of plain Python numbers (a numpy scalar becomes its number; a bool, a string or a
    fraction where an int belongs is refused)."""
    if not isinstance(value, kind):
        raise fault(f"yielded {type(value).__name__} where a {kind.__name__} belongs")
    fields = {k: _plain(v) for k, v in msgspec.structs.asdict(value).items()}
    try:
        return msgspec.convert(fields, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise fault(f"yielded a {kind.__name__} that is not one: {exc}") from None


class _Checker:
    """The checks of one batch: its windows, the metric's token count, and who to name when one fails."""

    def __init__(self, state: RunState | Run, role: str, method: str, batch: Sequence[TokenWindow]) -> None:
        self.state, self.role, self.method, self.batch = state, role, method, batch
        config = _run(state)[0]
        metric = recorded_metric(config)
        self.kind = metric.kind
        found = metric.scored_tokens(int(config["dataset"]["seq_len"]))
        self.want, self.rule = checked_scored_tokens(metric.kind, found)

    def fault(self, what: str, rule: str = SCORES) -> UsageError:
        return adapter_fault(self.state, self.role, self.method, what, rule)

    def ids(self, found: Sequence[object]) -> list[int]:
        """The window id of each of `found`, every window of the batch exactly once."""
        got = [_plain(getattr(f, "window_id", None)) for f in found]
        bad = [i for i in got if type(i) is not int]
        if bad:
            raise self.fault(f"yielded a window id that is not an int ({bad[0]!r})")
        given = [w.window_id for w in self.batch]
        if sorted(got) == sorted(given):
            return got
        unknown = sorted(set(got) - set(given))
        twice = sorted({i for i in got if got.count(i) > 1})
        missing = sorted(set(given) - set(got))
        if unknown:
            raise self.fault(f"scored window {unknown[0]}, which it was not given")
        if twice:
            raise self.fault(f"scored window {twice[0]} twice")
        raise self.fault(f"yielded {len(got)} scores for {len(given)} windows (none for window {missing[0]})")

    def score(self, found: object, window_id: int, part: str) -> WindowScore:
        score = _strict(found, WindowScore, self.fault)
        if score.window_id != window_id:
            raise self.fault(f"yielded a {part} score of window {score.window_id} in the row of window {window_id}")
        if not math.isfinite(score.nll_sum):
            name, origin = adapter_of(self.state, self.role)
            plugin = f", or the adapter plugin '{name}' ({origin})" if origin else ""
            raise AbortError("E402", f"window {window_id} has a non-finite NLL", f"check the model's weights{plugin}")
        if score.nll_sum < 0:
            raise self.fault(f"scored a negative NLL sum ({score.nll_sum!r}) for window {window_id}")
        if score.tokens_scored != self.want:
            raise self.fault(
                f"scored {score.tokens_scored} tokens of window {window_id}; eval.metric.kind {self.kind} scores "
                f"{self.rule} = {self.want}"
            )
        return score


def checked_scores(
    state: RunState | Run, role: str, batch: Sequence[TokenWindow], scores: Iterable[object], method: str = "score()"
) -> list[WindowScore]:
    """`scores` (ModelRunner.score of `batch` for `role`, or the `method` that also scores) as plain
    WindowScores, one per window of `batch`."""
    check = _Checker(state, role, method, batch)
    found = list(scores)
    for s in found:
        if not isinstance(s, WindowScore):
            raise check.fault(f"yielded {type(s).__name__} where a WindowScore belongs")
    return [check.score(s, i, role) for s, i in zip(found, check.ids(found), strict=True)]


class ArmMeasures:
    """Whether the windows of one arm carry the KL/top-1 measures, as its first window scored did (recorded
    before a resume, or checked since): the certificate reads them on every window of an arm or on none, so
    each batch's must agree with the first's."""

    def __init__(self, recorded: Iterable[ComparedRow] = ()) -> None:
        first = next(iter(recorded), None)
        self.first = None if first is None else (first.comparison.window_id, kl_row(first.comparison) is not None)

    def check(self, check: _Checker, rows: Mapping[int, KlRow | None]) -> None:
        """`rows` (a batch's measures by window, None where it has none) measured as the arm's first window."""
        if not rows:
            return
        wid, measured = next(iter(rows.items()))
        if self.first is None:
            self.first = (wid, measured is not None)
        first, was = self.first
        other = next((w for w, r in rows.items() if (r is not None) != was), None)
        if other is not None:
            yes, no = (first, other) if was else (other, first)
            raise check.fault(f"yielded KL/top-1 measures of window {yes} but not of window {no}", KL)


def checked_pairs(
    state: RunState | Run, batch: Sequence[TokenWindow], pairs: Iterable[object], arm: ArmMeasures | None = None
) -> list[PairedScore]:
    """`pairs` (ModelRunner.score_pair of `batch`) as plain PairedScores, one per window of `batch`, each part
    naming its row's window; their KL/top-1 measures on all of them or none, as on the `arm`'s earlier batches.
    `state` is the run's, or its (config, environment) as a certificate states them."""
    check = _Checker(state, "baseline", "score_pair()", batch)
    found = list(pairs)
    for p in found:
        if not isinstance(p, PairedScore):
            raise check.fault(f"yielded {type(p).__name__} where a PairedScore belongs")
    checked = []
    for p, wid in zip(found, check.ids(found), strict=True):
        assert isinstance(p, PairedScore)
        base = None if p.baseline is None else check.score(p.baseline, wid, "baseline")
        subj = None if p.subject is None else check.score(p.subject, wid, "subject")
        comparison = None if p.comparison is None else _strict(p.comparison, WindowComparison, check.fault)
        if comparison is not None and comparison.window_id != wid:
            raise check.fault(f"yielded the comparison of window {comparison.window_id} in the row of window {wid}")
        checked.append(PairedScore(window_id=wid, baseline=base, subject=subj, comparison=comparison))
    _check_kl(check, checked, arm or ArmMeasures())
    return checked


KL = "a window's KL/top-1 measures are all set or none, and obey the identities of domain/metrics/secondary.py"


def _check_kl(check: _Checker, pairs: list[PairedScore], arm: ArmMeasures) -> None:
    """The batch's KL/top-1 measures as the certificate's secondary metrics read them: on every window of the
    arm or on none, and each window's consistent (a histogram counting its positions, agreements within them, ...)."""
    rows = {p.window_id: kl_row(p.comparison) for p in pairs}
    arm.check(check, rows)
    bad = next((wid for wid, r in rows.items() if r is not None and not consistent(r)), None)
    if bad is not None:
        raise check.fault(f"yielded KL/top-1 measures of window {bad} that contradict each other", KL)
