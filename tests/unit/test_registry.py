"""seqpipe.registry.Registry: registration, lookup, lazy entries and the messages users see."""

from __future__ import annotations

import collections
import json
import sys

import pytest

from seqpipe.registry import Registry, did_you_mean


class Base:
    """A base class for registered components."""


class Alpha(Base):
    """Alpha does the first thing.

    More text that describe() must not return.
    """


class Beta(Base):
    pass


def test_register_then_get_returns_the_object():
    reg = Registry("widget")
    returned = reg.register("alpha", Alpha)
    assert returned is Alpha
    assert reg.get("alpha") is Alpha
    assert "alpha" in reg and "beta" not in reg
    assert len(reg) == 1


def test_decorator_form_registers_and_returns_the_class_unchanged():
    reg = Registry("widget", base=Base)

    @reg.register("gamma", description="the gamma widget")
    class Gamma(Base):
        """Docstring that the explicit description overrides."""

    assert Gamma.__name__ == "Gamma"  # the decorator returned the class, not a wrapper
    assert reg.get("gamma") is Gamma
    assert reg.describe("gamma") == "the gamma widget"


def test_duplicate_name_is_refused_and_keeps_the_first_entry():
    reg = Registry("widget")
    reg.register("alpha", Alpha)
    with pytest.raises(ValueError) as info:
        reg.register("alpha", Beta)
    assert str(info.value) == "widget 'alpha' is already registered"
    assert reg.get("alpha") is Alpha


def test_duplicate_lazy_name_is_refused_too():
    reg = Registry("cell")
    reg.register("lstm", "collections:OrderedDict")
    with pytest.raises(ValueError, match=r"^cell 'lstm' is already registered$"):
        reg.register("lstm", "collections:Counter")


def test_wrong_base_class_is_refused_at_registration():
    reg = Registry("stage", base=Base)

    class Stranger:
        pass

    with pytest.raises(TypeError) as info:
        reg.register("stranger", Stranger)
    assert str(info.value) == f"stage 'stranger' must be a subclass of Base; got {Stranger!r}"
    assert "stranger" not in reg


def test_an_instance_is_not_a_subclass():
    reg = Registry("stage", base=Base)
    with pytest.raises(TypeError, match=r"^stage 'obj' must be a subclass of Base; got <"):
        reg.register("obj", Alpha())


def test_decorator_form_also_checks_the_base_class():
    reg = Registry("stage", base=Base)
    with pytest.raises(TypeError, match=r"^stage 'plain' must be a subclass of Base; got <class "):

        @reg.register("plain")
        class Plain:
            pass

    assert "plain" not in reg


def test_lazy_entry_is_not_imported_until_get():
    module = "seqpipe_test_lazy_module_never_imported"
    reg = Registry("thing")
    reg.register("lazy", f"{module}:Anything", description="lazy thing")
    assert module not in sys.modules
    # listing and describing never import the target
    assert reg.names() == ["lazy"]
    assert reg.describe("lazy") == "lazy thing"
    assert "lazy" in reg
    with pytest.raises(ModuleNotFoundError):
        reg.get("lazy")


def test_lazy_entry_is_resolved_on_get_and_cached():
    reg = Registry("mapping", base=dict)
    reg.register("ordered", "collections:OrderedDict")
    assert reg.get("ordered") is collections.OrderedDict
    assert reg._items["ordered"] is collections.OrderedDict  # resolved once, kept
    assert reg.get("ordered") is collections.OrderedDict


def test_lazy_entry_with_wrong_base_is_refused_on_get():
    reg = Registry("mapping", base=dict)
    reg.register("dumps", "json:dumps")  # accepted: not imported yet
    with pytest.raises(TypeError) as info:
        reg.get("dumps")
    assert str(info.value) == f"mapping 'dumps' must be a subclass of dict; got {json.dumps!r}"


def test_lazy_entry_without_description_describes_as_empty():
    reg = Registry("thing")
    reg.register("lazy", "collections:OrderedDict")
    assert reg.describe("lazy") == ""


def test_unknown_name_lists_sorted_names_with_did_you_mean():
    reg = Registry("cell")
    for name in ("rnn", "lstm", "gru"):
        reg.register(name, object)
    with pytest.raises(KeyError) as info:
        reg.get("lstmm")
    assert info.value.args[0] == "unknown cell 'lstmm'; expected one of gru, lstm, rnn (did you mean 'lstm'?)"


def test_unknown_name_without_a_close_match_has_no_hint():
    reg = Registry("cell")
    for name in ("rnn", "lstm", "gru"):
        reg.register(name, object)
    assert reg.unknown_message("transformer") == "unknown cell 'transformer'; expected one of gru, lstm, rnn"
    with pytest.raises(KeyError) as info:
        reg.describe("transformer")
    assert info.value.args[0] == "unknown cell 'transformer'; expected one of gru, lstm, rnn"


def test_unknown_message_accepts_non_string_names():
    reg = Registry("stage")
    reg.register("train", object)
    assert reg.unknown_message(5) == "unknown stage '5'; expected one of train"


def test_describe_uses_first_docstring_line_or_explicit_description():
    reg = Registry("widget", base=Base)
    reg.register("alpha", Alpha)
    reg.register("beta", Beta)  # no docstring
    reg.register("explicit", Beta, description="  Told explicitly.\nsecond line")
    assert reg.describe("alpha") == "Alpha does the first thing."
    assert reg.describe("beta") == ""
    assert reg.describe("explicit") == "Told explicitly."


def test_names_are_sorted_and_iteration_and_items_follow_them():
    reg = Registry("widget")
    for name in ("zeta", "alpha", "mid"):
        reg.register(name, f"seqpipe_no_such_module:{name}")  # lazy: names() must not import
    assert reg.names() == ["alpha", "mid", "zeta"]
    assert list(reg) == ["alpha", "mid", "zeta"]

    eager = Registry("widget")
    for name, obj in (("zeta", 3), ("alpha", 1), ("mid", 2)):
        eager.register(name, obj)
    assert eager.items() == [("alpha", 1), ("mid", 2), ("zeta", 3)]


@pytest.mark.parametrize(
    "name, choices, expected",
    [
        ("classfy", ["classify", "embed", "train"], " (did you mean 'classify'?)"),
        ("xyz", ["classify", "embed", "train"], ""),
        ("adamm", ["adam", "adamw", "sgd"], " (did you mean 'adam'?)"),
        (3, ["3x"], " (did you mean '3x'?)"),
    ],
)
def test_did_you_mean(name, choices, expected):
    assert did_you_mean(name, choices) == expected


def test_builtin_registries_hold_the_documented_names():
    import seqpipe.stages  # noqa: F401
    from seqpipe.cells import CELLS
    from seqpipe.pipeline.stage import STAGES
    from seqpipe.tasks import TASKS
    from seqpipe.text import TOKENIZERS

    assert TASKS.names() == ["captioning", "classification", "language_model", "regression", "tagging",
                             "translation"]
    assert STAGES.names() == ["caption", "classify", "decode", "describe", "embed", "encode", "evaluate", "export",
                              "generate", "lm", "regress", "sample", "see", "tag", "tokenize", "train"]
    assert CELLS.names() == ["esn", "gru", "layer_norm_lstm", "leaky_rnn", "lstm", "ntm", "rnn"]
    assert TOKENIZERS.names() == ["bpe", "char", "sentencepiece", "tree", "whitespace", "word", "wordpiece"]
    assert CELLS.describe("rnn") == "Elman RNN (keras SimpleRNN; activation tanh or relu); no cuDNN kernel"
