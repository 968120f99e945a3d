"""A released causal LM's side of lockstep scoring (ports.kept_reference.KeptReference), for a sequential run that
measures KL and top-1 agreement (docs/reference/sequential.md).

Lockstep scoring makes each window's baseline logits as `head(hidden[i, :-1])` from the batch's final hidden states
(causal_rows). So the baseline runs only its body over the windows and keeps, per window, those hidden states
(positions × hidden size: 0.6 MB at the demo size, against 50 MB of logits) in an unlinked temporary file, and its
LM head module in memory; once the subject is loaded, each window's baseline logits are that same head over the same
rows, and the pair goes through the same reduction (hf_kl.blocks_paired_score), both models' NLL sums included: the same
bits as the baseline held beside the subject, and no head or NLL computed twice. A subject whose head is the
baseline's bit for bit (a copy on write whose edit left it alone, or a checkpoint holding the same head) holds it
once with the reference, so both heads still run as one matmul there."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from invarlock.domain.errors import IntegrityError, ResourceShortage, UsageError
from invarlock.domain.model import PairedScore
from invarlock.domain.policy import PREFLIGHT_MIN_FREE_BYTES
from invarlock.domain.windows import TokenWindow
from invarlock.ports.model import ModelRunner, Progress

from . import file_pages
from .causal_lockstep import require_causal
from .causal_rows import MIN_ROWS, PLAIN_HEAD_TYPES, CausalHidden, logit_pairs_of, reusing_output
from .hf_kl import blocks_paired_score
from .hf_shared import keep_storage, same_bits
from .window_batches import batches, token_ids

COPY_BYTES = 8 * 2**20  # the part of the head copied before its mapped pages are given back (_copied_releasing)
_HINT = (
    "hold both models (eval.sequential: false, --no-sequential: KL measured in lockstep), or set "
    "eval.secondary.measure: false"
)


class HiddenReference:
    """The kept reference of `model` (an HFCausalModel whose LM head splits off, `head` that head's module)."""

    def __init__(self, model: CausalHidden, head: Any, batch_size: int, device: torch.device) -> None:
        self._model: CausalHidden | None = model
        self._head, self._held = head, list[torch.Tensor]()
        self._batch_size, self._device = batch_size, device
        # unlinked at once, so gone with the process whatever happens; close() drops it sooner
        try:
            self._file: Any = tempfile.TemporaryFile(prefix="invarlock-reference-")  # noqa: SIM115
        except OSError as exc:
            raise _unwritable(exc) from exc
        self._kept: dict[
            int, tuple[int, int, tuple[int, ...], torch.dtype]
        ] = {}  # window -> offset, bytes, shape, dtype
        self._compared: set[int] = set()  # addresses of subject heads compared with this one (hold_once)
        self._end = 0

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def keep(self, windows: Sequence[TokenWindow], progress: Progress | None = None) -> None:
        """Run the body over `windows` in the batches HFCausalModel.score runs (padded alike), writing each
        window's final hidden states to the file; the head and the NLLs wait for `score_pair`."""
        if self._model is None:
            raise IntegrityError("E605", "the baseline was released before its windows were kept", "report this bug")
        for batch in batches(windows, self._batch_size):
            _check_length(batch[0])
            ids = token_ids(batch, self._device, self._batch_size)
            with torch.inference_mode():
                parts = self._model.causal_hidden(ids)
                assert parts is not None, "kept_reference checked the head splits off"
                for i, window in enumerate(batch):
                    self._write(window.window_id, parts[0][i])
            if progress is not None:
                progress(len(batch))

    def check_room(self, tokens: int) -> None:
        """E608 when the final hidden states of `tokens` tokens (4 bytes × hidden size each in float32) do not fit
        the free space of the temporary file's disk now with PREFLIGHT_MIN_FREE_BYTES left beside them (what the
        doctor asks of the event store's disk: the store and the certificate are often on the same one): a run
        stops before its baseline pass, not when the disk fills during it (hours into a large model's pass)."""
        weight = self._head.weight
        need = tokens * weight.shape[1] * weight.element_size()
        try:
            disk = os.fstatvfs(self._file.fileno())
        except OSError as exc:
            raise _unwritable(exc) from exc
        free = disk.f_bavail * disk.f_frsize
        if need + PREFLIGHT_MIN_FREE_BYTES > free:
            sizes = f"{_size(need)} there and {_size(PREFLIGHT_MIN_FREE_BYTES)} left beside them, {_size(free)} is free"
            raise _unwritable(OSError(f"they need {sizes}"))

    def release_model(self) -> None:
        """Stop holding the model. The head's weight moves out of a checkpoint's file mapping (_own_memory), and
        its storage is marked kept (hf_shared.keep_storage): a model sharing it (`run`'s subject, a copy taken after
        this) writes that weight into new storage, never into the values this reference reads."""
        self._model = None
        _own_memory(self._head.weight)
        keep_storage(self._head.weight, self)

    def score_pair(
        self, other: ModelRunner, windows: Sequence[TokenWindow], progress: Progress | None = None
    ) -> Iterator[PairedScore]:
        """causal_lockstep.lockstep_pairs with this baseline's hidden states read back instead of computed."""
        subject = require_causal(other, "hf_causal")
        self.hold_once(subject)
        head = reusing_output(self._head, self._held)
        for batch in batches(windows, self._batch_size):
            ids = token_ids(batch, torch.device("cpu"), rows=self._batch_size)
            with torch.inference_mode():
                hidden = torch.stack([self._read(w.window_id) for w in batch])
                rows = logit_pairs_of(None, (hidden, head), subject, ids, len(batch))
                pairs = [blocks_paired_score(w, ids[i], next(rows)) for i, w in enumerate(batch)]
            yield from pairs
            if progress is not None:
                progress(len(batch))

    def hold_once(self, other: object) -> None:
        """Read the subject's head storage instead of this reference's own when every bit is the same (a subject
        checkpoint whose edit left the head alone: `run --export`'s int8 checkpoint), so the head is held once and
        both run as one matmul, as when both models are held (HFWeights.share_equal_weights). That storage is then
        marked kept: a later write by the subject goes to new storage. Compared once per subject head; a subject
        without a torch module's output embeddings (another adapter) shares nothing.

        Called as soon as the subject is loaded (pipeline.load_subject_alone), before its fingerprint reads its
        pages: until then this reference's own copy of the head (113 MB at the demo's size) was held beside the
        subject's identical one through the fingerprint and the guards."""
        heads = getattr(getattr(other, "module", None), "get_output_embeddings", None)
        theirs = heads() if callable(heads) else None
        mine = self._head.weight
        if theirs is None or theirs.weight.data_ptr() in (mine.data_ptr(), *self._compared):
            return
        self._compared.add(theirs.weight.data_ptr())
        if same_bits(mine, theirs.weight):
            with torch.no_grad():
                mine.data = theirs.weight.data
            keep_storage(mine, self)

    def close(self) -> None:
        self._file.close()
        self._kept.clear()

    def _write(self, window_id: int, hidden: torch.Tensor) -> None:
        data = hidden.detach().contiguous().cpu()
        raw = data.view(torch.uint8).numpy().tobytes()
        try:
            written = os.pwrite(self._file.fileno(), raw, self._end)
        except OSError as exc:
            raise _unwritable(exc) from exc
        if written != len(raw):  # a full disk may take part of a write without an error
            raise _unwritable(OSError(f"{written} of {len(raw)} bytes written"))
        self._kept[window_id] = (self._end, len(raw), tuple(data.shape), data.dtype)
        self._end += len(raw)

    def _read(self, window_id: int) -> torch.Tensor:
        if window_id not in self._kept:
            raise IntegrityError("E605", f"window {window_id} was not kept by the baseline's pass", "report this bug")
        offset, size, shape, dtype = self._kept[window_id]
        raw = bytearray(os.pread(self._file.fileno(), size, offset))
        return torch.frombuffer(raw, dtype=torch.uint8).view(dtype).view(shape).to(self._device)


def _size(count: int) -> str:
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


def _unwritable(exc: OSError) -> ResourceShortage:
    """E608 for the temporary file: the machine's shortage, so a run it stops can be resumed (ResourceShortage)."""
    where = tempfile.gettempdir()
    return ResourceShortage(
        "E608",
        f"the baseline's kept hidden states cannot be written to a temporary file in {where}: {exc.strerror or exc}",
        "free space there or set TMPDIR to a folder on a larger disk, or hold both models (--no-sequential)",
    )


def _own_memory(weight: torch.nn.Parameter) -> None:
    """Give `weight` (the head's; the embedding too when tied) storage of its own when it is a view of a checkpoint's
    mapped pages holding the file's own bytes, and give those pages back (file_pages). Otherwise the one view would keep
    the whole mapping alive, and every page the fingerprint read resident, once the rest of the baseline is released
    (the demo's 513 MB against its 113 MB head). The same values: a copy of the bytes; a copy on write made later
    (`run`'s subject) shares the new storage."""
    own = weight.data
    if own.device.type != "cpu" or not own.is_contiguous():
        return
    if not file_pages.clean(own.data_ptr(), own.nbytes):
        return
    with torch.no_grad():
        weight.data = _copied_releasing(own, file_pages.release)
    # the pages that straddle two parts (each part gives back only its whole pages); `own` keeps the mapping alive
    file_pages.release(own.data_ptr(), own.nbytes)


def _copied_releasing(own: torch.Tensor, release: Callable[[int, int], int]) -> torch.Tensor:
    """A copy of the contiguous `own`, made COPY_BYTES at a time, each part's mapped pages given back once copied:
    the copy's pages come in as the mapping's go, instead of a whole second head at once (113 MB at the demo's
    size, at the end of the baseline pass: that pass's peak). Dropping a clean file page loses no value (file_pages),
    so `own` reads the same bytes throughout."""
    copy, size = torch.empty_like(own), own.element_size()
    source, target, step = own.view(-1), copy.view(-1), max(1, COPY_BYTES // size)
    for start in range(0, source.numel(), step):
        target[start : start + step].copy_(source[start : start + step])
        release(own.data_ptr() + start * size, min(step, source.numel() - start) * size)
    return copy


def _too_short(tokens: int) -> bool:
    """Whether a window of `tokens` tokens has too few rows for its LM head to split off (causal_rows.MIN_ROWS)."""
    return tokens - 1 < MIN_ROWS


def _check_length(window: TokenWindow) -> None:
    if _too_short(len(window.tokens)):
        raise UsageError(
            "E104",
            f"windows of {len(window.tokens)} tokens are too short to keep the baseline's side of KL "
            f"(at least {MIN_ROWS + 1} tokens split its LM head off)",
            f"raise dataset.seq_len to {MIN_ROWS + 1} or more, or {_HINT}",
        )


def kept_reference(model: Any, head: Any, family: str | None) -> HiddenReference:
    """The empty reference of an HFCausalModel `model` with LM head `head` (causal_rows.split_head's; None: the
    head does not split off, UsageError E104)."""
    if head is None:
        plain = ", ".join(sorted(PLAIN_HEAD_TYPES))
        raise UsageError(
            "E104",
            f"one model at a time with KL needs the baseline's LM head split off its body; model type {family} "
            f"(or its placement) does not allow it (families: {plain}, the head on one device)",
            _HINT,
        )
    return HiddenReference(model, head, model.batch_size, model.device)


def held_alone_obstacle(
    adapter: str, family: str | None, device: str, placed: bool, window_tokens: int | None, *, stated: bool = False
) -> str | None:
    """Why a model run by `adapter`, of model type `family`, on `device` (`placed`: spread by a device map) should
    not be held alone with its side of KL kept for windows of `window_tokens` tokens (None: no paired measures),
    or None. Only what was tested and measured: hf_causal on the CPU, a plain-head family, windows of at least
    MIN_ROWS + 1 tokens. `stated` (the config sets eval.sequential: true): only what stops that run once the
    baseline is loaded, its side of KL not kept (ReferenceKeeping, kept_reference, _check_length); a device map's
    head is known only once placed."""
    if stated and window_tokens is None:
        return None
    if adapter != "hf_causal":
        return f"the {adapter} adapter keeps no side of KL"
    if placed and not stated:
        return "model.device_map may put its LM head on another device than its body"
    if device != "cpu" and not stated:
        return f"one model at a time was not yet measured on {device}"
    if family not in PLAIN_HEAD_TYPES:
        plain = ", ".join(sorted(PLAIN_HEAD_TYPES))
        return f"model type {family} does not split its LM head off its body (families that do: {plain})"
    if window_tokens is not None and _too_short(window_tokens):
        return f"windows of {window_tokens} tokens are too short to keep (at least {MIN_ROWS + 1})"
    return None
