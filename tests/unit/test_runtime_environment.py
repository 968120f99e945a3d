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
