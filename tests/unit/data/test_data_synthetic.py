"""The generated recipes (adding, copy, reverse): their layout, determinism, options and caching."""

from __future__ import annotations

import numpy as np
import pytest

from seqpipe.data.readers import read_table
from seqpipe.data.recipes import DATASETS, GeneratedRecipe, prepare_recipe
from seqpipe.errors import ConfigError


@pytest.fixture
def generated(cache, monkeypatch):
    """prepare_recipe(name, options) in a private cache (pip must not run: nothing is downloaded)."""
    monkeypatch.setenv("SEQPIPE_CACHE", str(cache))

    def prepare(name, **options):
        return read_table(prepare_recipe(name, options), roles=list(DATASETS.get(name).roles))

    return prepare


def test_they_are_registered_generated_recipes_with_one_line_descriptions():
    for name in ("adding", "copy", "reverse"):
        recipe = DATASETS.get(name)
        assert issubclass(recipe, GeneratedRecipe) and recipe.Options is not None
        assert "\n" not in DATASETS.describe(name) and DATASETS.describe(name).startswith("generated ")


def test_adding_layout(generated):
    table = generated("adding", length=12, examples=300, levels=10, seed=4)
    assert len(table) == 300
    for text, target in zip(table["text"], table["target"]):
        tokens = text.split()
        assert len(tokens) == 12
        assert all(t[0] in "vm" and 0 <= int(t[1:]) < 10 for t in tokens)
        marked = [i for i, t in enumerate(tokens) if t[0] == "m"]
        assert len(marked) == 2 and marked[0] < 6 <= marked[1]  # one in each half
        centres = [(int(tokens[i][1:]) + 0.5) / 10 for i in marked]
        assert float(target) == pytest.approx(sum(centres), abs=1e-12)
    vocabulary = {t for text in table["text"] for t in text.split()}
    assert len(vocabulary) <= 20


def test_adding_baseline_is_the_variance_of_the_sum(generated):
    """Always predicting 1.0 scores MSE ~0.167 (the mean of the sum is 1, its variance (L^2 - 1) / 6L^2)."""
    targets = generated("adding", length=10, examples=20000).astype({"target": float})["target"].to_numpy()
    assert targets.mean() == pytest.approx(1.0, abs=0.01)
    assert np.mean((targets - 1.0) ** 2) == pytest.approx(0.167, abs=0.005)
    assert (targets.min(), targets.max()) == (pytest.approx(0.01), pytest.approx(1.99))  # bin centres 0.005 .. 0.995


def test_copy_layout_and_chance(generated):
    table = generated("copy", symbols=4, alphabet=3, delay=6, examples=500, seed=1)
    for tokens, tags in zip(table["tokens"], table["tags"]):
        tokens, tags = tokens.split(), tags.split()
        assert len(tokens) == len(tags) == 4 + 6 + 1 + 4
        said = tokens[:4]
        assert all(s in ("s0", "s1", "s2") for s in said)
        assert tokens[4:] == ["_"] * 6 + [":"] + ["_"] * 4
        assert tags == ["_"] * 11 + said
    recalled = [t for tags in table["tags"] for t in tags.split()[-4:]]
    shares = np.array([recalled.count(f"s{i}") for i in range(3)]) / len(recalled)
    np.testing.assert_allclose(shares, 1 / 3, atol=0.03)  # guessing one symbol is right 1 / alphabet of the time


def test_reverse_recalls_backwards_and_has_no_delay_by_default(generated):
    table = generated("reverse", symbols=5, examples=50)
    for tokens, tags in zip(table["tokens"], table["tags"]):
        tokens, tags = tokens.split(), tags.split()
        assert tokens[5:] == [":"] + ["_"] * 5
        assert tags == ["_"] * 6 + tokens[:5][::-1]


@pytest.mark.parametrize("name, options", [("adding", {"length": 8, "examples": 40}),
                                           ("copy", {"delay": 3, "examples": 40}),
                                           ("reverse", {"examples": 40})])
def test_same_options_same_table_other_seed_other_table(generated, name, options):
    first = generated(name, **options)
    again = generated(name, **options)
    other = generated(name, **options, seed=1)
    assert first.equals(again)
    assert not first.equals(other) and len(other) == len(first)


def test_the_cache_holds_one_table_per_set_of_options_and_reuses_it(cache, monkeypatch):
    from seqpipe.data.recipes.adding import Adding

    monkeypatch.setenv("SEQPIPE_CACHE", str(cache))
    default = prepare_recipe("adding", {"examples": 30})
    assert default.parent == cache / "datasets" and default.name.startswith("adding-") and default.suffix == ".tsv"
    assert prepare_recipe("adding", {"examples": 30, "length": 50, "levels": 100, "seed": 0}) == default  # defaults
    assert prepare_recipe("adding", {"examples": 30, "seed": 2}) != default
    calls = []
    monkeypatch.setattr(Adding, "generate", lambda self, options: calls.append(options) or [])
    assert prepare_recipe("adding", {"examples": 30}) == default  # cached: not generated again
    assert calls == []
    default.write_text("text\ttarget\nv1 m2\t0.3\n")  # damaged: made again
    monkeypatch.undo()
    monkeypatch.setenv("SEQPIPE_CACHE", str(cache))
    assert len(read_table(prepare_recipe("adding", {"examples": 30}), roles=["text", "target"])) == 30


def test_recipes_without_options_refuse_them(cache):
    from seqpipe.data.recipes.sentence_polarity import SentencePolarity

    with pytest.raises(ValueError, match="^recipe sentence-polarity takes no options; got length$"):
        SentencePolarity().prepare(cache, {"length": 3})


DATA = "name: p\ntask: {task}\ndata:\n  source:\n    recipe: {recipe}\n    options:\n{options}stages: [tokenize]\n"


@pytest.fixture
def problems(tmp_path):
    from seqpipe.config.report import load_config

    def check(recipe, options, task="regression", overrides=()):
        path = tmp_path / "p.yaml"
        path.write_text(DATA.format(task=task, recipe=recipe, options="".join(f"      {line}\n" for line in options)))
        with pytest.raises(ConfigError) as info:
            load_config(path, list(overrides))
        return [line.replace(str(path), "p.yaml") for line in info.value.problems]

    return check


def test_options_are_checked_by_the_recipes_schema_one_line_each(problems):
    assert problems("adding", ["lenght: 10", "levels: x", "seed: -1"]) == [
        "p.yaml:8: data.source.options.levels: must be a valid integer, unable to parse string as an integer; "
        "got 'x'",
        "p.yaml:9: data.source.options.seed: must be greater than or equal to 0; got -1",
        "p.yaml:7: data.source.options.lenght: unknown option 'lenght' of recipe adding; expected one of length, "
        "examples, levels, seed (did you mean 'length'?)",
    ]
    assert problems("copy", ["delay: 1"], task="tagging", overrides=["data.source.options.symbols=0"]) == [
        "-o data.source.options.symbols=0: data.source.options.symbols: must be greater than or equal to 1; got 0"]
    assert problems("sms-spam", ["length: 3"], task="classification") == [
        "p.yaml:6: data.source.options: recipe sms-spam takes no options; remove length"]


def test_options_need_a_recipe(tmp_path):
    from seqpipe.api import load

    with pytest.raises(ConfigError) as info:
        load({"name": "p", "task": "regression", "data": {"source": {"path": "x.tsv", "options": {"length": 3}}},
              "stages": ["tokenize"]}, base_dir=tmp_path)
    assert info.value.problems == ["<dict>: data.source.options: options are a recipe's parameters and go with "
                                   "source.recipe; remove them"]


def test_the_resolved_config_shows_every_option_and_other_sources_none(tmp_path):
    from seqpipe.api import load
    from seqpipe.config.report import resolved_dict

    copy = {"source": {"recipe": "copy", "options": {"delay": 7}}}
    config, _, _ = load({"name": "p", "task": "tagging", "data": copy, "stages": ["tokenize"]}, base_dir=tmp_path)
    assert resolved_dict(config)["data"]["source"]["options"] == {
        "symbols": 10, "alphabet": 8, "delay": 7, "examples": 20000, "seed": 0, "min_symbols": None,
        "test_max_symbols": None, "test_examples": 1000}
    config, _, _ = load({"name": "p", "task": "regression", "data": {"source": {"recipe": "adding"}},
                         "stages": ["tokenize"]}, base_dir=tmp_path)
    assert config.data.source.options == {"length": 50, "examples": 20000, "levels": 100, "seed": 0}
    config, _, _ = load({"name": "p", "task": "regression", "data": {"source": {"path": "x.tsv"}},
                         "stages": ["tokenize"]}, base_dir=tmp_path)
    assert config.data.source.options is None and "options" not in resolved_dict(config)["data"]["source"]


def test_load_data_reads_a_generated_recipe_with_its_options(cache, monkeypatch):
    from seqpipe.data import load_data
    from seqpipe.data.config import DataConfig

    monkeypatch.setenv("SEQPIPE_CACHE", str(cache))
    cfg = DataConfig(source={"recipe": "copy", "options": {"examples": 200, "delay": 2, "symbols": 3}},
                     split={"valid": 0.1, "test": 0.1})
    splits, report = load_data(cfg, roles=["tokens", "tags"], seed=1, base_dir=cache)
    assert {k: len(v) for k, v in splits.items()} == {"train": 160, "valid": 20, "test": 20} and not report
    assert all(len(t.split()) == 3 + 2 + 1 + 3 for t in splits["train"]["tokens"])


def test_seqpipe_list_datasets_shows_them(capsys):
    from seqpipe.cli import main

    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("adding", "copy", "reverse"):
        assert any(line.split()[:2] == [name, "generated"] for line in out.splitlines() if line.strip())
