"""Wall clock of each step of one in-process certification, for benchmarks/certify_overhead.py.

The run goes through the product's own pipeline unchanged; this module only wraps, for the time of the run,
the ports the composition root built (loader, corpus resolver, edits) and a few application functions and
model methods, and sums the seconds spent inside each. Nothing is re-implemented or skipped, so the
certificate is the one an undecorated run issues (the benchmark checks its digests against a re-run of the
forward passes).

Steps (seconds; a step nested in another is listed under it and not added twice):
    tokenizer_load   the preflight reading the tokenizers (no weights)
    corpus_read      opening the corpus (demo text: decompress and strip the wiki markup, once per process)
    tokenize         the whole corpus to one token stream (planning.token_stream)
    plan             windows cut, deduplicated, digested and assigned (planning.plan_stream)
    load             reading the checkpoints (loader.load); `duplicate` the in-memory copy `run` edits
    edit             the edit (e.g. quant_rtn)
    fingerprint      the models' identities (weights, tokenizer and config digests)
    baseline_pass    a sequential run's baseline pass (eval.sequential): its matrices, taps and scores, or, with
                     KL, its body over every window (kept for pairing); the subject's side is in guards and scoring
      baseline_guards  of which the baseline's measurements for the guards (its matrices and calibration taps)
    guards           the guard chain (each GuardEvaluated event also records its own seconds)
      calibration    of which the variance guard's calibration-arm forward passes (activation_stats/_taps; in a
                     sequential run the baseline's are inside its pass, so this may exceed what guards holds)
    scoring          the lockstep scoring of the arms (scoring.score_arm), both models
    issuing          building, recording and (when asked) signing the certificate
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from invarlock.application.certification import baseline_pass, pipeline, planning
from invarlock.application.services import Services

STEP_ORDER = (
    "tokenizer_load",
    "corpus_read",
    "tokenize",
    "plan",
    "load",
    "duplicate",
    "edit",
    "fingerprint",
    "baseline_pass",
    "baseline_guards",
    "guards",
    "calibration",
    "scoring",
    "issuing",
)
NESTED = {"calibration": "guards", "baseline_guards": "baseline_pass"}
# the guard chain's whole cost: a sequential run measures the baseline's side in its pass
GUARD_STEPS = ("guards", "baseline_guards")
MODEL_METHODS = (
    ("identity", "fingerprint"),
    ("duplicate", "duplicate"),
    ("activation_stats", "calibration"),
    ("activation_taps", "calibration"),  # the baseline's taps without scores; may call activation_stats
)


def passes_seconds(steps: dict[str, float]) -> float:
    """Certify's forward passes over the scored windows: the scoring step, and a sequential run's baseline pass
    without the baseline's guard measurements inside it."""
    return sum(steps.get(step, 0.0) for step in ("scoring", "baseline_pass")) - steps.get("baseline_guards", 0.0)


class StepTimes:
    """Seconds per step, summed over every call made while `patched` is active."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._inside: dict[str, int] = defaultdict(int)  # a step's calls in progress: nested ones count once
        self._undo: list[Callable[[], None]] = []
        self._classes: set[type] = set()

    def timed(self, step: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            self._inside[step] += 1
            try:
                return fn(*args, **kwargs)
            finally:
                self._inside[step] -= 1
                if not self._inside[step]:
                    self.seconds[step] += time.perf_counter() - t0

        return wrapper

    def patch(self, owner: Any, name: str, step: str) -> None:
        original = getattr(owner, name)
        own = name in vars(owner)  # else inherited: undo by deleting the wrapper, not by shadowing the base's
        setattr(owner, name, self.timed(step, original))
        self._undo.append(lambda: setattr(owner, name, original) if own else delattr(owner, name))

    def patch_model_class(self, model: Any) -> None:
        """Time the fingerprint, duplicate and calibration methods of the model's class (once per class, so a
        duplicate made with `copy.copy` carries no per-instance wrapper)."""
        cls = type(model)
        if cls in self._classes:
            return
        self._classes.add(cls)
        for name, step in MODEL_METHODS:
            if callable(getattr(cls, name, None)):
                self.patch(cls, name, step)

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()
        self._classes.clear()

    def table(self) -> dict[str, float]:
        return {k: round(self.seconds[k], 3) for k in STEP_ORDER if k in self.seconds}

    def top_level_sum(self) -> float:
        """Seconds of the steps not nested in another (what the wall clock can be split into)."""
        return sum(v for k, v in self.seconds.items() if k not in NESTED)


class _TimedLoader:
    def __init__(self, inner: Any, times: StepTimes) -> None:
        self._inner, self._times = inner, times

    def load(self, ref: str, options: Any) -> Any:
        model = self._times.timed("load", self._inner.load)(ref, options)
        self._times.patch_model_class(model)
        return model

    def tokenizer(self, ref: str, **kwargs: Any) -> Any:
        return self._times.timed("tokenizer_load", self._inner.tokenizer)(ref, **kwargs)


_OPTIONAL_PORTS = ("context_length", "shape_settings", "sequential_obstacle")  # ports/model.py, asked before loading


def _timed_loader(inner: Any, times: StepTimes) -> _TimedLoader:
    """A _TimedLoader with the optional loader ports of `inner`, untimed, as methods of its class (isinstance with
    a runtime-checkable protocol looks at the class from Python 3.12 on): without them the run would skip the
    context and shape checks and hold both models where the CLI holds one at a time."""
    passed = {name: _passing(name) for name in _OPTIONAL_PORTS if hasattr(inner, name)}
    loader: _TimedLoader = type("_TimedLoader", (_TimedLoader,), passed)(inner, times)
    return loader


def _passing(name: str) -> Any:
    def method(self: _TimedLoader, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._inner, name)(*args, **kwargs)

    return method


class _TimedCorpora:
    def __init__(self, inner: Any, times: StepTimes) -> None:
        self._inner, self._times = inner, times

    def open(self, provider: str, **kwargs: Any) -> Any:
        return self._times.timed("corpus_read", self._inner.open)(provider, **kwargs)

    def open_labelled(self, provider: str, **kwargs: Any) -> Any:
        return self._times.timed("corpus_read", self._inner.open_labelled)(provider, **kwargs)


class _TimedEdit:
    def __init__(self, inner: Any, times: StepTimes) -> None:
        self._inner, self._times = inner, times
        self.name = getattr(inner, "name", "")

    def apply(self, model: Any, plan: Any) -> Any:
        return self._times.timed("edit", self._inner.apply)(model, plan)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def timed_services(svc: Services, times: StepTimes) -> Iterator[Services]:
    """`svc` with its loader, corpora and edits timed, and the pipeline's planning, guard, scoring and issuing
    functions timed while the block runs."""
    patches = (
        (planning, "token_stream", "tokenize"),
        (planning, "plan_stream", "plan"),
        (pipeline, "run_chain", "guards"),
        (pipeline, "score_arm", "scoring"),
        (pipeline, "score_role", "scoring"),  # a model scored alone: the subject of a sequential or reusing run
        (pipeline, "issue", "issuing"),
        (baseline_pass, "_matrices", "baseline_guards"),
        (baseline_pass, "_tap", "baseline_guards"),
    )
    for owner, name, step in patches:
        times.patch(owner, name, step)
    steps = pipeline.SEQUENTIAL_STEPS  # a tuple of the step functions: the baseline pass is timed inside it
    pipeline.SEQUENTIAL_STEPS = tuple(
        times.timed("baseline_pass", step) if step is pipeline.measure_baseline else step for step in steps
    )
    edits = {name: _TimedEdit(edit, times) for name, edit in svc.edits.items()}
    try:
        yield replace(
            svc, loader=_timed_loader(svc.loader, times), corpora=_TimedCorpora(svc.corpora, times), edits=edits
        )
    finally:
        pipeline.SEQUENTIAL_STEPS = steps
        times.restore()
