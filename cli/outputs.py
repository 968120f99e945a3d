"""Writing an output file named on the command line: atomically, or one clear error (never a traceback)."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import msgspec
from invarlock.adapters.folder_probe import dangling_link, folder_write_problem, link_problem
from invarlock.domain.errors import UsageError

from .inputs import MAX_CERTIFICATE_BYTES


def _default_mode() -> int:
    """The mode a plain `open(path, "w")` would give a new file (mkstemp's own is 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _node(path: Path, what: str, hint: str) -> os.stat_result | None:
    """lstat of `path`, None when nothing is there; E608 when the path itself is unusable (too long, ...)."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise UsageError("E608", f"cannot write {what} to '{path}': {exc.strerror}", hint) from exc


def _refuse_special(target: Path, what: str, hint: str) -> None:
    # The rename would replace the node itself: a device such as /dev/null, a FIFO, or a symlink.
    node = _node(target, what, hint)
    if node is not None and not stat.S_ISREG(node.st_mode):
        raise UsageError("E608", f"cannot write {what} to '{target}': it is {_kind(target, node)}", hint)


def _kind(target: Path, node: os.stat_result) -> str:
    if stat.S_ISDIR(node.st_mode):
        return "a directory"
    if stat.S_ISLNK(node.st_mode):
        return f"a symbolic link (to {os.readlink(target)}), which the write would replace"
    return "not a regular file"


def _refuse_input(target: Path, inputs: tuple[Path, ...], what: str, hint: str) -> None:
    # Replacing a file the command reads (the certificate a report renders, the store a certificate is replayed
    # from) would lose it, whatever path names it.
    node = _node(target, what, hint)
    for source in inputs if node is not None else ():
        try:
            info = os.stat(source)
        except OSError:
            continue
        if node is not None and (info.st_dev, info.st_ino) == (node.st_dev, node.st_ino):
            message = f"cannot write {what} to '{target}': it is {source}, which this command reads"
            raise UsageError("E608", message, hint)


_DUCKDB_MAGIC = (8, b"DUCK")  # where DuckDB's file header puts its magic, after the header's checksum


def _refuse_database(target: Path, what: str, hint: str) -> None:
    # No output of a command is a DuckDB file: one at `target` is an event store (or another database) that the
    # write would replace, with every run it holds (`report html CERT -o events.duckdb` wiped a store).
    if _is_database(target):
        message = f"cannot write {what} to '{target}': it is a DuckDB database (an event store?) it would replace"
        raise UsageError("E608", message, hint)
    store = target.with_name(target.name.removesuffix(".wal"))
    if store != target and _is_database(store):  # DuckDB deletes or replays a write-ahead log on its next opening
        message = f"cannot write {what} to '{target}': it is the write-ahead log of the DuckDB database {store}"
        raise UsageError("E608", message, hint)


def _is_database(path: Path) -> bool:
    offset, magic = _DUCKDB_MAGIC
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(len(magic)) == magic
    except OSError:
        return False


def _refuse_other_file(target: Path, replaces: Replaceable, what: str, hint: str) -> None:
    # -o replaced whatever file it named, whole: a private signing key, a user's notes, another run's certificate.
    kind, is_one = replaces
    if target.is_file() and not is_one(target):
        said = f"cannot write {what} to '{target}': it holds something other than {kind}, which the write would replace"
        raise UsageError("E608", said, f"{hint}, or remove that file first")


def certificate_of(path: Path, run_id: str) -> bool:
    """Whether `path` holds a certificate of run `run_id` (one the run may write again)."""
    try:
        if path.stat().st_size > MAX_CERTIFICATE_BYTES:
            return False
        held = msgspec.json.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError, RecursionError):  # JSON nested past the decoder's stack is no certificate
        return False
    return isinstance(held, dict) and held.get("run_id") == run_id and "digest" in held


def require_folder(path: str, flag: str) -> None:
    """E608 unless `path` is a directory a file can be written in, or nothing yet in a folder that can be
    written: checked before a run, not after it."""
    hint = f"pass a folder to {flag}"
    try:
        node = os.stat(path)
    except FileNotFoundError:
        node = None
    except OSError as exc:  # a file where a parent folder belongs, a name too long, ...
        raise UsageError("E608", f"{flag} '{path}' cannot be used as a folder: {exc.strerror}", hint) from exc
    if node is not None and not stat.S_ISDIR(node.st_mode):
        raise UsageError("E608", f"{flag} '{path}' exists and is not a directory", hint)
    problem = folder_write_problem(Path(path))  # a dangling link on the way too: the write failed on it
    if problem is not None:  # a run that scored for an hour would fail only when it writes
        raise UsageError("E608", f"{flag} '{path}' cannot be written: {problem}", f"pass a writable folder to {flag}")


CERTIFICATE_FILE = "evaluation.cert.json"


def require_certificate_folder(path: str, flag: str, run_id: str | None = None) -> None:
    """require_folder, and E608 when the certificate's file in it exists and is not a regular file (a symbolic
    link, a folder, a FIFO) or holds anything but a certificate of `run_id` (None: a new run, whose certificate no
    file holds yet): the write would replace it, which is refused, so found before the run."""
    require_folder(path, flag)
    hint = f"move it away, or pass another folder to {flag}"
    target = Path(path) / CERTIFICATE_FILE
    _refuse_special(target, "the certificate", hint)
    if target.is_file() and (run_id is None or not certificate_of(target, run_id)):
        whose = "a new run's certificate" if run_id is None else f"run {run_id}'s certificate"
        raise UsageError("E608", f"{flag} '{path}' already holds {CERTIFICATE_FILE}, which {whose} would replace", hint)


def require_empty_folder(path: str, flag: str) -> None:
    """require_folder, and E608 when `path` is a directory that already holds something: a checkpoint written
    there would mix with those files or replace them (the baseline's own weights, when it names its folder)."""
    require_folder(path, flag)
    try:
        held = sorted(os.listdir(path))[:3] if os.path.isdir(path) else []
    except OSError as exc:
        raise UsageError(
            "E608", f"{flag} '{path}' cannot be listed: {exc.strerror}", f"pass a new folder to {flag}"
        ) from exc
    if held:
        raise UsageError(
            "E608",
            f"{flag} '{path}' already holds files ({', '.join(held)}): a checkpoint written there would mix with "
            "or replace them",
            f"pass a new or empty folder to {flag}",
        )


def _not_a_folder(target: Path) -> str | None:
    """The reason when a folder on the way to `target` exists as something else ("File exists" said nothing)."""
    link = dangling_link(target.parent)
    if link is not None:
        return link_problem(link)
    for parent in reversed(target.parents):
        if parent.exists() and not parent.is_dir():
            return f"{parent} is not a folder"
    return None


# What an existing file at the target must be for the write to replace it (its description, and the test).
Replaceable = tuple[str, Callable[[Path], bool]]


def write_atomically(
    target: Path,
    content: bytes | str,
    *,
    what: str,
    hint: str = "choose another path",
    inputs: tuple[Path, ...] = (),
    replaces: Replaceable | None = None,
) -> None:
    """Write `content` to `target` via a temporary file in the same folder and an atomic rename.

    Raises:
        UsageError: E608 when `target` is a directory, device, FIFO or symlink, a DuckDB database, one of the
            `inputs` the command reads, or with `replaces` a file that is not what it describes, or the folder
            cannot be created or the file cannot be written (no permission, a full disk); nothing is left behind.
    """
    _refuse_special(target, what, hint)
    _refuse_input(target, inputs, what, hint)
    _refuse_database(target, what, hint)
    if replaces is not None:
        _refuse_other_file(target, replaces, what, hint)
    data = content.encode("utf-8") if isinstance(content, str) else content
    staging: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # a short prefix: `.{name}.` plus mkstemp's 8 characters went past NAME_MAX for a name of 246-255 bytes
        fd, staging = tempfile.mkstemp(prefix=".invarlock-", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), _default_mode())
        os.replace(staging, target)
    except OSError as exc:
        if staging is not None:
            Path(staging).unlink(missing_ok=True)
        reason = _not_a_folder(target) or exc.strerror or type(exc).__name__
        raise UsageError("E608", f"cannot write {what} to '{target}': {reason}", hint) from exc
    except BaseException:
        if staging is not None:
            Path(staging).unlink(missing_ok=True)
        raise


def require_apart(
    events: str | os.PathLike[str], cert_out: str | None, export: str | None, out_dir: str | None = None
) -> None:
    """E608 before a run whose outputs collide: an output at or under the event store or its write-ahead log (a
    folder there leaves the store unopenable), or the store or the certificate at or inside the folder the
    subject's checkpoint is written to whole (--export and --events naming one new path was E999 after the run).
    `out_dir`: output.dir, under which the certificate's folder is made when there is no `cert_out`."""
    store = Path(os.path.realpath(events))
    kept = (store, store.with_name(f"{store.name}.wal"))  # DuckDB's write-ahead log beside it
    certificate = Path(os.path.realpath(cert_out)) / CERTIFICATE_FILE if cert_out is not None else None
    given = [("--cert-out", cert_out, certificate), ("--export", export, None), ("output.dir (--out)", out_dir, None)]
    for flag, path, written in given:
        real = written or (Path(os.path.realpath(path)) if path is not None else None)
        if real is not None and any(real == k or k in real.parents for k in kept):
            said = f"{flag} '{path}' collides with --events '{os.fspath(events)}': it would write {real}"
            raise UsageError("E608", said, f"pass {flag} a path apart from the event store and its .wal file")
    if export is None:
        return
    checkpoint = Path(os.path.realpath(export))
    outputs = [("--events", path) for path in kept]
    if certificate is not None:
        outputs.append(("--cert-out", certificate))
    elif out_dir is not None:  # the certificate's folder is made under output.dir: --out X --export X was written
        outputs.append(("output.dir (--out)", Path(os.path.realpath(out_dir))))
    for flag, path in outputs:
        if path == checkpoint or checkpoint in path.parents:
            said = f"{flag} writes {path}, at or inside --export '{export}', the folder the subject is written to"
            raise UsageError("E608", said, "pass --export a new folder apart from the run's other outputs")
