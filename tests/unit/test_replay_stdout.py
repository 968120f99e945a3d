"""`invarlock replay RUN_ID > cert.json` must write the issued certificate's exact bytes: stdout got a trailing
newline, so the redirected file failed verify's `canonical` check (exit 3) although the guide promises the
same bytes as the issued `evaluation.cert.json`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1"
CERT = FIXTURE / "run.cert.json"


def _invarlock(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "INVARLOCK_DEBUG"}
    command = [sys.executable, "-m", "invarlock", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, timeout=120, check=False)


def test_replay_to_stdout_gives_the_issued_bytes_and_they_verify(tmp_path: Path) -> None:
    shutil.copy(FIXTURE / "invarlock.duckdb", tmp_path / "invarlock.duckdb")
    run_id = json.loads(CERT.read_bytes())["run_id"]
    replayed = _invarlock(tmp_path, "replay", run_id, "--events", "invarlock.duckdb")
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == CERT.read_bytes()
    (tmp_path / "replayed.cert.json").write_bytes(replayed.stdout)
    verified = _invarlock(tmp_path, "--quiet", "verify", "replayed.cert.json", "--json")
    assert json.loads(verified.stdout)["checks"][1] == {
        "name": "canonical",
        "ok": True,
        "detail": "file is the canonical encoding",
    }


def test_replay_with_out_dash_writes_to_stdout_as_report_does(tmp_path: Path) -> None:
    shutil.copy(FIXTURE / "invarlock.duckdb", tmp_path / "invarlock.duckdb")
    run_id = json.loads(CERT.read_bytes())["run_id"]
    replayed = _invarlock(tmp_path, "replay", run_id, "--events", "invarlock.duckdb", "-o", "-")
    assert (replayed.returncode, replayed.stdout) == (0, CERT.read_bytes()), replayed.stderr
    assert not (tmp_path / "-").exists()  # it wrote a file named "-" (the fuzz hunt)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a device whose writes fail ENOSPC)")
def test_replay_to_a_full_device_is_e608_not_e999(tmp_path: Path) -> None:
    # Writing the bytes to stdout's binary buffer bypassed the text stream's watch: E999 "unexpected OSError".
    run_id = json.loads(CERT.read_bytes())["run_id"]
    env = {k: v for k, v in os.environ.items() if k != "INVARLOCK_DEBUG"}
    command = [sys.executable, "-m", "invarlock", "replay", run_id, "--events", str(FIXTURE / "invarlock.duckdb")]
    with open("/dev/full", "wb") as full:
        done = subprocess.run(command, cwd=tmp_path, env=env, stdout=full, stderr=subprocess.PIPE, timeout=120)
    [line] = done.stderr.decode().splitlines()
    assert done.returncode == 2 and line.startswith("ERROR [INVARLOCK:E608] cannot write to standard output: "), line
