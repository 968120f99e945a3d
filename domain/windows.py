"""Window planning: non-overlapping, deduplicated token windows assigned to disjoint arms."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import msgspec
import numpy as np

from .arm_counts import ArmCounts, fit_counts
from .errors import UsageError

ARMS = ("preview", "final", "calibration")


class PlannedWindow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One window of the plan: its index in the token stream, its arm and its content digest (the
    certificate's evidence.plan lists these)."""

    window_id: int
    arm: str
    digest: str


class TokenWindow(msgspec.Struct, frozen=True, kw_only=True):
    """A window's token ids, handed to a ModelRunner. `tokens` are uint32 ids, length seq_len.

    A labelled example (metric kind `accuracy`) is one window of variable length: `tokens` are its prompt's
    ids, `label` the gold label's index and `candidates` the continuation ids of every label, in label order
    (zero-shot LM scoring compares their log-likelihoods; a classification head ignores them).

    `mask_seed` is the run's dataset seed: a masked-LM runner masks the window with domain.masking keyed by
    it and the window's digest (None: the caller gave none, and a masked-LM runner refuses the window).
    """

    window_id: int
    tokens: tuple[int, ...]
    label: int | None = None
    candidates: tuple[tuple[int, ...], ...] | None = None
    mask_seed: int | None = None


Row = np.ndarray | TokenWindow
"""What planning hands the pipeline per window id: a stream window's token row, or a labelled example's window."""


def as_window(window_id: int, row: Row) -> TokenWindow:
    """The TokenWindow of one planned row, without a mask seed (token_windows adds the run's)."""
    return row if isinstance(row, TokenWindow) else TokenWindow(window_id=window_id, tokens=tuple(int(t) for t in row))


def token_count(ids: Iterable[int], rows: Mapping[int, Row]) -> int:
    """How many tokens the planned windows `ids` hold in all (a labelled example: its window's tokens)."""
    return sum(len(row.tokens) if isinstance(row, TokenWindow) else len(row) for row in (rows[i] for i in ids))


def token_windows(ids: Sequence[int], rows: Mapping[int, Row], *, seed: int) -> list[TokenWindow]:
    """The TokenWindows a ModelRunner scores for planned windows `ids` (in that order), stream rows and
    labelled examples alike, each carrying the run's dataset `seed` as its `mask_seed`."""
    return [msgspec.structs.replace(as_window(i, rows[i]), mask_seed=seed) for i in ids]


class WindowPlan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The deterministic plan: which windows exist, their digests and arms, and the plan digest.

    `stream_tokens` is the length of the token stream the windows were cut from, `tokenizer_sha256` the
    tokenizer that made it. Every field but `windows` appears as is in the certificate's dataset section.
    """

    seq_len: int
    stride: int
    tokenizer_sha256: str
    stream_tokens: int
    dataset_digest: str
    window_plan_digest: str
    windows: tuple[PlannedWindow, ...]
    windows_available: int
    duplicates_dropped: int
    approximate_counts: bool

    def arm(self, name: str) -> tuple[PlannedWindow, ...]:
        return tuple(w for w in self.windows if w.arm == name)


def dataset_digest(tokens: np.ndarray, provider: str, split: str, tokenizer_sha256: str) -> str:
    """sha256 over the token stream (uint32 little-endian) plus provider, split and tokenizer digest."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(tokens, dtype="<u4").tobytes())
    for part in (provider, split, tokenizer_sha256):
        h.update(b"\x00" + part.encode())
    return h.hexdigest()


def window_digest(tokens: np.ndarray) -> str:
    """blake2b-128 over the window's uint32 little-endian token ids."""
    data = np.ascontiguousarray(tokens, dtype="<u4").tobytes()
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def plan_digest(windows: Sequence[PlannedWindow]) -> str:
    """sha256 over the (arm, id, digest) rows of the plan, in plan order."""
    h = hashlib.sha256()
    for w in windows:
        h.update(f"{w.arm}\t{w.window_id}\t{w.digest}\n".encode())
    return h.hexdigest()


MAX_WINDOW_TOKENS = 2**31  # beyond any context length; keeps window offsets within int64


def check_window_shape(seq_len: int, stride: int, where: str = "") -> None:
    """UsageError E201 unless windows of `seq_len` tokens every `stride` tokens can be cut: at least 2 tokens, at
    most MAX_WINDOW_TOKENS, not overlapping. `where` prefixes the key named (a config file and `dataset.`)."""
    if seq_len < 2:
        raise UsageError("E201", f"{where}seq_len is {seq_len}", "set dataset.seq_len to 2 tokens or more")
    if max(seq_len, stride) > MAX_WINDOW_TOKENS:
        raise UsageError(
            "E201",
            f"{where}seq_len {seq_len} / stride {stride} above {MAX_WINDOW_TOKENS} tokens",
            "set dataset.seq_len and dataset.stride to a window's length in tokens",
        )
    if stride < seq_len:
        raise UsageError(
            "E201",
            f"{where}stride {stride} < seq_len {seq_len} would make windows overlap",
            "set dataset.stride >= dataset.seq_len (or leave it out: it defaults to seq_len)",
        )


def cut_windows(stream: np.ndarray, seq_len: int, stride: int) -> np.ndarray:
    """Cut the stream into windows of `seq_len` tokens every `stride` tokens (last partial one dropped)."""
    check_window_shape(seq_len, stride)
    if len(stream) < seq_len:
        # No window fits: an index of seq_len offsets would cost 8 bytes a token of a length nothing has.
        return np.zeros((0, seq_len), np.uint32)
    count = (len(stream) - seq_len) // stride + 1
    starts = np.arange(count, dtype=np.int64) * stride
    index = starts[:, None] + np.arange(seq_len, dtype=np.int64)[None, :]
    rows: np.ndarray = np.asarray(stream, dtype=np.uint32)[index]
    return rows


def _arm_order(dataset: str, seed: int, n: int) -> np.ndarray:
    key = hashlib.sha256(f"invarlock/arms/v1\x00{dataset}\x00{seed}".encode()).digest()
    ranks = np.frombuffer(hashlib.shake_256(key).digest(8 * n), dtype="<u8")
    return np.argsort(ranks, kind="stable")


def plan_windows(
    stream: np.ndarray,
    *,
    seq_len: int,
    stride: int,
    counts: ArmCounts,
    seed: int,
    dataset: str,
    tokenizer_sha256: str,
    allow_fewer: bool,
) -> tuple[WindowPlan, dict[int, np.ndarray]]:
    """Plan windows from a token stream.

    Windows are cut every `stride` tokens, exact duplicates (same digest) are dropped, and a permutation
    keyed by sha256(dataset digest, seed) assigns them to preview, final and calibration in that order.
    With `allow_fewer` (dev profile) arms shrink proportionally, keeping at least 2 windows each, when the
    stream is too short; otherwise too few windows is an E303 error (see `fit_counts`). `dataset` is the
    stream's `dataset_digest`, `tokenizer_sha256` the digest of the tokenizer that made it (recorded in the
    plan). Returns the plan and the token rows of planned windows by id.
    """
    rows = cut_windows(stream, seq_len, stride)
    unique_ids, digests, dropped = _dedupe(rows)
    planned, wanted = assign_arms(
        unique_ids, digests, counts=counts, seed=seed, dataset=dataset, allow_fewer=allow_fewer
    )
    plan = WindowPlan(
        seq_len=seq_len,
        stride=stride,
        tokenizer_sha256=tokenizer_sha256,
        stream_tokens=len(stream),
        dataset_digest=dataset,
        window_plan_digest=plan_digest(planned),
        windows=tuple(planned),
        windows_available=len(unique_ids),
        duplicates_dropped=dropped,
        approximate_counts=wanted != counts,
    )
    return plan, {w.window_id: rows[w.window_id] for w in planned}


def assign_arms(
    unique_ids: Sequence[int], digests: dict[int, str], *, counts: ArmCounts, seed: int, dataset: str, allow_fewer: bool
) -> tuple[list[PlannedWindow], ArmCounts]:
    """Assign distinct windows (or examples) to preview, final and calibration, in that order, by a permutation
    keyed by sha256(dataset digest, seed); each arm lists its ids sorted. Returns the rows and the arm sizes
    `fit_counts` granted (E303 when too few)."""
    wanted = fit_counts(counts, len(unique_ids), allow_fewer)
    dealt = deal_arms(unique_ids, wanted, seed=seed, dataset=dataset)
    planned = [PlannedWindow(window_id=i, arm=arm, digest=digests[i]) for arm in ARMS for i in dealt[arm]]
    return planned, wanted


def deal_arms(unique_ids: Sequence[int], sizes: ArmCounts, *, seed: int, dataset: str) -> dict[str, list[int]]:
    """The ids (sorted) each arm of ARMS gets when `sizes` windows are dealt from `unique_ids`, in that arm
    order, by the permutation keyed by sha256(dataset digest, seed): what a plan's arms must be."""
    order = _arm_order(dataset, seed, len(unique_ids))
    dealt: dict[str, list[int]] = {}
    cursor = 0
    for arm, n in zip(ARMS, (sizes.preview, sizes.final, sizes.calibration), strict=True):
        dealt[arm] = sorted(int(unique_ids[i]) for i in order[cursor : cursor + n])
        cursor += n
    return dealt


def _dedupe(rows: np.ndarray) -> tuple[list[int], dict[int, str], int]:
    seen: set[str] = set()
    kept: list[int] = []
    digests: dict[int, str] = {}
    for i, row in enumerate(rows):
        d = window_digest(row)
        if d in seen:
            continue
        seen.add(d)
        kept.append(i)
        digests[i] = d
    return kept, digests, len(rows) - len(kept)
