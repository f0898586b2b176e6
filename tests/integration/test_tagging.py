"""End to end: the smoke POS tagger on a slice of Brown, and a CRF tagger on a user's own CoNLL file."""

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from seqpipe.tracking.params import escape_name
from tests.integration.conftest import seqpipe


def tag_table(run) -> pd.DataFrame:
    return pd.read_csv(Path(run["result"]["run_dir"]) / "evaluation" / "test_tags.tsv", sep="\t",
                       keep_default_na=False, dtype=str)


def artifacts(client, run_id, path=None):
    out = []
    for f in client.list_artifacts(run_id, path):
        out += artifacts(client, run_id, f.path) if f.is_dir else [f.path]
    return set(out)


def test_pos_metrics_agree_with_the_tags_file(pos_run):
    result, table = pos_run["result"], tag_table(pos_run)
    assert len(table) == 150  # 10% of the 1,500-sentence slice
    gold = [t.split() for t in table["tags"]]
    pred = [p.split() for p in table["predicted"]]
    assert [len(p) for p in pred] == [len(t.split()) for t in table["tokens"]] == [len(g) for g in gold]
    tokens = sum(len(g) for g in gold)
    right = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p))
    assert result["metrics"]["test_token_accuracy"] == pytest.approx(right / tokens, abs=1e-12)
    assert table["errors"].astype(int).sum() == tokens - right
    universal = {".", "ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM", "PRON", "PRT", "VERB", "X"}
    assert {t for g in gold for t in g} <= universal and {t for p in pred for t in p} <= universal
    assert "test_span_f1" not in result["metrics"]  # POS tags are not spans
    vocabulary = set(Path(result["run_dir"], "vocab.txt").read_text(encoding="utf-8").splitlines())
    unknown = [g == p for s, gs, ps in zip(table["tokens"], gold, pred) for w, g, p in zip(s.split(), gs, ps)
               if w.lower() not in vocabulary]
    assert result["metrics"]["test_unknown_word_share"] == pytest.approx(len(unknown) / tokens)
    assert result["metrics"]["test_unknown_word_accuracy"] == pytest.approx(sum(unknown) / len(unknown))


def test_pos_run_logs_report_confusion_matrix_and_export_to_mlflow(pos_run):
    result = pos_run["result"]
    client = mlflow.MlflowClient(result["tracking_uri"])
    run = client.get_run(result["run_id"])
    assert run.data.params["data.source.tagset"] == "universal"
    assert run.data.params["stages.embed.chars.units"] == "8"
    assert [m.step for m in client.get_metric_history(result["run_id"], "val_token_accuracy")] == [0, 1]
    found = artifacts(client, result["run_id"])
    for expected in ("evaluation/test_confusion_matrix.png", "evaluation/test_tag_report.csv",
                     "evaluation/test_tags.tsv",
                     "evaluation/valid_confusion_matrix.png", "vocab.txt", "char_vocab.txt",
                     "export/saved_model/saved_model.pb", "export/model.keras"):
        assert expected in found, expected
    report = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_tag_report.csv", index_col=0)
    assert report.loc["NOUN", "support"] == sum(t == "NOUN" for tags in tag_table(pos_run)["tags"]
                                                for t in tags.split())
    assert report.loc["micro avg", "f1"] == pytest.approx(result["metrics"]["test_token_accuracy"])
    for column in ("precision", "recall", "f1"):  # per-tag scores are MLflow metrics too
        assert run.data.metrics[f"test_{column}/NOUN"] == pytest.approx(report.loc["NOUN", column])
        assert run.data.metrics[f"test_{column}/{escape_name('.')}"] == pytest.approx(report.loc[".", column])
    assert report.loc[".", "metric_key"] == "test_f1/.2E"


def test_mlflow_pyfunc_model_tags_the_same(pos_run, monkeypatch):
    table = tag_table(pos_run).head(5)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", pos_run["result"]["tracking_uri"])
    model = mlflow.pyfunc.load_model(f"runs:/{pos_run['result']['run_id']}/model")
    out = model.predict(pd.DataFrame({"text": table["tokens"]}))
    assert out["tags"].tolist() == table["predicted"].tolist()  # space-joined, as seqpipe predict prints them
    assert out["tokens"].tolist() == table["tokens"].tolist()


SERVE = """
import json, sys
sys.modules["seqpipe"] = None  # the export must not need seqpipe
import tensorflow as tf
import tensorflow_text  # noqa: F401
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["serving_default"](text=tf.constant(json.load(sys.stdin)))
n = out["length"].numpy()
print(json.dumps([[t.decode("utf-8") for t in row[:k]] for row, k in zip(out["tags"].numpy(), n)]))
"""


def served_tags(export_path, sentences):
    proc = subprocess.run([sys.executable, "-c", SERVE, export_path], input=json.dumps(sentences),
                          capture_output=True, text=True, timeout=300, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_saved_model_in_a_fresh_process_tags_like_the_pipeline(pos_run):
    table = tag_table(pos_run)
    assert served_tags(pos_run["result"]["export_path"], table["tokens"].tolist()) == \
        [p.split() for p in table["predicted"]]


def test_predict_tags_lines_as_tsv_and_conll(pos_run):
    table = tag_table(pos_run).head(4)
    stdin = "\n".join(table["tokens"]) + "\n"
    proc = seqpipe("predict", pos_run["result"]["run_dir"], stdin=stdin, cwd=pos_run["workdir"])
    out = pd.read_csv(io.StringIO(proc.stdout), sep="\t", keep_default_na=False, dtype=str, quoting=3)
    assert list(out.columns) == ["text", "tokens", "tags", "known_tokens"]
    assert out["tags"].tolist() == table["predicted"].tolist()
    conll = seqpipe("predict", pos_run["result"]["run_dir"], "--format", "conll", stdin=stdin, cwd=pos_run["workdir"])
    blocks = conll.stdout.rstrip("\n").split("\n\n")
    assert [[line.split("\t") for line in b.splitlines()] for b in blocks] == \
        [[[w, t] for w, t in zip(s.split(), p.split())] for s, p in zip(table["tokens"], table["predicted"])]


# A made-up named-entity corpus in CoNLL layout: token, POS, chunk, entity tag (BIO); people and places.
PEOPLE = [["Alice"], ["Bob", "Smith"], ["Carol"], ["Dave", "Lee"], ["Erin"], ["Frank", "Ortiz"]]
PLACES = [["Paris"], ["New", "York"], ["Oslo"], ["Lima"], ["Cape", "Town"], ["Rio", "de", "Janeiro"]]


def write_conll(path: Path, sentences: int, seed: int) -> None:
    rng = random.Random(seed)
    lines = ["-DOCSTART-\tO\tO\tO", ""]
    for _ in range(sentences):
        person, place, verb = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(["visited", "left", "saw"])
        words = person + [verb] + place + ["."]
        tags = (["B-PER"] + ["I-PER"] * (len(person) - 1) + ["O"] + ["B-LOC"] + ["I-LOC"] * (len(place) - 1) + ["O"])
        lines += [f"{w}\tX\tX\t{t}" for w, t in zip(words, tags)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.fixture(scope="module")
def conll_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("conll")
    write_conll(workdir / "people.conll", 300, seed=0)
    (workdir / "ner.yaml").write_text(
        "name: toy-ner\ntask: tagging\nseed: 3\n"
        "data:\n  source: {path: people.conll, columns: {tokens: 0, tags: 3}}\n  split: {valid: 0.1, test: 0.2}\n"
        "stages:\n  - tokenize: {lowercase: false}\n  - embed: {dim: 16, chars: {dim: 8, units: 8}}\n"
        "  - encode: {units: 16, bidirectional: true}\n  - tag: {output: crf}\n"
        "  - train: {epochs: 6, batch_size: 16, optimizer: {learning_rate: 0.02}}\n  - evaluate: {}\n  - export: {}\n",
        encoding="utf-8")
    proc = seqpipe("run", "ner.yaml", "--json", cwd=workdir)
    return {"workdir": workdir, "result": json.loads(proc.stdout.strip().splitlines()[-1])}


def test_conll_crf_tagger_reports_span_f1_equal_to_seqeval(conll_run):
    from seqeval.metrics import f1_score, precision_score, recall_score

    metrics, table = conll_run["result"]["metrics"], tag_table(conll_run)
    gold = [t.split() for t in table["tags"]]
    pred = [p.split() for p in table["predicted"]]
    assert metrics["test_span_f1"] == pytest.approx(f1_score(gold, pred), abs=1e-12)
    assert metrics["test_span_precision"] == pytest.approx(precision_score(gold, pred), abs=1e-12)
    assert metrics["test_span_recall"] == pytest.approx(recall_score(gold, pred), abs=1e-12)
    assert metrics["test_span_f1"] > 0.9  # the toy task is easy: the CRF must learn it
    spans = pd.read_csv(Path(conll_run["result"]["run_dir"]) / "evaluation" / "test_span_report.csv", index_col=0)
    assert sorted(spans.index) == ["LOC", "PER"]
    client = mlflow.MlflowClient(conll_run["result"]["tracking_uri"])
    assert client.get_run(conll_run["result"]["run_id"]).data.tags["tagging.span_scheme"] == "BIO"


def test_crf_export_serves_viterbi_tags_in_a_fresh_process(conll_run):
    table = tag_table(conll_run)
    assert served_tags(conll_run["result"]["export_path"], table["tokens"].tolist()) == \
        [p.split() for p in table["predicted"]]
    unseen = served_tags(conll_run["result"]["export_path"], ["Zed visited Rome .", ""])
    assert len(unseen[0]) == 4 and unseen[1] == []
