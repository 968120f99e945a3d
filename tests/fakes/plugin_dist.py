"""A fake third-party plugin distribution (`raising 1.0`) installed on sys.path for a test, and the certify
request and stored events the plugin-misbehaviour tests share.

The distribution's module `raising_plugin` offers an adapter `fake` whose models raise in score_pair, a dataset
`fake`, edits `boom` (its factory raises), `nothing` (no edit) and `quitter`/`late_quitter` (sys.exit(0) in
check_plan / apply), and a guard `odd_guard` whose answers a test
sets through its class attributes."""

from __future__ import annotations

from pathlib import Path

import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest
from invarlock.application.config import ModelConfig
from invarlock.domain import events as ev

from tests.unit.conftest import small_config

PLUGIN = {"plugin.adapters.auto": "badplug 1.0"}  # the run's adapter (`auto`) as a plugin's entry


def certify_request(subject: str) -> CertifyRequest:
    """A dev-profile, balanced-tier certify of `subject` against `base` on the small fake config."""
    return CertifyRequest(
        command="certify", config=small_config(), subject=ModelConfig(id=subject), tier="balanced", profile="dev"
    )


def stored_events(store: InMemoryEventStore, run_id: str) -> list[ev.Event]:
    """The run's events as `store` holds them, decoded."""
    return [ev.decode_event(r.type, r.version, r.payload) for r in store.read(run_id)]


RAISING = """
import sys

from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, words


class Raising(FakeModel):
    def score_pair(self, other, windows, progress=None):
        raise RuntimeError("CUDA out of cheese")


def loader():
    return FakeLoader(models={"base": Raising(ref="base"), "subject": Raising(ref="subject", quality=1.002)})


def corpora():
    return FakeCorpora(words(120))


def boom():
    raise KeyError("device")


def nothing():
    return object()


class Quitter:  # an edit whose code calls sys.exit(0): in check_plan (quitter) or, the plan accepted, in apply

    def __init__(self, name, when):
        self.name, self.when = name, when

    def check_plan(self, plan):
        if self.when == "check_plan":
            sys.exit(0)

    def apply(self, weights, plan):
        sys.exit(0)


def quitter():
    return Quitter("quitter", "check_plan")


def late_quitter():
    return Quitter("late_quitter", "apply")


class BadText(RuntimeError):
    def __str__(self):
        raise ValueError("no text")


class ExitingText(RuntimeError):
    def __str__(self):
        raise SystemExit(3)


class LateText(RuntimeError):
    def __str__(self):
        return "\\n\\nthe first line with text"


class Thrower:  # an edit whose apply raises what `throws` makes: a bare BaseException, text that cannot be had...

    def __init__(self, name, throws):
        self.name, self.throws = name, throws

    def check_plan(self, plan):
        return None

    def apply(self, weights, plan):
        raise self.throws()


def bad_text():
    return Thrower("bad_text", BadText)


def bare():
    return Thrower("bare", BaseException)


def exiting_text():
    return Thrower("exiting_text", ExitingText)


def late_text():
    return Thrower("late_text", LateText)


def generator_exit():
    return Thrower("generator_exit", GeneratorExit)


def huge():
    return Thrower("huge", lambda: RuntimeError("x" * 10_000_000))


def _chatty_error():
    print("CHATTY on stdout")
    return RuntimeError("after printing")


def chatty():
    return Thrower("chatty", _chatty_error)


class OddGuard:
    name = "odd_guard"
    settings = ("limit",)
    measured = None  # what measure returns (None: one finite value per matrix)
    decided = None  # what decide returns (None: no matrix fails)

    def measure(self, baseline, subject):
        return self.measured if self.measured is not None else {m.name: {"peak": 1.0} for m in subject.matrices()}

    def decide(self, measurements, settings):
        return self.decided if self.decided is not None else {}
"""


def install_raising_plugin(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Write the `raising 1.0` distribution under `root`, put it on sys.path and rediscover the registry."""
    from invarlock.cli import registry as registry_module
    from invarlock.cli.registry import Registry

    site = root / "site"
    info = site / "raising-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "raising_plugin.py").write_text(RAISING, encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: raising\nVersion: 1.0\n", encoding="utf-8")
    points = "[invarlock.adapters]\nfake = raising_plugin:loader\n[invarlock.datasets]\nfake = raising_plugin:corpora\n"
    points += "[invarlock.edits]\nboom = raising_plugin:boom\nnothing = raising_plugin:nothing\n"
    points += "quitter = raising_plugin:quitter\nlate_quitter = raising_plugin:late_quitter\n"
    points += "bad_text = raising_plugin:bad_text\nbare = raising_plugin:bare\nhuge = raising_plugin:huge\n"
    points += (
        "generator_exit = raising_plugin:generator_exit\nmodular = raising_plugin\nchatty = raising_plugin:chatty\n"
        "exiting_text = raising_plugin:exiting_text\nlate_text = raising_plugin:late_text\n"
    )
    points += "[invarlock.guards]\nodd_guard = raising_plugin:OddGuard\n"
    (info / "entry_points.txt").write_text(points, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry_module, "_REGISTRY", Registry.discover())


# A run config on the distribution's adapter and dataset.
CONFIG = {
    "model": {"adapter": "fake"},
    "dataset": {"provider": "fake", "seq_len": 32, "preview_n": 8, "final_n": 12, "seed": 7},
    "profile": "dev",
}
