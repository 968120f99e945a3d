"""Ed25519 keys with the `cryptography` package: generate, load (PEM), sign, verify.

Key files: the private key is unencrypted PKCS#8 PEM written with mode 0600; the public key is
SubjectPublicKeyInfo PEM next to it as `KEY.pub`. Errors (UsageError, exit 2): E700 key file missing,
E701 key file unreadable, not PEM or encrypted, E702 not an Ed25519 key of the kind asked for, E703 keygen
target exists (no --force), E704 key file cannot be written.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from invarlock.domain.errors import UsageError
from invarlock.domain.signature import fingerprint_of

from .node_kind import mode_kind, odd_node

_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
_KEYGEN = "create a pair with `invarlock keygen --out KEY`"
MAX_KEY_BYTES = 16 * 1024  # an Ed25519 PEM key is about 120 bytes; refuse anything far larger unread


def public_path(private: Path) -> Path:
    """Where the public key of the private key file `private` lives: `private` + `.pub`."""
    return private.with_name(private.name + ".pub")


def _fingerprint(key: Ed25519PublicKey) -> str:
    return fingerprint_of(key.public_bytes(*_RAW))


class Ed25519Signer:
    """Signer port over an Ed25519 private key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.fingerprint = _fingerprint(key.public_key())

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


class Ed25519SignatureVerifier:
    """SignatureVerifier port over a trusted Ed25519 public key."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self.fingerprint = _fingerprint(key)

    def verify(self, data: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            return False
        return True


def _read(path: Path, what: str, hint: str) -> bytes:
    """The bytes of a key file: a regular file of at most MAX_KEY_BYTES (a FIFO or device would block or
    never end); opened non-blocking and checked again on the open descriptor, so a swapped path cannot block."""
    try:
        info = path.stat()
    except OSError as exc:
        raise _unstatable(path, what, hint, exc) from exc
    _require_key_file(path, info, what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise UsageError("E701", f"{what} '{path}' cannot be read: {exc.strerror}", "check its permissions") from exc
    with os.fdopen(fd, "rb") as handle:
        _require_key_file(path, os.fstat(handle.fileno()), what)
        try:
            return handle.read(MAX_KEY_BYTES + 1)
        except OSError as exc:  # EIO: /proc/self/mem, a failing disk
            raise UsageError("E701", f"{what} '{path}' cannot be read: {exc.strerror}", "check the file") from exc


def _unstatable(path: Path, what: str, hint: str, exc: OSError) -> UsageError:
    """E700 when nothing is there (a name under a file too), E701 naming a link that loops or leads nowhere, else
    E701 with the OS's reason (the permissions hint was given for a link loop and a name under a file)."""
    try:
        kind = odd_node(path)
    except OSError:  # a folder on the way loops or cannot be searched
        kind = None
    if kind is not None:
        return UsageError("E701", f"{what} '{path}' is {kind}", "pass the PEM key file itself")
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return UsageError("E700", f"{what} '{path}' does not exist", hint)
    return UsageError("E701", f"{what} '{path}' cannot be read: {exc.strerror}", "check the path and its permissions")


def _require_key_file(path: Path, info: os.stat_result, what: str) -> None:
    kind = mode_kind(info.st_mode)
    if kind is not None:
        raise UsageError("E701", f"{what} '{path}' is {kind}", "pass the PEM key file itself")
    if info.st_size > MAX_KEY_BYTES:
        raise UsageError(
            "E701", f"{what} '{path}' is {info.st_size} bytes, no PEM key is above {MAX_KEY_BYTES}", _KEYGEN
        )


def _require_one_block(data: bytes, path: Path, what: str, hint: str) -> None:
    """The PEM parser reads the first block and ignores the rest, so a file of several keys would sign or verify
    with whichever came first: refused, E701."""
    blocks = data.count(b"-----BEGIN ")
    if blocks > 1:
        raise UsageError("E701", f"{what} '{path}' holds {blocks} PEM blocks, not one key", f"keep one key; {hint}")


def _require_private(path: Path) -> None:
    """E701 when other users may read or write the signing key (OpenSSH refuses such keys too): whoever can read it
    can sign certificates as its holder. keygen writes 0600."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if os.name == "posix" and mode & 0o077:
        said = f"signing key '{path}' is open to other users (mode {mode:04o}): anyone who reads it can sign as you"
        raise UsageError("E701", said, f"chmod 600 '{path}'")


def load_signer(path: Path) -> Ed25519Signer:
    """The signer of a private key file; E700/E701/E702 when it is missing, unreadable, open to other users or not
    Ed25519 private."""
    data = _read(path, "signing key", _KEYGEN)
    _require_one_block(data, path, "signing key", _KEYGEN)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise UsageError("E701", f"signing key '{path}' is encrypted", "use an unencrypted PKCS#8 PEM key") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        if b"PUBLIC KEY-----" in data:
            raise UsageError("E702", f"'{path}' is a public key, not a signing key", "pass the private key") from exc
        raise UsageError("E701", f"signing key '{path}' is not a PEM private key", _KEYGEN) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError("E702", f"signing key '{path}' is {type(key).__name__}, not Ed25519", _KEYGEN)
    _require_private(path)
    return Ed25519Signer(key)


def load_verifier(path: Path) -> Ed25519SignatureVerifier:
    """The verifier of a public key file; E700/E701/E702 when it is missing, unreadable or not Ed25519 public."""
    hint = "pass the KEY.pub written by `invarlock keygen`"
    data = _read(path, "public key", hint)
    _require_one_block(data, path, "public key", hint)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        if b"PRIVATE KEY-----" in data:
            raise UsageError("E702", f"'{path}' is a private key, not a public key", hint) from exc
        raise UsageError("E701", f"public key '{path}' is not a PEM public key", hint) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError("E702", f"public key '{path}' is {type(key).__name__}, not Ed25519", hint)
    return Ed25519SignatureVerifier(key)


def _existing(path: Path) -> os.stat_result | None:
    """lstat of a keygen target, None when nothing is there; E704 when the path itself is unusable."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError("E704", f"cannot write key file '{path}': {exc.strerror}", "check the --out path") from exc


def _refuse_special(path: Path) -> None:
    node = _existing(path)
    kind = None if node is None else mode_kind(node.st_mode)
    if kind is not None:
        raise UsageError("E704", f"cannot write key file '{path}': it is {kind}", "choose another --out")
    from .duckdb_file import holds_duckdb  # here: keygen and verify --pubkey import no DuckDB otherwise

    if node is not None and holds_duckdb(path):  # --force replaced an event store, every run it held
        said = f"cannot write key file '{path}': it is a DuckDB database (an event store?) it would replace"
        raise UsageError("E704", said, "choose another --out")


def _write(path: Path, data: bytes, mode: int) -> None:
    """A new key file; E703 when `path` exists (O_EXCL: never a device, FIFO or a symlink's target)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError as exc:
        raise UsageError("E703", f"'{path}' already exists", "choose another --out or pass --force") from exc
    except OSError as exc:
        raise UsageError("E704", f"cannot write key file '{path}': {exc.strerror}", "check the directory") from exc
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), mode)  # O_CREAT's mode is masked by the umask
        out.write(data)


def _staged(path: Path, data: bytes, mode: int) -> Path:
    """`data` in a new file beside `path`, to be renamed over it: --force replaces a key whole, so a crash or a
    full disk never leaves it empty, and a hard link to the old key keeps the old key."""
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".invarlock-key-")  # short: a name of 255 bytes fits
    except OSError as exc:
        raise UsageError("E704", f"cannot write key file '{path}': {exc.strerror}", "check the directory") from exc
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), mode)
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return Path(name)


def _replace(pairs: list[tuple[Path, bytes, int]]) -> None:
    """Stage every file, then rename each over its path (lstat showed each a regular file or nothing)."""
    staged: list[Path] = []
    try:
        for path, data, mode in pairs:
            staged.append(_staged(path, data, mode))
        for (path, _, _), new in zip(pairs, staged, strict=True):
            os.replace(new, path)
    except OSError as exc:
        raise UsageError("E704", f"cannot write key file '{path}': {exc.strerror}", "check the directory") from exc
    finally:
        for new in staged:
            new.unlink(missing_ok=True)


def generate_keypair(path: Path, *, force: bool = False) -> str:
    """Write a new private key to `path` (0600) and its public key to `path.pub`; return the fingerprint."""
    if not path.name:  # "" or "/": there is no file name to add `.pub` to
        raise UsageError("E704", f"cannot write key file '{path}': it names no file", "pass a file name to --out")
    pub_path = public_path(path)
    existing = [p for p in (path, pub_path) if _existing(p) is not None]
    if existing and not force:
        raise UsageError("E703", f"'{existing[0]}' already exists", "choose another --out or pass --force")
    for target in existing:  # checked for both files before either is written
        _refuse_special(target)
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if force:
        _replace([(path, private_pem, 0o600), (pub_path, public_pem, 0o644)])
    else:
        _write(path, private_pem, 0o600)
        _write(pub_path, public_pem, 0o644)
    return _fingerprint(key.public_key())
