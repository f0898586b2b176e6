"""Every key the schema accepts is read by the code that runs a pipeline.

Tiny pipelines of the five tasks run in-process with every config read recorded (attribute
reads, and ``model_dump`` as a read of every field it dumps). A key that no run reads is
either accepted and silently ignored, which is a defect, or it is in :data:`NOT_READ_HERE`
with the reason it does not show up here.
"""

from __future__ import annotations

import json
import random

import pytest

from seqpipe.schema import Schema

# key paths (stages by name) that these runs do not reach, with why
NOT_READ_HERE = {
    "extends": "consumed by the loader before validation",
    "stages.export.format": "one format (saved_model) exists; the value is the choice of export function",
    "sweep": "read by seqpipe sweep (tests/integration/test_sweep.py), not by seqpipe run",
}


@pytest.fixture
def reads(monkeypatch):
    seen: set[tuple[type, str]] = set()
    original_get, original_dump = Schema.__getattribute__, Schema.model_dump

    def get(self, name):
        if not name.startswith("_") and name in type(self).model_fields:
            seen.add((type(self), name))
        return original_get(self, name)

    def mark(model):
        for name in type(model).model_fields:
            seen.add((type(model), name))
            value = object.__getattribute__(model, name)
            for item in (value if isinstance(value, (list, tuple)) else [value]):
                if isinstance(item, Schema):
                    mark(item)

    def dump(self, *args, **kwargs):
        mark(self)
        return original_dump(self, *args, **kwargs)

    monkeypatch.setattr(Schema, "__getattribute__", get)
    monkeypatch.setattr(Schema, "model_dump", dump)
    return seen


def write_data(tmp_path):
    rng = random.Random(0)
    words = [f"w{i}" for i in range(12)]
    with open(tmp_path / "cls.tsv", "w") as out:
        out.write("text\tlabel\n")
        for i in range(120):
            label = "pos" if i % 2 else "neg"
            out.write(" ".join(rng.choice(words) for _ in range(rng.randint(2, 6))) + f" {label}word\t{label}\n")
    with open(tmp_path / "trees.tsv", "w") as out:
        out.write("text\tlabel\n")
        digits = random.Random(1)  # its own generator: the other files stay as they were
        for i in range(60):
            a, b = digits.randint(0, 9), digits.randint(0, 9)
            out.write(f"(+ (* {a} {b}) {i % 3})\t{(a * b + i % 3) % 2}\n")
    with open(tmp_path / "tags.jsonl", "w") as out:
        for _ in range(120):
            sent = [rng.choice(words) for _ in range(rng.randint(2, 6))]
            out.write(json.dumps({"tokens": " ".join(sent),
                                  "tags": " ".join("A" if int(w[1:]) % 2 else "B" for w in sent)})
                      + "\n")
    with open(tmp_path / "pairs.tsv", "w") as out:
        out.write("src\ttgt\n")
        for _ in range(120):
            sent = [rng.choice(words) for _ in range(rng.randint(2, 5))]
            out.write(" ".join(sent) + "\t" + " ".join(reversed(sent)) + "\n")
    with open(tmp_path / "nums.tsv", "w") as out:
        out.write("text\ttarget\n")
        for _ in range(120):
            sent = [rng.choice(words) for _ in range(rng.randint(2, 6))]
            out.write(" ".join(sent) + f"\t{sum(int(w[1:]) for w in sent) / 10}\n")
    from PIL import Image

    (tmp_path / "pics").mkdir()
    with open(tmp_path / "caps.tsv", "w") as out:
        out.write("picture\tcaption\n")
        for i in range(40):
            colour, name = [((200, 20, 20), "red"), ((20, 20, 200), "blue")][i % 2]
            Image.new("RGB", (12, 10), colour).save(tmp_path / "pics" / f"{i}.png")
            out.write(f"pics/{i}.png\ta {name} one\n")
    with open(tmp_path / "text.jsonl", "w") as out:
        for play in range(10):
            out.write(json.dumps({"text": "\n".join("abc defg hij kl" for _ in range(20)), "play": f"p{play}"}) + "\n")


COMMON = {"seed": 1, "tracking": {"backend": "none", "experiment": "keys", "run_name": "keys", "tags": {"a": "b"}},
          "runtime": {"precision": "float32", "deterministic": False}}
TRAIN = {"epochs": 2, "batch_size": 16, "optimizer": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.5,
                                                      "weight_decay": 0.001},
         "clipvalue": 1.0, "early_stopping": {"patience": 2, "min_delta": 0.001}}

PIPELINES = {
    "classification": {
        "data": {"source": {"path": "cls.tsv", "format": "tsv", "columns": {"text": "text", "label": "label"},
                            "header": True, "limit": 110}, "split": {"valid": 0.2, "test": 0.2, "stratify": True}},
        "stages": [{"tokenize": {"kind": "word", "vocab_size": 50, "min_frequency": 1, "lowercase": True,
                                 "max_length": 8}},
                   {"embed": {"dim": 4, "dropout": 0.1}},
                   {"encode": {"cell": "gru", "units": 2, "layers": 2, "bidirectional": True, "merge_mode": "concat",
                               "residual": True, "dropout": 0.1, "recurrent_dropout": 0.1}},
                   {"classify": {"pooling": "last", "hidden_units": 4, "dropout": 0.1}},
                   {"train": {**TRAIN, "monitor": "val_accuracy", "restore_best": True, "bucketing": True,
                              "optimizer": {**TRAIN["optimizer"],
                                            "schedule": {"kind": "reduce_on_plateau", "factor": 0.5, "patience": 1,
                                                         "min_delta": 0.001, "min_lr": 0.1}},
                              "batch_tokens": 40, "average_last": 2, "max_minutes": 30, "diagnostics": {"every": 3}}},
                   {"evaluate": {"metrics": ["accuracy"], "splits": ["valid", "test"]}},
                   {"export": {"keras": False, "log_model": False}}]},
    "classification_tree": {  # encode.tree: the recursive encoder over bracketed trees
        "task": "classification",
        "data": {"source": {"path": "trees.tsv"}},
        "stages": [{"tokenize": {"kind": "tree"}}, {"embed": {"dim": 4}},
                   {"encode": {"units": 3, "tree": {"composition": "nary_treelstm", "max_arity": 2}}},
                   {"classify": {"pooling": "last"}}, {"train": {"epochs": 1, "bucketing": False}},
                   {"evaluate": {}}, {"export": {"keras": False}}]},
    "classification_transformer": {  # encode.kind: transformer reads its own keys
        "task": "classification",
        "data": {"source": {"path": "cls.tsv"}},
        "stages": [{"tokenize": {}}, {"embed": {"dim": 4}},
                   {"encode": {"kind": "transformer", "units": 4, "layers": 1, "heads": 2, "ff_dim": 6,
                               "normalize_first": True, "dropout": 0.1}},
                   {"classify": {"pooling": "mean"}}, {"train": {"epochs": 1, "bucketing": False}},
                   {"evaluate": {}}, {"export": {"keras": False}}]},
    "tagging_transformer": {
        "task": "tagging",
        "data": {"source": {"path": "tags.jsonl"}},
        "stages": [{"tokenize": {}}, {"embed": {"dim": 4}},
                   {"encode": {"kind": "transformer", "units": 4, "heads": 2, "ff_dim": 6, "normalize_first": True}},
                   {"tag": {}}, {"train": {"epochs": 1, "bucketing": False}}, {"evaluate": {}},
                   {"export": {"keras": False}}]},
    "regression_transformer": {
        "task": "regression",
        "data": {"source": {"path": "nums.tsv"}},
        "stages": [{"tokenize": {"kind": "whitespace"}}, {"embed": {"dim": 4}},
                   {"encode": {"kind": "transformer", "units": 4, "heads": 2, "ff_dim": 6, "normalize_first": True}},
                   {"regress": {}}, {"train": {"epochs": 1, "monitor": "val_mae", "bucketing": False}},
                   {"evaluate": {}}, {"export": {"keras": False}}]},
    "translation_transformer": {
        "task": "translation",
        "data": {"source": {"path": "pairs.tsv", "columns": {"source": "src", "target": "tgt"}},
                 "split": {"valid": 0.1, "test": 0.1, "stratify": False}},
        "stages": [{"tokenize": {"kind": "word"}}, {"embed": {"dim": 4}},
                   {"encode": {"kind": "transformer", "units": 4, "heads": 2, "ff_dim": 6, "normalize_first": True}},
                   {"decode": {"kind": "transformer", "units": 6, "layers": 1, "heads": 3, "ff_dim": 5,
                               "normalize_first": True, "embed_dim": 4}},
                   {"train": {"epochs": 1, "validation_subset": 4}}, {"generate": {"splits": ["test"]}},
                   {"evaluate": {"metrics": ["bleu"]}}, {"export": {"keras": False}}]},
    "captioning_transformer": {
        "task": "captioning",
        "data": {"source": {"path": "caps.tsv", "columns": {"image": "picture"}},
                 "split": {"valid": 0.1, "test": 0.1, "group_by": "image"}},
        "stages": [{"tokenize": {"kind": "word", "vocab_size": 20, "max_length": 6}},
                   {"see": {"blocks": [{"filters": 3, "convs": 1}], "image_size": [8, 8]}},
                   {"caption": {"kind": "transformer", "units": 4, "heads": 2, "ff_dim": 6, "normalize_first": True}},
                   {"train": {"epochs": 1, "validation_subset": 2}}, {"describe": {"splits": ["test"]}},
                   {"evaluate": {"metrics": ["bleu"]}}, {"export": {"keras": False}}]},
    "tagging": {
        "data": {"source": {"path": "tags.jsonl"}},
        "stages": [{"tokenize": {}}, {"embed": {"dim": 4, "chars": {"dim": 3, "units": 2, "cell": "rnn", "max_chars": 4,
                                                                     "min_frequency": 1}}},
                   {"encode": {"units": 3}}, {"tag": {"output": "crf", "hidden_units": 3, "dropout": 0.1}},
                   {"train": {"epochs": 1, "bucketing": False, "clipnorm": 1.0, "clip_scope": "per_variable",
                              "optimizer": {"schedule": {"kind": "warmup_cosine", "min_lr": 0.5}}}},
                   {"evaluate": {}}, {"export": {"keras": False}}]},
    "regression": {
        "data": {"source": {"path": "nums.tsv"}},
        "stages": [{"tokenize": {"kind": "whitespace"}}, {"embed": {"kind": "one_hot"}}, {"encode": {"units": 3}},
                   {"regress": {"pooling": "attention", "hidden_units": 3, "dropout": 0.1}},
                   {"train": {"epochs": 1, "monitor": "val_mae", "bucketing": False}},
                   {"evaluate": {"metrics": ["mse", "r2"]}}, {"export": {"keras": False}}]},
    "language_model": {
        "data": {"source": {"path": "text.jsonl", "columns": {"text": "text", "group": "play"}},
                 "split": {"valid": 0.2, "test": 0.2, "group_by": "group"}},
        "stages": [{"tokenize": {"kind": "char", "lowercase": False}}, {"embed": {"dim": 4}},
                   {"encode": {"cell": "lstm", "units": 4}}, {"lm": {"dropout": 0.1}},
                   {"train": {"epochs": 1, "batch_size": 2, "window": 8, "stateful": True, "label_smoothing": 0.1,
                              "optimizer": {"schedule": {"kind": "warmup_inverse_sqrt", "warmup_steps": 2}}}},
                   {"sample": {"prompts": ["ab"], "max_length": 5}},
                   {"evaluate": {"splits": ["valid"], "shuffled_pairs": 5}}, {"export": {"keras": True}}]},
    "translation": {
        "data": {"source": {"path": "pairs.tsv", "columns": {"source": "src", "target": "tgt"}},
                 "split": {"valid": 0.1, "test": 0.1, "stratify": False}},
        "stages": [{"tokenize": {"kind": "word", "target": {"kind": "word", "vocab_size": 40, "min_frequency": 1,
                                                             "lowercase": True, "max_length": 9}, "shared": False}},
                   {"embed": {"dim": 4}}, {"encode": {"units": 4, "bidirectional": True}},
                   {"decode": {"cell": "gru", "units": 6, "layers": 1, "attention": "bahdanau", "attention_units": 3,
                               "input_feeding": True, "bridge": "dense", "dropout": 0.1}},
                   {"train": {"epochs": 1, "validation_subset": 4, "label_smoothing": 0.1, "batch_tokens": 30,
                              "optimizer": {"schedule": {"kind": "warmup_linear", "warmup_steps": 1, "min_lr": 0.1}},
                              "scheduled_sampling": {"schedule": "linear", "k": 1.0, "c": 0.1, "min_ratio": 0.2,
                                                     "prediction": "argmax"}}},
                   {"generate": {"decoding": {"strategy": "beam", "beam_width": 2}, "compare_greedy": True,
                                 "splits": ["test"], "heatmaps": 1}},
                   {"evaluate": {"metrics": ["bleu"]}}, {"export": {"keras": False}}]},
    "captioning": {
        "data": {"source": {"path": "caps.tsv", "columns": {"image": "picture"}},
                 "split": {"valid": 0.1, "test": 0.1, "group_by": "image"}},
        "stages": [{"tokenize": {"kind": "word", "vocab_size": 20, "max_length": 6}},
                   {"see": {"blocks": [{"filters": 3, "convs": 2}], "kernel": 3, "pool": 2, "image_size": [8, 8],
                            "channels": 1, "positions": True}},
                   {"caption": {"cell": "gru", "units": 6, "layers": 1, "embed_dim": 4, "attention": "bahdanau",
                                "attention_units": 3, "input_feeding": True, "bridge": "dense", "dropout": 0.1,
                                "residual": False}},
                   {"train": {"epochs": 1, "validation_subset": 2, "label_smoothing": 0.1,
                              "decoding": {"strategy": "greedy"},
                              "scheduled_sampling": {"schedule": "inverse_sigmoid", "k": 2, "min_ratio": 0.1}}},
                   {"describe": {"decoding": {"strategy": "beam", "beam_width": 2}, "compare_greedy": True,
                                 "splits": ["test"], "attention_maps": 1}},
                   {"evaluate": {"metrics": ["bleu"]}},
                   {"export": {"keras": False, "decoding": {"strategy": "greedy"}}}]},
}


def key_paths(model, prefix: str):
    """Every key path of a Schema class, nested Schemas walked."""
    import typing

    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        yield model, name, path
        for arg in [field.annotation, *typing.get_args(field.annotation)]:
            for inner in [arg, *typing.get_args(arg)]:
                if isinstance(inner, type) and issubclass(inner, Schema):
                    yield from key_paths(inner, path)


def test_every_accepted_key_is_read(reads, tmp_path, monkeypatch):
    from seqpipe.api import load
    from seqpipe.config.pipeline import pipeline_model
    from seqpipe.config.report import resolved_dict
    from seqpipe.runner import run_pipeline
    from seqpipe.tasks.base import get_task, task_key_owners

    write_data(tmp_path)
    monkeypatch.chdir(tmp_path)
    owners = task_key_owners()
    stage_keys: dict[str, bool] = {}  # "task: stages.train.window" -> read by that task's run
    nested: dict[str, tuple[type, str]] = {}  # deeper key paths -> (model, field); any run may read them
    every_read: set[tuple[type, str]] = set()
    for entry, spec in PIPELINES.items():
        task = spec.get("task", entry)  # an entry may run a task a second time with other keys
        config, _, base = load({"name": f"keys-{entry.replace('_', '-')}", "task": task, **COMMON, **spec},
                               base_dir=tmp_path)
        reads.clear()
        run_pipeline(config, resolved_dict(config), base_dir=base, progress=False)
        every_read |= reads
        for model, name, path in key_paths(pipeline_model(), ""):
            if not path.startswith("stages"):
                nested[path] = (model, name)
        for stage in config.stage_names():
            for model, name, path in key_paths(type(config.stage(stage)), f"stages.{stage}"):
                key = path.split(".")[2]
                if (((stage, key) in owners and task not in owners[(stage, key)])
                        or key in get_task(task).ignores.get(stage, ())):
                    continue  # refused on this task
                if path.count(".") == 2:
                    stage_keys[f"{task}: {path}"] = stage_keys.get(f"{task}: {path}", False) or (model, name) in reads
                else:  # a field of a nested section (optimizer, decoding strategies, chars, ...)
                    nested[path] = (model, name)
    def excused(path):
        return any(path == key or path.startswith(key + ".") for key in NOT_READ_HERE)

    unread = sorted([key for key, read in stage_keys.items() if not read and not excused(key.split(": ")[1])]
                    + [path for path, field in nested.items() if field not in every_read and not excused(path)])
    assert unread == [], "\n".join(unread)
    # the exceptions are real keys
    assert set(NOT_READ_HERE) <= {key.split(": ")[1] for key in stage_keys} | set(nested)
