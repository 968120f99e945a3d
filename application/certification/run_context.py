"""What the steps of one run share: the request, its policy, the recorder, the services and what earlier
steps produced (the window rows, the loaded models, the guards' repairs, the paired arms' scorer)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from invarlock.domain import events as ev
from invarlock.domain.policy import Policy
from invarlock.domain.windows import Row
from invarlock.ports.execution import PairScorer
from invarlock.ports.model import LoadedModel

from ..services import Services
from .recorded_baseline import RecordedBaseline
from .recorder import RunRecorder
from .reuse_source import Found
from .run_request import CertifyRequest


@dataclass
class RunContext:
    """One run of the pipeline. `planned` and `rows` exist before any weights load; `models` is filled by the
    load step and `repairs` (weight name -> scale) by the guard chain; a sequential run's `recorded` baseline by
    its baseline pass."""

    request: CertifyRequest
    policy: Policy
    recorder: RunRecorder
    svc: Services
    planned: ev.WindowsPlanned
    rows: Mapping[int, Row]
    models: dict[str, LoadedModel] = field(default_factory=dict)
    repairs: dict[str, float] = field(default_factory=dict)
    scorer: PairScorer | None = None
    recorded: RecordedBaseline | None = None  # a sequential run's baseline once released (baseline_pass.py)
    found: Found = field(default_factory=Found)  # the earlier runs whose baseline work it may copy (reuse_source)
