"""End to end: a tiny translation pipeline on gzipped parallel shards, a held-out pair given with -o from the
working directory."""

import gzip
import json
from pathlib import Path

import pandas as pd
import yaml

from tests.integration.conftest import seqpipe

PIPELINE = """\
name: parallel-shards
task: translation
tracking: {backend: none}
data:
  source:
    train: {source: corpus/train-*.en.gz, target: corpus/train-*.es.gz}
    valid: {source: corpus/dev.en, target: corpus/dev.es}
stages:
  - tokenize: {kind: word, max_length: 8}
  - embed: {dim: 8}
  - encode: {units: 8}
  - decode: {units: 8}
  - train: {epochs: 1, batch_size: 16, monitor: loss}
  - generate: {decoding: {strategy: greedy}}
  - evaluate: {metrics: [bleu]}
"""
WORDS = ["red", "blue", "green", "cat", "dog", "sun", "moon"]
SPANISH = {"red": "rojo", "blue": "azul", "green": "verde", "cat": "gato", "dog": "perro", "sun": "sol",
           "moon": "luna"}


def pairs(start, n):
    out = []
    for i in range(start, start + n):
        words = [WORDS[(i * k) % len(WORDS)] for k in (1, 2, 3)]
        out.append((" ".join(words), " ".join(SPANISH[w] for w in words)))
    return out


def write(path, lines, gz=False):
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)


def test_translation_on_gzipped_parallel_shards_with_a_test_pair_from_the_working_directory(tmp_path):
    folder = tmp_path / "pipes"
    (folder / "corpus").mkdir(parents=True)
    (folder / "p.yaml").write_text(PIPELINE, encoding="utf-8")
    for shard in range(3):
        rows = pairs(shard * 40, 40)
        write(folder / "corpus" / f"train-{shard}.en.gz", [en for en, _ in rows], gz=True)
        write(folder / "corpus" / f"train-{shard}.es.gz", [es for _, es in rows], gz=True)
    write(folder / "corpus" / "dev.en", [en for en, _ in pairs(200, 10)])
    write(folder / "corpus" / "dev.es", [es for _, es in pairs(200, 10)])
    work = tmp_path / "work"
    work.mkdir()
    write(work / "t.en", [en for en, _ in pairs(300, 12)])
    write(work / "t.es", [es for _, es in pairs(300, 12)])
    proc = seqpipe("run", "../pipes/p.yaml", "--json", "--no-progress", "--no-cache",
                   "-o", "data.source.test={source: t.en, target: t.es}", cwd=work, timeout=300)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0 <= result["metrics"]["test_bleu"] <= 100
    table = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_translations.tsv", sep="\t",
                        keep_default_na=False, quoting=3)
    assert sorted(table["source"]) == sorted(en for en, _ in pairs(300, 12))  # the test pair from work/
    resolved = yaml.safe_load((Path(result["run_dir"]) / "resolved.yaml").read_text(encoding="utf-8"))
    assert resolved["data"]["source"]["test"] == {"source": str(work / "t.en"), "target": str(work / "t.es")}
    assert resolved["data"]["source"]["train"]["source"] == "corpus/train-*.en.gz"  # from the file: as written
    log = (Path(result["run_dir"]) / "run.log").read_text(encoding="utf-8")
    assert "data: train_examples 120, valid_examples 10, test_examples 12" in log
