"""Auditor's check: recheck every run's hash chain in an InvarLock DuckDB event store with your own code.

Usage: python docs/reference/recheck_chain.py EVENTS.duckdb [--run RUN_ID ...] [--cert CERT.json]

Written from docs/reference/event-chain.md; it deliberately imports nothing from invarlock and needs only
duckdb, hashlib and json. For each run it recomputes every hash, checks every link and the order of the
final events, and checks that a chain seal names the event before it. With --cert it also checks that the
certificate's body hashes to its digest (canonical JSON, docs/reference/statistics.md §6), that its run is anchored
in the chain (digest, event_log, status and verdict) and that a signed certificate's
run is sealed by the key that signed it. It does not check the seal's Ed25519 signature: it prints the message
the seal signs, for any Ed25519 tool and the issuer's public key. A payload repeating a key is refused, as
InvarLock refuses it. Exit status 0 when every checked run is intact, 3 otherwise, 2 when the store or the
certificate cannot be read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import UTC
from pathlib import Path

import duckdb

GENESIS = hashlib.sha256(b"invarlock/event-chain/genesis/v2").hexdigest()
SEAL_DOMAIN = b"invarlock/chain-seal/v1"
COLUMNS = ["run_id", "seq", "type", "version", "payload", "recorded_at", "prev_hash", "hash"]


def canonical_float(value: float) -> str:
    """A float as InvarLock's canonical JSON writes it (statistics.md §6): the shortest round-trip digits, in fixed
    notation when the decimal exponent is from -5 to 15 (`1.0`, `0.000025`), else `<digits>e<exponent>` with no
    `+` and no leading zeros (`1e-6`, `1.5e16`). Python's repr has the same digits."""
    text = repr(value)
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0").rstrip("0") or "0"
    if exponent:
        point = len(whole) + int(exponent)  # the value is 0.<digits> x 10^point
    else:
        point = len(whole) if whole != "0" else len(fraction.lstrip("0")) - len(fraction)
    if digits == "0":
        return sign + "0.0"
    if -5 <= point - 1 <= 15:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}.0"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    return f"{sign}{digits[0]}{'.' + digits[1:] if len(digits) > 1 else ''}e{point - 1}"


def canonical_json(value: object) -> str:
    """Canonical JSON (statistics.md §6): keys sorted, no whitespace, UTF-8 unescaped, canonical floats."""
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{canonical_json(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, float):
        return canonical_float(value)
    return json.dumps(value, ensure_ascii=False)


def length_prefixed(parts: list[bytes]) -> bytes:
    """Each part preceded by its length as an 8-byte little-endian unsigned integer."""
    return b"".join(len(p).to_bytes(8, "little") + p for p in parts)


def event_hash(row: dict) -> str:
    parts = [row["run_id"], str(row["seq"]), row["recorded_at"], row["prev_hash"], row["type"], str(row["version"])]
    return hashlib.sha256(length_prefixed([p.encode() for p in parts] + [row["payload"]])).hexdigest()


def seal_message(run_id: str, head_seq: int, head_hash: str) -> bytes:
    return length_prefixed([SEAL_DOMAIN, run_id.encode(), str(head_seq).encode(), head_hash.encode()])


def read_run(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    sql = f"SELECT {', '.join(COLUMNS)} FROM events WHERE run_id = ? ORDER BY seq"
    rows = [dict(zip(COLUMNS, values, strict=True)) for values in con.execute(sql, [run_id]).fetchall()]
    for row in rows:
        nulls = [name for name in COLUMNS if row[name] is None]
        if nulls:
            raise ValueError(f"seq {row['seq']} has NULL {', '.join(nulls)}")
        row["payload"] = row["payload"].encode("utf-8")
        row["recorded_at"] = row["recorded_at"].astimezone(UTC).isoformat(timespec="microseconds")
    return rows


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    repeated = next((k for k in keys if keys.count(k) > 1), None)
    if repeated is not None:
        raise ValueError(f"repeats the key {repeated!r}")
    return dict(pairs)


def link_problems(rows: list[dict]) -> list[str]:
    problems, prev = [], GENESIS
    for expected, row in enumerate(rows):
        where = f"seq {row['seq']} ({row['type']})"
        if row["seq"] != expected:
            problems.append(f"{where}: expected seq {expected}")
        if row["prev_hash"] != prev:
            problems.append(f"{where}: prev_hash does not link")
        if event_hash(row) != row["hash"]:
            problems.append(f"{where}: hash does not match")
        try:
            payload = json.loads(row["payload"], object_pairs_hook=_unique_keys)
        except ValueError as exc:  # a repeated key reads two ways: InvarLock refuses such a payload (E604)
            problems.append(f"{where}: payload {exc}")
            payload = {}
        if not isinstance(payload, dict):
            problems.append(f"{where}: payload is not a JSON object")
            payload = {}
        if payload.get("type") != f"{row['type']}.v{row['version']}":
            problems.append(f"{where}: payload tag differs from the row")
        prev = row["hash"]
    return problems


RECHECKED = {"window_rechecked", "comparison_rechecked", "matrix_rechecked"}


def tail_problems(rows: list[dict]) -> list[str]:
    """The stream starts with run_started; after certificate_issued come run_completed and, last, chain_sealed.
    A re-execution audit (`verify CERT --baseline B --events FILE`) is a stream of its own: reexecution_started,
    the rechecked windows, comparisons and matrices, and reexecution_finished last once it has finished."""
    types = [row["type"] for row in rows]
    if types and types[0] == "reexecution_started":
        body = types[1:-1] if types[-1] == "reexecution_finished" else types[1:]
        strays = sorted(set(body) - RECHECKED)
        return [f"a re-execution audit stream holding {strays}"] if strays else []
    if not types or types[0] != "run_started":
        return ["the stream does not start with run_started"]
    if "certificate_issued" not in types:
        return [] if "run_completed" not in types and "chain_sealed" not in types else ["completed without certificate"]
    tail = types[types.index("certificate_issued") + 1 :]
    if tail not in (["run_completed"], ["run_completed", "chain_sealed"]):
        return [f"after certificate_issued: {tail} (expected run_completed, then optionally chain_sealed)"]
    if tail[-1] == "chain_sealed":
        seal, head = _object(rows[-1]["payload"]), rows[-2]
        if (seal.get("head_seq"), seal.get("head_hash")) != (head["seq"], head["hash"]):
            return ["chain_sealed does not name the event before it"]
    return []


def cert_problems(rows: list[dict], cert: dict) -> list[str]:
    """The certificate must be the one its run issued and completed with."""
    types = [row["type"] for row in rows]
    if "certificate_issued" not in types:
        return ["the run has no certificate_issued event"]
    at = types.index("certificate_issued")
    issued = _object(rows[at]["payload"])
    body = {key: value for key, value in cert.items() if key not in ("digest", "signature")}
    hashed = hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()
    problems = [] if hashed == cert.get("digest") else [f"the certificate's body hashes to {hashed}, not its digest"]
    if issued.get("certificate_digest") != cert.get("digest"):
        problems.append("certificate_issued names another certificate digest")
    anchor = {"run_id": rows[0]["run_id"], "head_hash": rows[at - 1]["hash"] if at else None, "event_count": at}
    if _object_of(cert, "provenance").get("event_log") != anchor:
        problems.append("the certificate's event_log does not anchor it before certificate_issued")
    done = _object(rows[at + 1]["payload"]) if at + 1 < len(rows) else {}
    if (done.get("status"), done.get("verdict")) != (cert.get("status"), _object_of(cert, "verdict").get("status")):
        problems.append(f"run_completed says {done.get('status')}/{done.get('verdict')}, the certificate differs")
    return problems + seal_problems(rows, cert)


def seal_problems(rows: list[dict], cert: dict) -> list[str]:
    """A signed certificate's run ends with a chain seal by the key that signed the certificate."""
    signed = _object_of(cert, "signature").get("key_fingerprint")
    if signed is None:
        return []
    if rows[-1]["type"] != "chain_sealed":
        return ["the certificate is signed, but its run has no chain seal"]
    sealed = _object(rows[-1]["payload"]).get("key_fingerprint")
    return [] if sealed == signed else [f"the run is sealed by {sealed}, the certificate signed by {signed}"]


def _object(payload: bytes) -> dict:
    """A payload's JSON object, or {} for anything else (link_problems names what is wrong with it)."""
    try:
        value = json.loads(payload, object_pairs_hook=_unique_keys)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _object_of(cert: dict, key: str) -> dict:
    value = cert.get(key)
    return value if isinstance(value, dict) else {}


def check(con: duckdb.DuckDBPyConnection, run_id: str, cert: dict | None) -> list[str]:
    try:
        rows = read_run(con, run_id)
    except ValueError as exc:
        return [str(exc)]
    if not rows:
        return ["no such run in this store"]
    problems = link_problems(rows) + tail_problems(rows)
    if cert is not None and cert["run_id"] == run_id:
        problems += cert_problems(rows, cert)
    if not problems and rows[-1]["type"] == "chain_sealed":
        seal = _object(rows[-1]["payload"])
        message = seal_message(run_id, seal["head_seq"], seal["head_hash"]).hex()
        said = f"sealed by {seal.get('key_fingerprint')}; signature {seal.get('signature')} over hex {message}"
        print(f"{run_id}: {said}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events")
    parser.add_argument("--run", action="append", default=None, help="check only this run (repeatable)")
    parser.add_argument("--cert", default=None, help="a certificate of one of the runs, checked against its run")
    args = parser.parse_args()
    try:
        cert = json.loads(Path(args.cert).read_bytes(), object_pairs_hook=_unique_keys) if args.cert else None
    except (OSError, ValueError, RecursionError) as exc:  # a repeated key reads two ways: refused, as InvarLock does
        print(f"cannot check {args.cert}: {(str(exc).splitlines() or [type(exc).__name__])[0]}", file=sys.stderr)
        return 2
    try:
        if not Path(args.events).is_file():
            raise OSError("no such file")
        con = duckdb.connect(args.events, read_only=True)
        stored = con.execute("SELECT DISTINCT run_id FROM events ORDER BY run_id").fetchall()
    except (OSError, ValueError, duckdb.Error) as exc:  # bad input: one line, exit 2
        print(f"cannot check {args.events}: {(str(exc).splitlines() or [type(exc).__name__])[0]}", file=sys.stderr)
        return 2
    if cert is not None and not (isinstance(cert, dict) and isinstance(cert.get("run_id"), str)):
        print(f"cannot check {args.cert}: it is no InvarLock certificate (no run_id)", file=sys.stderr)
        return 2
    try:
        canonical_json(cert).encode("utf-8")  # InvarLock refuses a certificate it cannot hash (E601)
    except (RecursionError, UnicodeError) as exc:
        print(f"cannot check {args.cert}: it has no canonical form ({type(exc).__name__})", file=sys.stderr)
        return 2
    runs = args.run or [r[0] for r in stored]
    if cert is not None and cert["run_id"] not in runs:
        runs.append(cert["run_id"])
    broken = 0
    for run_id in runs:
        try:
            problems = check(con, run_id, cert) if run_id is not None else ["rows with a NULL run_id"]
        except (KeyError, TypeError, ValueError, RecursionError, UnicodeError) as exc:  # a shape no run writes
            problems = [f"unreadable: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:120]}"]
        broken += bool(problems)
        print(f"{run_id}: {'ok' if not problems else 'BROKEN: ' + '; '.join(problems)}")
    return 3 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
