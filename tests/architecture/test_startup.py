"""`invarlock --version`, `--help` and a command's `--help` start without the heavy runtimes: the command
modules are imported lazily (cli/lazy_group.py), so neither scipy nor duckdb nor torch is loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("scipy", "duckdb", "torch", "transformers", "onnxruntime", "ray")
PROBE = """
import json, sys
sys.argv = ["invarlock", *json.loads(sys.argv[1])]
from invarlock.cli.main import main
try:
    main()
except SystemExit as done:
    code = done.code
sys.stderr.write(json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules)}))
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["runs", "--help"], ["audit", "--help"]], ids=" ".join)
def test_startup_imports_no_heavy_runtime(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), json.dumps(args)], capture_output=True, text=True, timeout=120
    )
    report = json.loads(done.stderr.splitlines()[-1])
    assert report == {"code": 0, "loaded": []} and done.stdout
