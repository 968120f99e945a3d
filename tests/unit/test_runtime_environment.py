"""The recorded environment does not depend on what the process imported before the run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.hf  # torch installed


def test_a_process_that_never_imported_torch_records_its_threads() -> None:
    """The run records its environment before the device probe imports torch, and a plugin model may never
    import it: a first run in a process recorded no `torch_threads`, a second one did (an audit's forward key)."""
    code = (
        "import json, sys\n"
        "from invarlock.adapters.environment import runtime_environment\n"
        "before = 'torch' in sys.modules\n"
        "env = runtime_environment()\n"
        "import torch\n"
        "print(json.dumps([before, env.get('torch_threads'), str(torch.get_num_threads())]))\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    before, recorded, threads = json.loads(found.stdout)
    assert before is False and recorded == threads


def test_the_gpus_and_cuda_build_are_recorded_where_cuda_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """The baseline scoring key covers the environment, which named no GPU: two runs on different cards of one CPU
    type and image got one key (stop 63's reuse hunt). Nothing is added where CUDA is not available."""
    import torch
    from invarlock.adapters.environment import runtime_environment

    cards = {0: ("NVIDIA H100 80GB HBM3", (9, 0)), 1: ("NVIDIA A100-SXM4-40GB", (8, 0))}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not {"gpus", "cuda", "cudnn"} & runtime_environment().keys()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: cards[i][0])
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: cards[i][1])
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    env = runtime_environment()
    assert env["gpus"] == "NVIDIA H100 80GB HBM3 (sm_90); NVIDIA A100-SXM4-40GB (sm_80)"
    assert (env["cuda"], env["cudnn"]) == ("12.8", "91002")
