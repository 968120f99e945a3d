"""The baseline's kept side of lockstep scoring (causal_reference, eval.sequential with KL) on the real demo model:
its pairs with an edited copy, whose LM head is still the baseline's very tensor (both heads then run as one
matmul), equal the lockstep pairs of both models held, bit for bit; a window too short to split the head off, a
family whose head does not split off, and a window never kept are refused with their codes."""

from __future__ import annotations

import copy
import gc
import os
import resource
import signal
import tempfile
from typing import Any

import numpy as np
import pytest
import torch
from invarlock.adapters.causal_lockstep import lockstep_pairs
from invarlock.adapters.causal_reference import held_alone_obstacle
from invarlock.adapters.causal_rows import MIN_ROWS, HeldHead, row_blocks, rows_per_call
from invarlock.adapters.hf_causal import HFCausalModel
from invarlock.adapters.hf_loader import HFModelLoader
from invarlock.domain.errors import IntegrityError, ResourceShortage, UsageError
from invarlock.domain.model import DevicePlacement, LoadOptions
from invarlock.domain.policy import PREFLIGHT_MIN_FREE_BYTES
from invarlock.domain.windows import TokenWindow

from tests.integration.conftest import DEMO_REF
from tests.integration.test_hf_causal_model import ENGLISH

pytestmark = pytest.mark.model

SEQ_LEN = 48


def _windows(demo_model: Any, length: int, count: int) -> list[TokenWindow]:
    ids = list(demo_model.tokenizer().encode(ENGLISH))
    return [TokenWindow(window_id=20 + i, tokens=tuple(ids[i * length : (i + 1) * length])) for i in range(count)]


def test_pairs_with_a_copy_sharing_the_head_equal_lockstep_bit_for_bit(demo_model: Any) -> None:
    """As `run --sequential` takes them: the baseline pass keeps, the baseline lets go (its head moves out of the
    checkpoint's mapping, the same values), then the subject is a copy of it whose edit leaves the head alone. Once the
    baseline is freed the subject shares with no model, so its writes would go in place: never into the kept head."""
    baseline = HFModelLoader().load(DEMO_REF, LoadOptions(adapter="auto", device="cpu", dtype="float32"))
    windows = _windows(demo_model, SEQ_LEN, 10)  # a batch of 8, then 2 padded to 8
    reference = baseline.kept_reference()
    try:
        reference.keep(windows)
        reference.release_model()
        moved, mapped = baseline.module.get_output_embeddings().weight, demo_model.module.get_output_embeddings().weight
        assert moved.data_ptr() != mapped.data_ptr() and torch.equal(moved, mapped)
        subject = baseline.duplicate()
        subject.scale_weights({subject.variance_taps()[2]: 1.25})  # the head and embedding stay shared
        held = list(lockstep_pairs(baseline, subject, windows, baseline.batch_size, None))
        assert [p.baseline for p in held] == list(baseline.score(windows))
        head = HeldHead(reference._head, [])
        assert head.same_weight(HeldHead(subject.module.get_output_embeddings(), [])), "one matmul for both heads"
        assert list(reference.score_pair(subject, windows)) == held
        assert all(p.comparison is not None and p.comparison.kl_sum > 0 for p in held)
        with pytest.raises(IntegrityError) as caught:
            list(reference.score_pair(subject, _windows(demo_model, SEQ_LEN, 11)[10:]))
        assert caught.value.code == "E605"
        del baseline, moved
        gc.collect()
        name = next(m.name for m in subject.matrices() if m.family == "embed")
        subject.assign(name, np.zeros_like(next(m.array for m in subject.matrices() if m.name == name)))
        assert torch.equal(reference._head.weight, mapped), "the kept head is unchanged"
        assert not subject.module.get_output_embeddings().weight.any()
    finally:
        reference.close()


class FullLogits:
    """A runner that only gives the batch's whole logits: the reduction before row blocks (causal_rows)."""

    def __init__(self, model: Any) -> None:
        self.causal_logits = model.causal_logits


# a subject sharing the head: each call makes 85 rows of both models (2 blocks of 100 - 1 rows); a subject whose head
# differs (its tied embedding scaled): 170 rows of each model per call (2 blocks of 180 - 1 rows)
@pytest.mark.parametrize(("length", "own_head"), [(100, False), (180, True)])
def test_windows_longer_than_one_head_call_pair_in_row_blocks_with_the_full_logits_bits(
    demo_model: Any, length: int, own_head: bool
) -> None:
    baseline = HFModelLoader().load(DEMO_REF, LoadOptions(adapter="auto", device="cpu", dtype="float32"))
    subject = baseline.duplicate()
    if own_head:
        name = next(m.name for m in subject.matrices() if m.family == "embed")
        subject.assign(name, next(m.array for m in subject.matrices() if m.name == name) * 1.01)
    else:
        subject.scale_weights({subject.variance_taps()[2]: 1.25})
    most = rows_per_call(demo_model.module.config.vocab_size)
    assert most is not None and len(row_blocks(length - 1, most if own_head else most // 2)) == 2
    windows = _windows(demo_model, length, 3)
    full = list(lockstep_pairs(FullLogits(baseline), FullLogits(subject), windows, baseline.batch_size, None))
    reference = baseline.kept_reference()
    try:
        reference.keep(windows)
        reference.release_model()
        assert list(reference.score_pair(subject, windows)) == full  # frozen Structs: every float compared with ==
        assert all(p.comparison is not None and p.comparison.kl_sum > 0 for p in full)
    finally:
        reference.close()


@pytest.mark.parametrize("when", ["once loaded", "when paired"])
def test_a_subject_checkpoints_equal_head_is_held_once_and_its_later_writes_leave_the_kept_one(
    demo_model: Any, when: str
) -> None:
    """A subject loaded from its own checkpoint, its head bit for bit the baseline's (the int8 export): the
    reference reads the subject's head storage instead of its own copy (one matmul, as with both held), from
    `hold_once` as soon as the subject is loaded (a sequential run) or else from the first pairing, and a later
    write of the subject's head goes to new storage."""
    baseline = demo_model.duplicate()
    windows = _windows(demo_model, SEQ_LEN, 3)
    reference = baseline.kept_reference()
    try:
        reference.keep(windows)
        reference.release_model()
        subject = HFModelLoader().load(DEMO_REF, LoadOptions(adapter="auto", device="cpu", dtype="float32"))
        theirs = subject.module.get_output_embeddings().weight
        assert reference._head.weight.data_ptr() != theirs.data_ptr()
        if when == "once loaded":
            reference.hold_once(subject)
            assert reference._head.weight.data_ptr() == theirs.data_ptr(), "held once before any pairing"
        subject.scale_weights({subject.variance_taps()[0]: 0.75})
        held = list(lockstep_pairs(demo_model, subject, windows, demo_model.batch_size, None))
        assert list(reference.score_pair(subject, windows)) == held
        assert reference._head.weight.data_ptr() == theirs.data_ptr(), "held once"
        name = next(m.name for m in subject.matrices() if m.family == "embed")
        subject.assign(name, np.zeros_like(next(m.array for m in subject.matrices() if m.name == name)))
        assert torch.equal(reference._head.weight, demo_model.module.get_output_embeddings().weight)
    finally:
        reference.close()


def test_a_subject_whose_head_differs_in_one_bit_keeps_the_references_own(demo_model: Any) -> None:
    subject = demo_model.duplicate()
    name = next(m.name for m in subject.matrices() if m.family == "embed")  # tied: the head's weight
    changed = next(m.array for m in subject.matrices() if m.name == name).copy()
    changed.view(np.uint32)[0, 0] ^= 1
    subject.assign(name, changed)
    reference = demo_model.duplicate().kept_reference()
    try:
        mine = reference._head.weight.data_ptr()
        reference.hold_once(subject)
        reference.hold_once(object())  # no torch module: nothing in common
        assert reference._head.weight.data_ptr() == mine
        assert torch.equal(reference._head.weight, demo_model.module.get_output_embeddings().weight)
    finally:
        reference.close()


def test_a_window_too_short_to_split_the_head_off_is_refused(demo_model: Any) -> None:
    reference = demo_model.kept_reference()
    try:
        with pytest.raises(UsageError) as caught:
            list(reference.keep(_windows(demo_model, MIN_ROWS, 2)))
        assert caught.value.code == "E104" and f"raise dataset.seq_len to {MIN_ROWS + 1}" in caught.value.hint
    finally:
        reference.close()


def test_a_family_whose_head_does_not_split_off_cannot_keep_a_reference(demo_model: Any) -> None:
    capped = copy.copy(demo_model.module)  # shares the weights
    capped.config = copy.copy(demo_model.module.config)
    model = HFCausalModel(capped, demo_model.tokenizer().inner, ref="capped")
    capped.config.model_type = "gemma2"  # soft-caps its logits after the head
    with pytest.raises(UsageError) as caught:
        model.kept_reference()
    assert caught.value.code == "E104" and "model type gemma2" in caught.value.message
    assert "eval.secondary.measure: false" in caught.value.hint


def test_a_full_disk_stops_the_pass_with_e608_naming_the_folder(demo_model: Any) -> None:
    """A file size limit stands in for a full disk: the first write past it is cut short (a short write, no
    error), the next fails; either way E608 naming the temporary folder, never a traceback."""
    windows = _windows(demo_model, SEQ_LEN, 3)
    window_bytes = SEQ_LEN * demo_model.module.config.hidden_size * 4  # one window's final hidden states
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    reference = demo_model.duplicate().kept_reference()
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (window_bytes + window_bytes // 2, limits[1]))
        with pytest.raises(UsageError) as caught:
            reference.keep(windows)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous)
        reference.close()
    assert caught.value.code == "E608" and tempfile.gettempdir() in caught.value.message
    assert "TMPDIR" in caught.value.hint and "--no-sequential" in caught.value.hint


def test_a_disk_too_small_for_the_hidden_states_is_e608_before_any_pass(
    demo_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check_room counts 4 bytes × hidden size per token (float32), and PREFLIGHT_MIN_FREE_BYTES beside them, against
    the free space of the temporary file's disk: the demo's 3 windows need 3 × 256 × 576 × 4 bytes; one byte less
    free is E608 naming the sizes."""
    from invarlock.adapters import causal_reference

    need = 3 * SEQ_LEN * demo_model.module.config.hidden_size * 4 + PREFLIGHT_MIN_FREE_BYTES
    disk = os.fstatvfs
    reference = demo_model.duplicate().kept_reference()
    try:
        for free in (need, need - 1):  # in one-byte blocks: free space to the byte
            monkeypatch.setattr(causal_reference.os, "fstatvfs", lambda fd, free=free: _Disk(free, 1))
            if free == need:
                reference.check_room(3 * SEQ_LEN)
                continue
            with pytest.raises(ResourceShortage) as caught:  # the machine's: a run it stops stays resumable
                reference.check_room(3 * SEQ_LEN)
        monkeypatch.setattr(causal_reference.os, "fstatvfs", disk)
        reference.check_room(3 * SEQ_LEN)  # this machine's own disk takes 1.7 MiB
    finally:
        reference.close()
    assert caught.value.code == "E608" and tempfile.gettempdir() in caught.value.message
    states = need - PREFLIGHT_MIN_FREE_BYTES
    assert f"they need {states / 2**20:.1f} MiB there and 256.0 MiB left beside them" in caught.value.message
    assert "TMPDIR" in caught.value.hint


class _Disk:
    def __init__(self, free: int, frsize: int) -> None:
        self.f_bavail, self.f_frsize = free, frsize


def test_a_missing_temporary_folder_is_e608(demo_model: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    with pytest.raises(UsageError) as caught:
        demo_model.kept_reference()
    assert caught.value.code == "E608" and str(tmp_path / "gone") in caught.value.message


def test_the_loader_tells_whether_a_model_may_be_held_alone_without_loading_it() -> None:
    loader, cpu = HFModelLoader(), LoadOptions(device="cpu")
    assert loader.sequential_obstacle(DEMO_REF, cpu, window_tokens=256) is None
    assert loader.sequential_obstacle(DEMO_REF, cpu, window_tokens=None) is None
    short = loader.sequential_obstacle(DEMO_REF, cpu, window_tokens=MIN_ROWS)
    assert short is not None and f"at least {MIN_ROWS + 1}" in short
    spread = LoadOptions(device="cpu", placement=DevicePlacement(device_map="auto"))
    assert "device_map" in (loader.sequential_obstacle(DEMO_REF, spread, window_tokens=256) or "")
    encoder = loader.sequential_obstacle("demo:minilm-l6", cpu, window_tokens=256)
    assert encoder is not None and "hf_encoder" in encoder


OBSTACLES = {
    "a soft-capped family": (("hf_causal", "gemma2", "cpu", False, 256), "model type gemma2"),
    "a GPU, never measured": (("hf_causal", "llama", "cuda", False, 256), "not yet measured on cuda"),
    "a classification head": (("hf_seqcls", "llama", "cpu", False, 256), "hf_seqcls"),
}


@pytest.mark.parametrize(("given", "named"), OBSTACLES.values(), ids=OBSTACLES.keys())
def test_what_is_held_beside_the_other_model(given: tuple, named: str) -> None:
    found = held_alone_obstacle(*given)
    assert found is not None and named in found


STOPS = {  # (adapter, family, device, placed, window tokens) -> what stops a run that sets eval.sequential: true
    "a soft-capped family with KL": (("hf_causal", "gemma2", "cpu", False, 256), "model type gemma2"),
    "a classification head with KL": (("hf_seqcls", "llama", "cpu", False, 256), "hf_seqcls"),
    "windows too short to keep": (("hf_causal", "llama", "cpu", False, MIN_ROWS), f"at least {MIN_ROWS + 1}"),
    "a GPU": (("hf_causal", "llama", "cuda", False, 256), None),
    "a device map (its head is known once placed)": (("hf_causal", "llama", "cpu", True, 256), None),
    "a masked LM without KL": (("hf_mlm", "bert", "cpu", False, None), None),
    "a soft-capped family without KL": (("hf_causal", "gemma2", "cuda", True, None), None),
}


@pytest.mark.parametrize(("given", "named"), STOPS.values(), ids=STOPS.keys())
def test_what_stops_a_run_that_sets_sequential_is_only_what_keeps_no_side_of_kl(given: tuple, named: str | None):
    """`stated`: a run whose config sets eval.sequential: true stops only where the baseline's side of KL cannot be
    kept; a device or a device map never measured holding one model is the default's caution, not a stop."""
    found = held_alone_obstacle(*given, stated=True)
    assert (found is None) == (named is None), found
    assert named is None or named in (found or ""), found
