"""HFModelLoader.tokenizer: the tokenizer alone, the same one `load` gives, for planning before any weights."""

from __future__ import annotations

from pathlib import Path

import pytest
from invarlock.domain.errors import UsageError
from invarlock.domain.model import LoadOptions

pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


def test_the_tokenizer_alone_is_the_one_the_loaded_model_has(tiny_random_gpt2_dir: Path) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader

    loader = HFModelLoader()
    alone = loader.tokenizer(str(tiny_random_gpt2_dir), adapter="auto")
    loaded = loader.load(
        str(tiny_random_gpt2_dir), LoadOptions(adapter="auto", device="cpu", dtype="float32")
    ).tokenizer()
    assert alone.digest() == loaded.digest()
    assert alone.separator_id() == loaded.separator_id()
    text = "The river freezes every winter."
    assert alone.encode(text) == loaded.encode(text)


@pytest.mark.parametrize(("make", "code"), [("missing", "E101"), ("no_weights", "E102")])
def test_the_tokenizer_of_a_bad_reference_is_the_same_one_line_error_as_load(
    tmp_path: Path, make: str, code: str
) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader

    ref = tmp_path / "model"
    if make == "no_weights":
        ref.mkdir()
        (ref / "config.json").write_text('{"model_type": "gpt2"}', encoding="utf-8")
    with pytest.raises(UsageError) as err:
        HFModelLoader().tokenizer(str(ref), adapter="auto")
    assert err.value.code == code


def test_a_checkpoint_s_tokenizer_is_read_once_while_its_files_stay_as_they_were(
    tiny_random_gpt2_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from invarlock.adapters.hf_loader import HFModelLoader

    folder = shutil.copytree(tiny_random_gpt2_dir, tmp_path / "copy")
    loader, options = HFModelLoader(), LoadOptions(adapter="auto", device="cpu", dtype="float32")
    alone = loader.tokenizer(str(folder), adapter="auto")
    assert loader.load(str(folder), options).tokenizer() is alone  # the preflight's read serves the load
    assert HFModelLoader().tokenizer(str(folder), adapter="auto") is alone  # and any loader of this process
    digest = alone.digest()
    (folder / "tokenizer.json").write_text(
        (folder / "tokenizer.json").read_text(encoding="utf-8").replace('"<|endoftext|>"', '"<|end|>"', 1),
        encoding="utf-8",
    )
    again = loader.load(str(folder), options).tokenizer()  # a changed file: read anew
    assert again is not alone and again.digest() != digest
    assert loader.tokenizer(str(folder), adapter="auto") is again


def test_encoding_leaves_the_backend_as_loaded(tiny_random_gpt2_dir: Path, tmp_path: Path) -> None:
    """A tokenizer.json that sets truncation and padding (as BERT's do) keeps them through encoding, so the one
    tokenizer a process shares between the preflight, the loads and an export is saved as it was loaded."""
    import shutil

    from invarlock.adapters.hf_loader import HFModelLoader
    from transformers import AutoTokenizer

    shutil.copytree(tiny_random_gpt2_dir, tmp_path / "bert-like")
    inner = AutoTokenizer.from_pretrained(tiny_random_gpt2_dir, local_files_only=True)
    inner.backend_tokenizer.enable_truncation(max_length=7, stride=1)
    inner.backend_tokenizer.enable_padding(pad_id=0, pad_token=inner.eos_token, length=9)
    inner.save_pretrained(tmp_path / "bert-like")
    tokenizer = HFModelLoader().tokenizer(str(tmp_path / "bert-like"), adapter="auto")
    as_loaded = tokenizer.inner.backend_tokenizer.to_str()
    assert '"max_length":7' in as_loaded.replace(" ", "")  # the state this test is about is in the file
    text = "The river freezes every winter, and the ferry waits for spring."
    assert len(tokenizer.encode(text)) > 9  # neither truncated nor padded
    assert tokenizer.encode_batch([text, "Ice."]) == [tokenizer.encode(text), tokenizer.encode("Ice.")]
    assert tokenizer.inner.backend_tokenizer.to_str() == as_loaded


def test_a_tokenizer_that_cannot_encode_the_text_is_e102_naming_why() -> None:
    """A WordLevel tokenizer whose unknown token is not in its vocabulary raises a bare Exception from the tokenizers
    backend for any unknown word (an E999 before, found by stop 38's checkpoint hunt)."""
    from invarlock.adapters.hf_tokenizer import HFTokenizer
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(WordLevel({"known": 0}, unk_token="[UNK]"))
    backend.pre_tokenizer = Whitespace()
    tokenizer = HFTokenizer(PreTrainedTokenizerFast(tokenizer_object=backend))
    assert tokenizer.encode_batch(["known known"]) == [[0, 0]]
    with pytest.raises(UsageError) as caught:
        tokenizer.encode_batch(["an unknown word"])
    assert caught.value.code == "E102" and "cannot encode the text: WordLevel error" in caught.value.message


@pytest.mark.parametrize("name", ["tokenizer.json", "special_tokens_map.json", "chat_template.jinja"])
def test_a_checkpoint_file_that_is_no_regular_file_is_e102_naming_it(
    tiny_random_gpt2_dir: Path, tmp_path: Path, name: str
) -> None:
    """A FIFO in the folder blocked transformers' read for ever, a link to /dev/zero never ends, and a FIFO
    tokenizer.json was reported as "no tokenizer files": each is E102 naming the entry, before transformers reads."""
    import os
    import shutil

    from invarlock.adapters.hf_loader import HFModelLoader

    folder = shutil.copytree(tiny_random_gpt2_dir, tmp_path / "copy")
    (folder / name).unlink(missing_ok=True)
    if name == "chat_template.jinja":
        (folder / name).symlink_to("/dev/zero")
    else:
        os.mkfifo(folder / name)
    with pytest.raises(UsageError) as err:
        HFModelLoader().tokenizer(str(folder), adapter="auto")
    said = "a device" if name == "chat_template.jinja" else "a FIFO"
    assert (err.value.code, err.value.message) == ("E102", f"{folder / name} is {said}")


@pytest.mark.parametrize("name", ["tokenizer.json", "tokenizer_config.json"])
def test_a_tokenizer_file_that_is_no_json_is_named(tiny_random_gpt2_dir: Path, tmp_path: Path, name: str) -> None:
    import shutil

    from invarlock.adapters.hf_loader import HFModelLoader

    folder = shutil.copytree(tiny_random_gpt2_dir, tmp_path / "copy")
    (folder / name).write_text("{bad json", encoding="utf-8")
    with pytest.raises(UsageError) as err:
        HFModelLoader().tokenizer(str(folder), adapter="auto")
    assert err.value.code == "E102" and err.value.message.startswith(f"{folder / name} is not valid JSON")


def test_a_failure_that_is_no_json_error_blames_no_file(tiny_random_gpt2_dir: Path, tmp_path: Path) -> None:
    """A tokenizer.json of another structure beside a vocab.json that is no JSON: the load fails on the first, which
    the message must not pin on the second (the first fix named vocab.json, which the load never read)."""
    import shutil

    from invarlock.adapters.hf_loader import HFModelLoader

    folder = shutil.copytree(tiny_random_gpt2_dir, tmp_path / "copy")
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "Nope"}}', encoding="utf-8")
    (folder / "vocab.json").write_text("junk", encoding="utf-8")
    with pytest.raises(UsageError) as err:
        HFModelLoader().tokenizer(str(folder), adapter="auto")
    assert err.value.code == "E102" and err.value.message.startswith(f"{folder} could not be loaded: ")
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer.json").mkdir()
    (folder / "vocab.json").unlink()
    (folder / "merges.txt").unlink(missing_ok=True)
    with pytest.raises(UsageError) as err:
        HFModelLoader().tokenizer(str(folder), adapter="auto")
    assert err.value.message == f"{folder / 'tokenizer.json'} is a directory"


@pytest.mark.parametrize(
    ("name", "make", "said"),
    [
        ("tokenizer.json", lambda p: p.symlink_to("gone.json"), "is a link to gone.json, which does not exist"),
        ("tokenizer_config.json", lambda p: p.symlink_to("gone.json"), "is a link to gone.json, which does not exist"),
        ("tokenizer_config.json", lambda p: p.mkdir(), "is a directory"),
        ("special_tokens_map.json", lambda p: p.symlink_to(p.name), "is a link that loops"),
    ],
)
def test_a_tokenizer_file_s_name_holding_no_file_is_named(  # type: ignore[no-untyped-def]
    tiny_random_gpt2_dir: Path, tmp_path: Path, name: str, make, said: str
) -> None:
    """A dangling tokenizer.json was "no tokenizer files"; a dangling or folder tokenizer_config.json, or a looping
    special_tokens_map.json, was left out silently and the run went on without it."""
    import shutil

    from invarlock.adapters.hf_loader import HFModelLoader

    folder = shutil.copytree(tiny_random_gpt2_dir, tmp_path / "copy")
    (folder / name).unlink(missing_ok=True)
    make(folder / name)
    with pytest.raises(UsageError) as err:
        HFModelLoader().tokenizer(str(folder), adapter="auto")
    assert (err.value.code, err.value.message) == ("E102", f"{folder / name} {said}")
