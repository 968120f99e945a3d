"""HFCausalModel on the real demo model: scoring against plain transformers, identity, census, tokenizer."""

from __future__ import annotations

import copy
import hashlib
import math
from pathlib import Path
from typing import Any

import pytest
from invarlock.domain.errors import AbortError
from invarlock.domain.model import LoadOptions
from invarlock.domain.windows import TokenWindow

pytestmark = pytest.mark.model

ENGLISH = """
The lighthouse on the northern cape was built in the eighteen forties, after a winter in which three cargo
ships ran aground on the same reef within a single month. The first keeper was a retired sailor who kept a
careful log of the weather, the passing vessels and the state of the lamp. His entries are short and plain,
but they show how hard the work was: the oil had to be carried up a narrow spiral staircase twice a day, the
glass had to be polished after every storm, and the clockwork that turned the lens had to be wound by hand
every four hours through the night.

In the following decades the station grew. A second cottage was added for an assistant keeper and his
family, a small garden was dug behind a wall of piled stones, and a fog bell was hung from a wooden frame near
the cliff edge. Supply boats came once a fortnight in summer, but in winter the crossing was often impossible,
and the keepers learned to store flour, salted fish and lamp oil for many weeks at a time. Children who grew
up at the station later remembered the silence of the long evenings, broken only by the wind and the steady
ticking of the mechanism above their heads.

Electric light arrived after the Second World War, together with a diesel generator that the keepers had to
maintain. The new lamp was brighter and needed less attention, and within twenty years the authorities
decided that a resident crew was no longer necessary. The last keeper left in the spring of nineteen seventy
two. For a while the buildings stood empty, their windows boarded and their paint peeling in the salt air.

Today the cottages belong to a local trust that rents them to walkers and bird watchers. The tower itself is
still an active aid to navigation, controlled remotely from a harbour office on the mainland, but visitors
can climb the staircase on summer afternoons. From the gallery at the top they can see seals resting on the
rocks below, gannets diving far out at sea, and on clear days the faint outline of the islands to the west.
A small exhibition in the former oil store displays the original logbooks, a brass telescope and a model of
the lens, which was made in France and shipped north in wooden crates packed with straw.

Historians who study the logbooks have found them useful for more than local colour. Because the keepers
recorded the wind direction, the air pressure and the height of the sea at fixed hours, their notes form one
of the longest continuous weather records on this part of the coast. Researchers have compared the entries
with modern measurements and found that storms now arrive earlier in the autumn than they did a century ago.
"""
WINDOWS, SEQ_LEN = 4, 128


@pytest.fixture(scope="module")
def english_windows(demo_dir: Path) -> list[TokenWindow]:
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(demo_dir)(ENGLISH, add_special_tokens=False)["input_ids"]
    assert len(ids) >= WINDOWS * SEQ_LEN
    return [TokenWindow(window_id=i, tokens=tuple(ids[i * SEQ_LEN : (i + 1) * SEQ_LEN])) for i in range(WINDOWS)]


def plain_transformers_nll(model_dir: Path, windows: list[TokenWindow]) -> list[float]:
    """Independent reference: one window at a time, manual float64 log-softmax over plain transformers."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    sums = []
    for window in windows:
        ids = torch.tensor([window.tokens])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1].double()
        log_probs = torch.log_softmax(logits, dim=-1)
        sums.append(-float(log_probs.gather(1, ids[0, 1:, None]).sum()))
    return sums


def test_perplexity_matches_an_independent_transformers_loop(demo_model: Any, demo_dir, english_windows) -> None:
    finished: list[int] = []
    ours = list(demo_model.score(english_windows, progress=finished.append))
    reference = plain_transformers_nll(demo_dir, english_windows)
    tokens = sum(s.tokens_scored for s in ours)
    our_ppl = math.exp(sum(s.nll_sum for s in ours) / tokens)
    ref_ppl = math.exp(sum(reference) / tokens)
    assert our_ppl == pytest.approx(ref_ppl, rel=1e-6)
    assert [s.nll_sum for s in ours] == pytest.approx(reference, rel=1e-5)
    assert [s.window_id for s in ours] == [0, 1, 2, 3]
    assert all(s.tokens_scored == SEQ_LEN - 1 for s in ours)
    assert sum(finished) == WINDOWS
    assert 2 < our_ppl < 200  # a real pretrained model on real English, not a random one


def test_identity_is_stable_across_two_loads(demo_model: Any) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader

    again = HFModelLoader().load("demo:smollm2-135m", LoadOptions(adapter="hf_causal", device="cpu", dtype="float32"))
    first, second = demo_model.identity(), again.identity()
    assert first == second
    assert first.param_count == 134_515_008
    assert first.architecture == "LlamaForCausalLM" and first.dtype == "float32"
    assert len(first.weights_sha256) == len(first.config_sha256) == len(first.tokenizer_sha256) == 64


def test_census_lists_the_tied_embedding_and_lm_head(demo_model: Any) -> None:
    census = demo_model.census()
    names = {t.name for t in census.tensors}
    assert ("lm_head.weight", "model.embed_tokens.weight") in census.tied_groups
    assert {"lm_head.weight", "model.embed_tokens.weight"} <= names
    assert all(t.finite and not t.all_zero for t in census.tensors)
    assert census.tokenizer_sha256 == demo_model.tokenizer().digest()


def test_matrices_are_out_by_in_float32_with_llama_families(demo_model: Any) -> None:
    import numpy as np

    matrices = {m.name: m for m in demo_model.matrices()}
    assert "lm_head.weight" not in matrices  # tied: listed once, as the embedding
    assert matrices["model.layers.0.self_attn.k_proj.weight"].array.shape == (192, 576)
    assert matrices["model.layers.0.mlp.down_proj.weight"].array.shape == (576, 1536)
    assert all(m.array.dtype == np.float32 and m.array.ndim == 2 for m in matrices.values())
    families = {name: m.family for name, m in matrices.items()}
    assert families["model.layers.3.self_attn.o_proj.weight"] == "attn"
    assert families["model.layers.3.mlp.gate_proj.weight"] == "ffn"
    assert families["model.embed_tokens.weight"] == "embed"
    assert sorted(set(families.values())) == ["attn", "embed", "ffn"]


def test_tokenizer_digest_tracks_vocabulary_and_separator_is_eos(demo_model: Any, demo_dir: Path) -> None:
    from invarlock.adapters.hf_tokenizer import HFTokenizer
    from transformers import AutoTokenizer

    same = HFTokenizer(AutoTokenizer.from_pretrained(demo_dir))
    grown = AutoTokenizer.from_pretrained(demo_dir)
    grown.add_tokens(["<invarlock_extra_token>"])
    assert same.digest() == demo_model.tokenizer().digest()
    assert HFTokenizer(grown).digest() != same.digest()
    # the process-wide memo of digests answers what the canonical bytes themselves give, for each tokenizer
    for tokenizer in (same, HFTokenizer(grown)):
        assert tokenizer.digest() == hashlib.sha256(tokenizer.canonical_bytes()).hexdigest()
    assert same.separator_id() == same.inner.eos_token_id == 2
    assert same.encode("Hello world")[0] != same.inner.bos_token_id


def test_non_finite_weights_abort_scoring_with_e402(demo_model: Any, english_windows) -> None:
    import torch
    from invarlock.adapters.hf_causal import HFCausalModel

    broken = HFCausalModel(copy.deepcopy(demo_model.module), demo_model.tokenizer().inner, ref="broken")
    with torch.no_grad():
        broken.module.model.layers[2].input_layernorm.weight[7] = float("nan")
    with pytest.raises(AbortError) as caught:
        list(broken.score(english_windows[:1]))
    assert caught.value.code == "E402"
    assert not all(t.finite for t in broken.census().tensors)
