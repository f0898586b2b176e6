"""embed.pretrained end to end: a tiny classifier whose embedding rows come from a vectors file written here.

Frozen (trainable: false) rows equal the file's after training; trainable rows move; the coverage metrics
equal the hand-computed shares and reach MLflow; a dimension mismatch fails `seqpipe validate` with exit 2.
"""

from __future__ import annotations

import gzip
import random

import numpy as np
import pytest

from tests.integration.conftest import seqpipe

WORDS = [f"w{i}" for i in range(12)]
IN_FILE = {f"w{i}": [round(0.1 * i + 0.01 * j, 3) for j in range(4)] for i in range(6)}  # exact matches
UPPER = {"W6": [0.5, -0.5, 0.25, -0.25]}  # found for 'w6' by its lowercase form


def write_data(folder):
    rng = random.Random(0)
    files = {}
    for split, n in (("train", 80), ("valid", 20), ("test", 20)):
        rows = []
        for i in range(n):
            label = "pos" if i % 2 else "neg"
            rows.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) + f" {label}word\t{label}")
        (folder / f"{split}.tsv").write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
        files[split] = rows
    lines = [f"{w} {' '.join(map(str, v))}" for w, v in {**IN_FILE, **UPPER}.items()]
    lines += [f"junk{i} 9 9 9 9" for i in range(300)] + ["w0 7 7 7 7"]  # a later duplicate: the first wins
    (folder / "vectors.txt.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return files


def pipeline(folder, **embed):
    return {"name": "pretrained", "task": "classification", "seed": 3,
            "tracking": {"backend": "mlflow", "uri": f"sqlite:///{folder / 'mlflow.db'}", "experiment": "vectors"},
            "runtime": {"precision": "float32"},
            "data": {"source": {"train": "train.tsv", "valid": "valid.tsv", "test": "test.tsv"}},
            "stages": [{"tokenize": {"kind": "word", "vocab_size": 50}},
                       {"embed": {"dim": 4, "pretrained": "vectors.txt.gz", **embed}},
                       {"encode": {"cell": "gru", "units": 3}}, {"classify": {}},
                       {"train": {"epochs": 3, "batch_size": 8, "optimizer": {"name": "adam", "learning_rate": 0.05}}},
                       {"evaluate": {"metrics": ["accuracy"]}}, {"export": {"keras": True, "log_model": False}}]}


def embedding_rows(run_dir):
    import keras

    import seqpipe.layers  # noqa: F401 -- registers the custom layers

    model = keras.models.load_model(run_dir / "export" / "model.keras", compile=False)
    vocabulary = (run_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    return vocabulary, model.get_layer("embedding").get_weights()[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import seqpipe

    folder = tmp_path_factory.mktemp("vectors")
    files = write_data(folder)
    frozen = seqpipe.run(pipeline(folder, trainable=False), base_dir=folder, progress=False, cache=False)
    trained = seqpipe.run(pipeline(folder, trainable=True), base_dir=folder, progress=False, cache=False)
    return {"folder": folder, "files": files, "frozen": frozen, "trained": trained}


def test_frozen_rows_equal_the_file_and_trainable_rows_move(runs):
    expected = {**IN_FILE, "w6": UPPER["W6"]}
    vocabulary, frozen = embedding_rows(runs["frozen"].run_dir)
    _, trained = embedding_rows(runs["trained"].run_dir)
    assert set(expected) <= set(vocabulary)
    for word, values in expected.items():
        np.testing.assert_allclose(frozen[vocabulary.index(word)], values, rtol=0, atol=1e-7)
        assert not np.allclose(trained[vocabulary.index(word)], values, atol=1e-4), word
    assert not np.allclose(frozen[vocabulary.index("w0")], [7, 7, 7, 7])  # the duplicate line was ignored


def test_coverage_equals_the_hand_computed_shares_and_is_in_mlflow(runs):
    import mlflow

    vocabulary = (runs["frozen"].run_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    words = vocabulary[4:]  # after [PAD], [UNK], [START], [END]
    found = {*IN_FILE, "w6"}
    tokens = [t for row in runs["files"]["train"] for t in row.split("\t")[0].split()]
    vocab_share = sum(w in found for w in words) / len(words)
    token_share = sum(t in found for t in tokens) / len(tokens)
    assert len(words) == 14 and vocab_share == pytest.approx(7 / 14)
    metrics = runs["frozen"].metrics
    assert metrics["embed_vocab_coverage"] == pytest.approx(vocab_share)
    assert metrics["embed_token_coverage"] == pytest.approx(token_share)
    assert metrics["embed_pretrained_rows"] == 7
    run = mlflow.MlflowClient(runs["frozen"].tracking_uri).get_run(runs["frozen"].run_id)
    assert run.data.metrics["embed_vocab_coverage"] == pytest.approx(vocab_share)
    assert run.data.metrics["embed_token_coverage"] == pytest.approx(token_share)
    assert run.data.params["stages.embed.pretrained"] == "vectors.txt.gz"
    assert run.data.params["stages.embed.trainable"] in ("False", "false")
    log = (runs["frozen"].run_dir / "run.log").read_text(encoding="utf-8")
    assert "7 of 14 vocabulary words found (50.00%, 1 of them by their lowercase form)" in log


def test_validate_names_the_dimension_mismatch_with_exit_2(runs, tmp_path):
    folder = runs["folder"]
    (folder / "p.yaml").write_text(
        "name: p\ntask: classification\ndata:\n  source: {train: train.tsv}\nstages:\n  - tokenize: {}\n"
        "  - embed: {dim: 8, pretrained: vectors.txt.gz}\n  - encode: {}\n  - classify: {}\n  - train: {}\n",
        encoding="utf-8")
    proc = seqpipe("validate", str(folder / "p.yaml"), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"{folder / 'p.yaml'}:7: stages[1].embed.dim: 8 does not match the "
                                   "4-dimensional vectors in vectors.txt.gz; set dim: 4")
    assert "Traceback" not in proc.stderr
    ok = seqpipe("validate", str(folder / "p.yaml"), "-o", "embed.dim=4", cwd=tmp_path, check=False)
    assert ok.returncode == 0, ok.stderr


def test_the_stage_cache_sees_a_changed_vectors_file(runs, tmp_path, monkeypatch):
    import seqpipe

    folder = runs["folder"]
    monkeypatch.setenv("SEQPIPE_STAGE_CACHE", str(tmp_path / "stages"))
    spec = pipeline(folder, trainable=False)
    spec["tracking"] = {"backend": "none"}

    def train_line():
        result = seqpipe.run(spec, base_dir=folder, progress=False)
        log = (result.run_dir / "run.log").read_text(encoding="utf-8")
        return "stage train: cache hit" in log

    assert train_line() is False  # computed
    assert train_line() is True  # same file: reused
    original = (folder / "vectors.txt.gz").read_bytes()
    changed = gzip.decompress(original).replace(b"w1 0.1 0.11", b"w1 0.9 0.11", 1)
    assert changed != gzip.decompress(original)
    (folder / "vectors.txt.gz").write_bytes(gzip.compress(changed))
    try:
        assert train_line() is False  # another file: trained again
    finally:
        (folder / "vectors.txt.gz").write_bytes(original)
