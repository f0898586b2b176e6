"""n-best lists of the decoder tasks: the Generator, the evaluation table, the SavedModel's outputs and predict."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from seqpipe.decoding import BeamConfig, GreedyConfig
from seqpipe.errors import SeqpipeError

WORDS = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "b", "c", "d", "e", "f"]
TEXTS = ["a b c", "d e", "f", "a a b b c"]
BEAM = BeamConfig(beam_width=4, n_best=3, length_penalty=0.6)


class Ctx(dict):
    """What the export reads of a run context: its artifacts and the config's task and name."""

    config = SimpleNamespace(task="translation", name="toy-nbest")


@pytest.fixture(scope="module")
def translator():
    import keras

    from seqpipe.layers.decoder import AttentionDecoder
    from seqpipe.tasks.translation.runtime import Translator
    from seqpipe.text.encoder import TextEncoder

    keras.utils.set_random_seed(0)
    source = TextEncoder("word", WORDS, max_length=8, name="source_encoder")
    target = TextEncoder("word", WORDS, max_length=6, name="target_encoder")
    ids = keras.Input(shape=(None,), dtype="int32")
    memory, h, c = keras.layers.LSTM(8, return_sequences=True, return_state=True)(
        keras.layers.Embedding(len(WORDS), 8)(ids))
    encoder_model = keras.Model(ids, [memory, h, c], name="encoder")
    decoder = AttentionDecoder(len(WORDS), 8, units=8, memory_dim=8, encoder_state_dims=[8, 8], name="decoder")
    decoder(np.array([[2, 4]], "int32"), np.zeros((1, 3, 8), "float32"), np.ones((1, 3), bool),
            [np.zeros((1, 8), "float32")] * 2)
    return Translator(source, target, encoder_model, decoder, max_length=6)


@pytest.fixture(scope="module")
def runtime():
    from seqpipe.tasks import get_task

    return get_task("translation").runtime


def export(runtime, translator, path, decoding):
    ctx = Ctx(generator=translator)
    return runtime.export(ctx, SimpleNamespace(decoding=decoding), path)


@pytest.fixture(scope="module")
def beam_export(runtime, translator, tmp_path_factory):
    return export(runtime, translator, tmp_path_factory.mktemp("beam") / "saved_model", BEAM)


@pytest.fixture(scope="module")
def greedy_export(runtime, translator, tmp_path_factory):
    return export(runtime, translator, tmp_path_factory.mktemp("greedy") / "saved_model", GreedyConfig())


def test_generator_returns_the_n_best_with_the_best_first(translator):
    out = translator.run(TEXTS, BEAM.model_dump(), batch_size=3)
    assert [len(h) for h in out["nbest"]] == [3] * len(TEXTS) == [len(s) for s in out["nbest_scores"]]
    assert out["texts"] == [h[0] for h in out["nbest"]] and out["scores"] == [s[0] for s in out["nbest_scores"]]
    for scores in out["nbest_scores"]:
        assert scores == sorted(scores, reverse=True)
    greedy = translator.run(TEXTS, {"strategy": "greedy"})
    assert greedy["nbest"] == [[t] for t in greedy["texts"]]


def test_evaluation_table_has_the_score_and_the_n_best_columns(runtime, translator):
    frame = pd.DataFrame({"source": TEXTS, "target": ["a b", "c", "d", "e f"]})
    outputs = {"": translator.run(TEXTS, BEAM.model_dump()), "_greedy": translator.run(TEXTS, {"strategy": "greedy"})}
    ctx = {"splits": {"test": frame}, "hypotheses": {"test": {
        "rows": np.arange(len(frame)), "references": [[t] for t in frame["target"]], "outputs": outputs}}}
    table = runtime.evaluation_table(ctx, None, "test")
    assert list(table.columns) == ["source", "reference", "hypothesis", "bleu", "chrf", "score", "hypothesis_greedy",
                                   "bleu_greedy", "chrf_greedy", "score_greedy", "nbest_2", "nbest_score_2",
                                   "nbest_3", "nbest_score_3"]
    assert table["hypothesis"].tolist() == outputs[""]["texts"]
    assert table["score"].tolist() == outputs[""]["scores"]
    assert table["nbest_3"].tolist() == [h[2] for h in outputs[""]["nbest"]]
    assert table["nbest_score_2"].tolist() == [s[1] for s in outputs[""]["nbest_scores"]]
    assert [c for c in table.columns if c.startswith("hypothesis")] == ["hypothesis", "hypothesis_greedy"]

    del outputs["_greedy"]
    outputs[""] = translator.run(TEXTS, {"strategy": "greedy"})
    table = runtime.evaluation_table(ctx, None, "test")
    assert list(table.columns) == ["source", "reference", "hypothesis", "bleu", "chrf", "score"]


def test_the_saved_model_gives_the_generators_n_best(beam_export, translator):
    import tensorflow as tf

    expected = translator.run(TEXTS, BEAM.model_dump())
    model = tf.saved_model.load(str(beam_export))
    for name in ("translate", "serving_default"):
        out = model.signatures[name](text=tf.constant(TEXTS))
        assert sorted(out) == ["known_tokens", "n_best", "n_best_scores", "score", "translation"]
        assert out["n_best"].shape == out["n_best_scores"].shape == (len(TEXTS), 3)
        assert out["n_best_scores"].dtype == tf.float32
        assert [[t.decode("utf-8") for t in row] for row in out["n_best"].numpy()] == expected["nbest"]
        np.testing.assert_allclose(out["n_best_scores"].numpy(), expected["nbest_scores"], rtol=1e-5, atol=1e-6)
        assert [t.decode("utf-8") for t in out["translation"].numpy()] == expected["texts"]
    meta = json.loads((beam_export / "seqpipe.json").read_text())
    assert meta["n_best"] == 3 and meta["decoding"]["n_best"] == 3
    readme = (beam_export / "README.md").read_text()
    assert "`n_best` (string [batch, 3]" in readme and "`n_best_scores` (float32 [batch, 3]" in readme


def test_with_n_best_1_the_outputs_stay_text_and_score(greedy_export):
    import tensorflow as tf

    out = tf.saved_model.load(str(greedy_export)).signatures["translate"](text=tf.constant(TEXTS))
    assert sorted(out) == ["known_tokens", "score", "translation"]
    assert json.loads((greedy_export / "seqpipe.json").read_text())["n_best"] == 1
    assert "n_best" not in (greedy_export / "README.md").read_text()


def test_predict_n_best_gives_k_ranked_rows_per_input(beam_export, translator):
    from seqpipe.predict import predict_table

    expected = translator.run(TEXTS[:2], BEAM.model_dump())
    table = predict_table(beam_export, TEXTS[:2], n_best=2)
    assert list(table.columns) == ["text", "rank", "translation", "score"]
    assert table["text"].tolist() == [TEXTS[0]] * 2 + [TEXTS[1]] * 2
    assert table["rank"].tolist() == [1, 2, 1, 2]
    assert table["translation"].tolist() == [t for h in expected["nbest"] for t in h[:2]]
    np.testing.assert_allclose(table["score"], [s for h in expected["nbest_scores"] for s in h[:2]], rtol=1e-5)
    plain = predict_table(beam_export, TEXTS[:2])
    assert list(plain.columns) == ["text", "translation", "score", "known_tokens"]
    assert plain["translation"].tolist() == expected["texts"]


def test_predict_n_best_1_works_on_an_export_without_n_best(greedy_export, translator):
    from seqpipe.predict import predict_table

    table = predict_table(greedy_export, TEXTS, n_best=1)
    assert table["rank"].tolist() == [1] * len(TEXTS)
    assert table["translation"].tolist() == translator.run(TEXTS, {"strategy": "greedy"})["texts"]


def test_more_than_the_exports_n_best_is_one_line_naming_the_keys(beam_export, greedy_export, capsys):
    from seqpipe.cli import main

    assert main(["predict", str(beam_export), "--n-best", "4", "-i", str(write_lines(beam_export))]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "--n-best 4" in err and "(n_best: 3)" in err
    assert "export.decoding.n_best" in err and "generate.decoding.n_best" in err
    assert main(["predict", str(greedy_export), "--n-best", "2", "-i", str(write_lines(greedy_export))]) == 2
    assert "(n_best: 1)" in capsys.readouterr().err
    assert main(["predict", str(beam_export), "--n-best", "0"]) == 2
    assert capsys.readouterr().err.strip() == "--n-best: must be at least 1; got 0"


def test_predict_n_best_prints_ranked_rows(beam_export, capsys):
    from seqpipe.cli import main

    assert main(["predict", str(beam_export), "--n-best", "3", "-i", str(write_lines(beam_export))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "text\trank\ttranslation\tscore"
    assert len(lines) == 1 + 3 * len(TEXTS)
    assert [line.split("\t")[1] for line in lines[1:4]] == ["1", "2", "3"]


def test_a_task_without_n_best_says_so_in_one_line():
    from seqpipe.tasks import get_task

    with pytest.raises(SeqpipeError, match=r"^--n-best: a classification model has no n-best list") as info:
        get_task("classification").runtime.predict_nbest(None, ["a"], {}, 2)
    assert "\n" not in str(info.value)


def write_lines(folder):
    path = folder.parent / "inputs.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path
