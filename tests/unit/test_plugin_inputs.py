"""A third-party plugin's tokenizer, corpus and labelled set handed out checked against their ports
(cli/plugin_inputs.py): ids ints in [0, 2^32), a separator id or None, a hex sha256 digest, documents str,
labelled examples of strings; anything else is one E223 line naming the plugin, not E999 or a silent reading."""

from __future__ import annotations

from typing import NoReturn

import numpy as np
import pytest
from invarlock.domain.errors import UsageError
from invarlock.domain.examples import LabelledText

from tests.fakes.models import FakeTokenizer, words


class _Tokenizer:
    """A tokenizer answering what it is given (ids for every text, a separator, a digest)."""

    def __init__(self, ids: object = (5, 6), sep: object = 0, digest: object = "ab" * 32) -> None:
        self.ids, self.sep, self._digest = ids, sep, digest

    def encode(self, text: str) -> object:
        return self.ids

    def separator_id(self) -> object:
        return self.sep

    def digest(self) -> object:
        return self._digest


ODD_TOKENIZERS = {
    "strings of digits": (_Tokenizer(ids=["5", "6"]), "encode() returned token ids that are not ints (such as '5')"),
    "floats": (_Tokenizer(ids=[5.0, 6.0]), "not ints (such as 5.0)"),
    "bools": (_Tokenizer(ids=[True, False]), "not ints (such as True)"),
    "a negative id": (_Tokenizer(ids=[5, -1]), "the token id -1, outside [0, 2^32)"),
    "an id past uint32": (_Tokenizer(ids=[2**32]), "the token id 4294967296, outside"),
    "an id past int64": (_Tokenizer(ids=[2**70]), "not ints"),
    "a generator": (_Tokenizer(ids=(i for i in (5, 6))), "encode() returned generator, not a list of token ids"),
    "None": (_Tokenizer(ids=None), "encode() returned NoneType"),
    "a 2-D array": (_Tokenizer(ids=np.array([[5, 6]])), "not ints"),
    "a string separator": (_Tokenizer(sep="0"), "separator_id() returned '0'"),
    "a negative separator": (_Tokenizer(sep=-1), "separator_id() returned -1"),
    "no digest": (_Tokenizer(digest=None), "digest() returned None, not a sha256"),
}


@pytest.mark.parametrize("case", ODD_TOKENIZERS)
def test_a_plugin_tokenizer_answering_outside_its_port_is_e223(case: str) -> None:
    """Strings, floats and bools were read as ids (a stream of other tokens), negative or huge ids, a generator
    or no digest ended in E999 (OverflowError, TypeError), None read as 'no tokens' (E102)."""
    from invarlock.cli.plugin_inputs import checked_tokenizer, fault_of
    from invarlock.cli.registry import PluginEntry

    tokenizer, words = ODD_TOKENIZERS[case]
    entry = PluginEntry("adapters", "odd", "odd_plugin:loader", "oddtok", "3.1")
    checked = checked_tokenizer(tokenizer, fault_of(entry, "Tokenizer", "Tokenizer (ports/corpus.py)"))
    with pytest.raises(UsageError) as refused:
        checked.encode("some text"), checked.separator_id(), checked.digest()
    assert refused.value.code == "E223" and words in refused.value.message
    assert refused.value.message.startswith("adapter plugin 'odd' (oddtok 3.1): its Tokenizer's ")


def test_a_plugin_tokenizer_keeps_its_numbers_and_its_optional_members() -> None:
    """The optional protocols hold exactly when they hold for the plugin's tokenizer. They were forwarded by
    __getattr__, which Python 3.12+'s runtime protocol check does not consult: a batching, stable plugin tokenizer
    lost its batch encoding and the token cache there."""
    from invarlock.cli.plugin_inputs import checked_tokenizer
    from invarlock.ports.corpus import BatchTokenizer, StableTokenizer

    def never(what: str) -> NoReturn:
        raise AssertionError(what)

    plain = checked_tokenizer(_Tokenizer(ids=np.array([5, 6], np.int64), sep=np.int64(0)), never)
    assert plain.encode("x") == [5, 6] and type(plain.encode("x")[0]) is int and plain.separator_id() == 0
    assert not isinstance(plain, (BatchTokenizer, StableTokenizer)), "an optional member it lacks stays lacking"

    class Batching(_Tokenizer):
        def encode_batch(self, texts: list[str]) -> list[object]:
            return [(1, 2)] * len(texts)

    class Stable(Batching):
        def implementation(self) -> str:
            return "odd 1"

    batching, stable = checked_tokenizer(Batching(), never), checked_tokenizer(Stable(), never)
    assert isinstance(batching, BatchTokenizer) and not isinstance(batching, StableTokenizer)
    assert isinstance(stable, BatchTokenizer) and isinstance(stable, StableTokenizer)
    assert batching.encode_batch(["a", "b"]) == [[1, 2], [1, 2]] and stable.implementation() == "odd 1"


@pytest.mark.parametrize(
    ("texts", "words"),
    [
        ([b"bytes"], "texts() yielded bytes as document 0, not str"),
        (["fine", None], "texts() yielded NoneType as document 1, not str"),
        (["fine", 3], "yielded int as document 1"),
    ],
)
def test_a_plugin_corpus_yielding_no_text_is_e223(texts: list[object], words: str) -> None:
    """bytes, None or a number as a document ended in E999 (AttributeError: no 'encode')."""
    from invarlock.cli.plugin_inputs import CheckedSource, fault_of
    from invarlock.cli.registry import PluginEntry

    class Source:
        def info(self) -> object:
            return None

        def texts(self) -> object:
            return iter(texts)

    entry = PluginEntry("datasets", "odd", "odd_plugin:corpora", "oddtext", "1.2")
    source = CheckedSource(Source(), fault_of(entry, "CorpusSource", "CorpusSource (ports/corpus.py)"))
    with pytest.raises(UsageError) as refused:
        list(source.texts())
    assert refused.value.code == "E223" and words in refused.value.message
    assert refused.value.message.startswith("dataset plugin 'odd' (oddtext 1.2): its CorpusSource's texts() ")
    with pytest.raises(UsageError, match="info\\(\\) returned NoneType, not a CorpusInfo"):
        source.info()


@pytest.mark.parametrize(
    ("examples", "words"),
    [
        ([LabelledText(text="fine", label="pos"), None], "examples() yielded None as example 1"),
        ([LabelledText(text=b"bytes", label="pos")], "as example 0, not a LabelledText of strings"),  # type: ignore[arg-type]
        ([LabelledText(text="fine", label=1)], "as example 0"),  # type: ignore[arg-type]
    ],
)
def test_a_plugin_labelled_set_yielding_no_labelled_text_is_e223(examples: list[object], words: str) -> None:
    from invarlock.cli.plugin_inputs import CheckedLabelledSource, fault_of
    from invarlock.cli.registry import PluginEntry

    class Source:
        def info(self) -> object:
            return None

        def examples(self) -> object:
            return iter(examples)

    entry = PluginEntry("datasets", "odd", "odd_plugin:corpora", "oddtext", "1.2")
    source = CheckedLabelledSource(Source(), fault_of(entry, "LabelledSource", "LabelledSource (ports/corpus.py)"))
    with pytest.raises(UsageError) as refused:
        list(source.examples())
    assert refused.value.code == "E223" and words in refused.value.message
    assert refused.value.message.startswith("dataset plugin 'odd' (oddtext 1.2): its LabelledSource's examples() ")


@pytest.mark.usefixtures("raising_plugin")
def test_the_registry_hands_out_a_plugins_tokenizer_and_corpus_checked() -> None:
    from invarlock.cli.plugin_inputs import CheckedSource, CheckedTokenizer
    from invarlock.cli.registry import registry
    from invarlock.cli.routing import RegistryModelLoader
    from invarlock.cli.routing_corpus import RegistryCorpusResolver

    tokenizer = RegistryModelLoader(registry()).tokenizer("base", adapter="fake")
    source = RegistryCorpusResolver(registry()).open("fake")
    assert isinstance(tokenizer, CheckedTokenizer) and isinstance(source, CheckedSource)
    assert tokenizer.encode("w1 w2") == FakeTokenizer().encode("w1 w2") and list(source.texts()) == words(120)
    assert not isinstance(RegistryCorpusResolver(registry()).open("demo:wikipedia"), CheckedSource)
