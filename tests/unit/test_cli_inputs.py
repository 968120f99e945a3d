"""Input files named on the command line: a FIFO, device, directory or huge file is named as what it is,
never blocks and is never read without bound; an integrity failure never prints the certificate's verdict."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from invarlock.adapters.ed25519 import MAX_KEY_BYTES, generate_keypair, public_path
from invarlock.domain import certificate as c

from tests.fakes.certificates import fake_certificate
from tests.fakes.cli import run_cli


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    (root / "cert.json").write_bytes(c.to_bytes(fake_certificate()))
    generate_keypair(root / "key")
    os.mkfifo(root / "fifo")
    (root / "adir").mkdir()
    (root / "linked").mkdir()
    (root / "linked" / "evaluation.cert.json").symlink_to(root / "elsewhere.json")
    (root / "out_is_a_file.yaml").write_text("output: {dir: cert.json}\nedit: {name: quant_rtn, plan: {bits: 8}}\n")
    (root / "huge.pem").write_bytes(b"A" * (MAX_KEY_BYTES + 1))
    return root


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A subprocess with a timeout: a command that blocks on a FIFO fails the test instead of hanging it."""
    env = {k: v for k, v in os.environ.items() if k != "INVARLOCK_DEBUG"}
    command = [sys.executable, "-m", "invarlock", *args]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)


def _one_line(done: subprocess.CompletedProcess[str], code: str) -> str:
    [line] = done.stderr.splitlines()
    assert done.returncode == 2 and line.startswith(f"ERROR [INVARLOCK:{code}]"), done.stderr
    return line


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("fifo", "is a FIFO"),
        ("/dev/zero", "is a device"),
        ("adir", "is a directory"),
        ("huge.pem", f"no PEM key is above {MAX_KEY_BYTES}"),
        ("/proc/self/mem", "cannot be read: Input/output error"),  # a read that fails: an OSError reached E999
    ],
)
def test_a_pubkey_that_is_no_key_file_is_refused_without_reading_it(folder: Path, key: str, says: str) -> None:
    line = _one_line(_cli(folder, "verify", "cert.json", "--pubkey", key), "E701")
    assert says in line


def test_the_real_public_key_still_loads(folder: Path) -> None:
    done = _cli(folder, "verify", "cert.json", "--pubkey", str(public_path(folder / "key")))
    assert "public key" not in done.stderr  # it loaded; the unsigned certificate then fails on its signature


@pytest.mark.parametrize(
    ("path", "says"),
    [("adir", "is a directory"), ("fifo", "is not a regular file (a FIFO)"), ("/dev/zero", "(a device)")],
)
@pytest.mark.parametrize("command", [["verify"], ["report", "md"], ["report", "html"]])
def test_a_certificate_path_that_is_no_file_says_what_it_is(
    folder: Path, path: str, says: str, command: list[str]
) -> None:
    out = ["-o", "out.x"] if command[0] == "report" else []
    line = _one_line(_cli(folder, *command, path, *out), "E600")
    assert says in line and "does not exist" not in line


def test_a_missing_certificate_still_says_it_does_not_exist(folder: Path) -> None:
    assert "does not exist" in _one_line(_cli(folder, "verify", "nope.json"), "E600")


def _tampered(folder: Path, verdict: str) -> Path:
    """The certificate with its ratio edited and the digest left as it was (the digest check fails)."""
    cert = fake_certificate()
    pm = msgspec.structs.replace(cert.primary_metric, ratio_vs_baseline=0.5)
    verdict_struct = msgspec.structs.replace(cert.verdict, status=verdict)
    path = folder / f"tampered-{verdict}.json"
    path.write_bytes(c.to_bytes(msgspec.structs.replace(cert, primary_metric=pm, verdict=verdict_struct)))
    return path


@pytest.mark.parametrize("verdict", ["PASS", "FAIL"])
def test_an_integrity_failure_never_prints_the_stated_verdict(folder: Path, verdict: str) -> None:
    path = _tampered(folder, verdict)
    code, out, _ = run_cli("verify", path)
    last = out.splitlines()[-1]
    assert code == 3 and last.startswith("Verdict: not established") and "integrity" in last
    assert verdict not in last and "None" not in last
    code, out, _ = run_cli("verify", path, "--json")
    envelope = json.loads(out)
    assert code == 3 and envelope["exit_code"] == 3 and envelope["verdict"] is None and envelope["ok"] is False


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "-c", "fifo"], "config file 'fifo' is not a regular file (a FIFO)"),
        (["run", "-c", "adir"], "config file 'adir' is a directory"),
        (["certify", "--demo", "--preset", "/dev/zero"], "config file '/dev/zero' is not a regular file (a device)"),
        (["verify", "cert.json", "--policy", "fifo"], "policy file 'fifo' is not a regular file (a FIFO)"),
        (["calibrate", "--suite", "adir"], "suite file 'adir' is a directory"),
    ],
)
def test_a_config_path_that_is_no_file_says_what_it_is(folder: Path, args: list[str], says: str) -> None:
    assert says in _one_line(_cli(folder, *args), "E201")


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["run", "-c", "absent.yaml"], "-c/--config, --preset or --edit-config"),
        (["verify", "cert.json", "--policy", "absent.yaml"], "--policy"),
        (["calibrate", "--suite", "absent.yaml"], "--suite"),
    ],
)
def test_a_missing_yaml_file_names_the_option_that_gave_it(folder: Path, args: list[str], option: str) -> None:
    line = _one_line(_cli(folder, *args), "E201")  # --policy and --suite once said "passed to -c/--preset"
    assert "'absent.yaml' does not exist" in line and line.endswith(f"check the path passed to {option}"), line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["report", "md", "cert.json", "-o", "adir"], "cannot write the report to 'adir'"),
        (
            ["report", "html", "cert.json", "-o", "cert.json/page.html"],
            "cannot write the report to 'cert.json/page.html'",
        ),
        (["certify", "--demo", "--cert-out", "cert.json"], "--cert-out 'cert.json' exists and is not a directory"),
        (["run", "--demo", "--export", "cert.json"], "--export 'cert.json' exists and is not a directory"),
        # a folder holding files, such as the baseline's own: the export replaced its weights with the subject's
        (["run", "--demo", "--export", "."], "--export '.' already holds files (adir, cert.json, fifo)"),
        (["certify", "--resume", "r1", "--export", "."], "--export '.' already holds files (adir, cert.json, fifo)"),
        (["certify", "--demo", "--out", "cert.json"], "output.dir (--out) 'cert.json' exists and is not a directory"),
        # refused only after the whole run (E608 "the run is recorded: rebuild it with replay"; the event-store hunt)
        (
            ["certify", "--demo", "--cert-out", "linked"],
            "cannot write the certificate to 'linked/evaluation.cert.json': it is a symbolic link",
        ),
        (
            ["certify", "--resume", "r1", "--cert-out", "linked"],
            "cannot write the certificate to 'linked/evaluation.cert.json': it is a symbolic link",
        ),
        (["run", "-c", "out_is_a_file.yaml"], "output.dir (--out) 'cert.json' exists and is not a directory"),
        (["calibrate", "--out", "cert.json"], "--out 'cert.json' exists and is not a directory"),
    ],
)
def test_an_output_path_that_cannot_be_written_is_one_line_e608(folder: Path, args: list[str], says: str) -> None:
    before = sorted(p.name for p in folder.rglob("*"))
    assert says in _one_line(
        _cli(folder, *args, "--events", "ev.duckdb")
        if args[0] in ("certify", "run", "calibrate")
        else _cli(folder, *args),
        "E608",
    )
    assert sorted(p.name for p in folder.rglob("*")) == before  # no staging file, no event store left behind


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink", "fifo as KEY.pub"])
def test_keygen_force_replaces_regular_files_only(tmp_path: Path, kind: str) -> None:
    """--force on a FIFO would block, on a device it would chmod the device, through a symlink it would write
    the private key wherever the link points: each is one line E704 and nothing is written."""
    key = tmp_path / "key"
    if kind == "fifo":
        os.mkfifo(key)
    elif kind == "directory":
        key.mkdir()
    elif kind == "symlink":
        key.symlink_to(tmp_path / "elsewhere")
    else:
        key.write_text("old private key\n", encoding="utf-8")
        os.mkfifo(public_path(key))
    done = _cli(tmp_path, "keygen", "--out", str(key), "--force")
    line = _one_line(done, "E704")
    said = {"directory": "it names a folder", "symlink": "it is a symbolic link"}.get(kind, "it is a FIFO")
    assert said in line
    assert not (tmp_path / "elsewhere").exists()
    if kind == "fifo as KEY.pub":
        assert key.read_text(encoding="utf-8") == "old private key\n"


def test_keygen_force_still_replaces_an_existing_pair(tmp_path: Path) -> None:
    generate_keypair(tmp_path / "key")
    before = (tmp_path / "key").read_bytes()
    done = _cli(tmp_path, "keygen", "--out", "key", "--force")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "key").read_bytes() != before and (tmp_path / "key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("kind", ["fifo", "symlink", "device"])
def test_report_output_never_replaces_a_node_that_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    """The atomic rename would replace the node itself (as root, `-o /dev/null` replaced /dev/null)."""
    (tmp_path / "cert.json").write_bytes(c.to_bytes(fake_certificate()))
    out = tmp_path / "out.md"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "symlink":
        out.symlink_to(tmp_path / "elsewhere.md")
    else:
        try:
            os.mknod(out, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a second /dev/null
        except PermissionError:
            pytest.skip("creating a device node needs root")
    before = os.lstat(out)
    line = _one_line(_cli(tmp_path, "report", "md", "cert.json", "-o", "out.md"), "E608")
    said = f"a symbolic link (to {tmp_path / 'elsewhere.md'}), which the write would replace"
    assert (said if kind == "symlink" else "not a regular file") in line
    after = os.lstat(out)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino) and not (tmp_path / "elsewhere.md").exists()


def test_a_written_report_gets_the_usual_file_mode(tmp_path: Path) -> None:
    (tmp_path / "cert.json").write_bytes(c.to_bytes(fake_certificate()))
    done = _cli(tmp_path, "report", "md", "cert.json", "-o", "out.md")
    assert done.returncode == 0, done.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.md").stat().st_mode) == 0o666 & ~umask


LONG = "x" * 300  # longer than any file name the file system accepts (ENAMETOOLONG)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["verify", LONG], "E600"),
        (["verify", "cert.json", "--pubkey", LONG], "E701"),
        (["report", "md", "cert.json", "-o", LONG], "E608"),
        (["keygen", "--out", LONG], "E704"),
        (["keygen", "--out", LONG, "--force"], "E704"),
        (["runs", "--events", LONG], "E501"),
        (["audit", "--sql", "SELECT 1", "--events", LONG], "E501"),
        (["run", "-c", LONG], "E201"),
        (["certify", "--demo", "--cert-out", LONG, "--events", "ev.duckdb"], "E608"),
        (["calibrate", "--out", LONG, "--events", "ev.duckdb"], "E608"),
    ],
)
def test_a_file_name_too_long_is_one_line_never_e999(folder: Path, args: list[str], code: str) -> None:
    assert "File name too long" in _one_line(_cli(folder, *args), code)
    assert not (folder / "ev.duckdb").exists()


def test_keygen_out_naming_an_existing_folder_is_e704_not_a_hint_to_force(folder: Path) -> None:
    """Without --force a folder was E703 "already exists — pass --force", and --force then failed too."""
    line = _one_line(_cli(folder, "keygen", "--out", "adir"), "E704")
    assert "it names a folder" in line and "--force" not in line
    assert list((folder / "adir").iterdir()) == [] and not (folder / "adir.pub").exists()


@pytest.mark.parametrize(
    ("out", "named", "code"), [("", "Invalid value for '--out': is empty", "E200"), ("/", "it names a folder", "E704")]
)
def test_keygen_out_naming_no_file_is_one_line(folder: Path, out: str, named: str, code: str) -> None:
    assert named in _one_line(_cli(folder, "keygen", "--out", out, "--force"), code)
