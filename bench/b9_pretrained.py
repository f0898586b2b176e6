"""B9: sentence polarity with pretrained word vectors (embed.pretrained) against learned embeddings.

The vectors: word2vec (gensim, skip-gram) trained on the **Brown corpus** (the ``brown`` recipe: 57,340
sentences of 1961 American English in 15 genres, about 1.2M tokens), which seqpipe already fetches for the
tagging task. Brown is unlabelled here (its tags are not read) and shares no text with the polarity set, so
no test sentence can leak into the vectors whatever split a seed draws. Its sentences are split into tokens by
seqpipe's own ``word`` tokenizer with lowercasing (the split ``pipelines/sentiment_bilstm.yaml`` uses), so
vocabulary words and vector words are cut alike. The vectors file (text format with a header, gzip) is cached
in ``~/.cache/seqpipe-bench/b9`` (``$SEQPIPE_BENCH_CACHE``) under a name that holds the settings.

The runs: ``pipelines/sentiment_bilstm.yaml`` as it is (the full 4,000 sentences, split 75/10/15 with the
seed; 12 epochs at most, early stopping on validation accuracy with patience 3, best epoch restored), run
with ``python -m seqpipe run ... --no-cache`` and overrides only (``seed``, ``embed.pretrained``,
``embed.trainable``; tracking off, no model logging), one process per run, one at a time. Three arms:
learned (as today), pretrained and fine-tuned (``trainable: true``), pretrained and frozen
(``trainable: false``); each seed gives the three arms the same split and initialisation seed, so the
differences are paired. Reported: test accuracy mean, sample standard deviation and min-max over the seeds,
the mean paired difference against learned, the coverage of the vocabulary and of the training tokens.

``python -m bench.b9_pretrained --full`` runs 5 seeds and stores ``bench/results/b9_pretrained.json``
(``--full --add --arms 3`` adds a fourth arm: fine-tuned with up to 30 epochs, same early stopping), which
the suite reads; the suite's own run (``--quick`` or not) reports the stored figures and runs one seed of each
arm as a smoke check when ``--quick`` is not given.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench._common import CACHE, check, child, load_average, quiet_env
from bench.suite import BENCH, ROOT, machine, main_module

ID, TITLE = "B9", "sentence polarity: pretrained word2vec vectors (Brown) vs learned embeddings"
RESULTS = BENCH / "results" / "b9_pretrained.json"
PIPELINE = ROOT / "pipelines" / "sentiment_bilstm.yaml"
W2V = {"vector_size": 64, "window": 5, "min_count": 2, "sg": 1, "negative": 5, "epochs": 10, "seed": 1,
       "workers": 2}  # vector_size = the pipeline's embed.dim (its residual BiLSTM needs 2 x 32 = 64)
ARMS = {"learned": [], "pretrained, fine-tuned": ["embed.trainable=true"],
        "pretrained, frozen": ["embed.trainable=false"],
        "pretrained, fine-tuned, up to 30 epochs": ["embed.trainable=true", "train.epochs=30"]}
DEFAULT_ARMS = list(ARMS)[:3]  # the fourth: --add --arms 3 (the fine-tuned arm often peaks at the 12-epoch cap)


def vectors_file() -> Path:
    """The Brown word2vec vectors (text format, gzip), trained once and cached."""
    name = "brown-w2v-" + "-".join(f"{k}{v}" for k, v in W2V.items() if k != "workers") + ".txt.gz"
    target = CACHE / "b9" / name
    if target.exists():
        return target
    sentences = brown_sentences()
    from gensim.models import Word2Vec

    started = time.perf_counter()
    model = Word2Vec(sentences=sentences, **W2V)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part.gz")
    model.wv.save_word2vec_format(str(partial), binary=False)
    partial.replace(target)
    meta = {"sentences": len(sentences), "tokens": sum(map(len, sentences)), "words": len(model.wv),
            "train_s": round(time.perf_counter() - started, 1), "settings": W2V}
    target.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    return target


def brown_sentences() -> list[list[str]]:
    """The Brown corpus's sentences as lowercased tokens of seqpipe's word tokenizer (the tags are not read)."""
    import tensorflow as tf

    from seqpipe.data.recipes import prepare_recipe
    from seqpipe.text.kinds import WordTokenizer

    rows = [json.loads(line)["tokens"] for line in prepare_recipe("brown").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    split, out = WordTokenizer(None, lowercase=True), []
    for start in range(0, len(rows), 4096):
        tokens = split.split(tf.constant(rows[start:start + 4096])).to_list()
        out += [[t.decode("utf-8") for t in sentence] for sentence in tokens]
    return out


def one_run(arm: str, seed: int, vectors: Path, folder: Path) -> dict:
    overrides = [f"seed={seed}", "tracking.backend=none", "export.keras=false", "export.log_model=false",
                 f"output_dir={folder / 'runs'}"]
    if arm != "learned":
        overrides += [f"embed.pretrained={vectors}", *ARMS[arm]]
    command = [sys.executable, "-m", "seqpipe", "run", str(PIPELINE), "--no-cache", "--json", "--no-progress"]
    command += [arg for o in overrides for arg in ("-o", o)]
    result = check(child(command, cwd=folder, env=quiet_env()), f"b9 {arm} seed {seed}")
    out = json.loads(result["stdout"].strip().splitlines()[-1])
    log = (Path(out["run_dir"]) / "run.log").read_text(encoding="utf-8")
    restored = [line for line in log.splitlines() if "restored the weights of epoch" in line]
    epochs = [line for line in log.splitlines() if "early stopping" in line]
    return {"arm": arm, "seed": seed, "wall_s": round(result["seconds"], 1), "metrics": out["metrics"],
            "best_epoch": restored[-1].split("epoch ")[1].split()[0] if restored else None,
            "stopped": epochs[-1].strip() if epochs else "ran every epoch"}


def measure(seeds: list[int], arms: list[str] = DEFAULT_ARMS) -> dict:
    vectors = vectors_file()
    folder = Path(tempfile.mkdtemp(prefix="bench-b9-"))
    load_start, started, runs = load_average(), time.perf_counter(), []
    for seed in seeds:
        for arm in arms:
            runs.append(one_run(arm, seed, vectors, folder))
            last = runs[-1]
            print(f"b9: {arm}, seed {seed}: test accuracy {last['metrics']['test_accuracy']:.4f} "
                  f"({last['wall_s']:.0f} s)", file=sys.stderr, flush=True)
    meta = json.loads(vectors.with_suffix(".json").read_text()) if vectors.with_suffix(".json").exists() else {}
    return {"machine": machine(), "load_start": load_start, "wall_s": round(time.perf_counter() - started, 1),
            "seeds": seeds, "vectors": {"file": vectors.name, "bytes": vectors.stat().st_size, **meta}, "runs": runs}


def tables(stored: dict) -> list[dict]:
    rows = []
    by_arm = {arm: [r for r in stored["runs"] if r["arm"] == arm] for arm in ARMS}
    learned = {r["seed"]: r["metrics"]["test_accuracy"] for r in by_arm["learned"]}
    for arm, runs in by_arm.items():
        if not runs:
            continue
        acc = [r["metrics"]["test_accuracy"] for r in runs]
        diffs = [r["metrics"]["test_accuracy"] - learned[r["seed"]] for r in runs if r["seed"] in learned]
        rows.append([arm, len(runs), f"{statistics.mean(acc):.4f} ± {statistics.stdev(acc) if len(acc) > 1 else 0:.4f}",
                     f"{min(acc):.4f}-{max(acc):.4f}",
                     "-" if arm == "learned" else f"{statistics.mean(diffs):+.4f}",
                     f"{statistics.mean(r['metrics']['test_macro_f1'] for r in runs):.4f}",
                     "-" if arm == "learned" else coverage_range(runs),
                     f"{statistics.mean(r['wall_s'] for r in runs):.0f} s",
                     ", ".join(str(r["best_epoch"]) for r in runs)])
    return [{"title": f"test accuracy over seeds {', '.join(map(str, stored['seeds']))} (600 test sentences each)",
             "columns": ["arm", "runs", "mean ± std", "min-max", "paired diff vs learned", "macro F1 (mean)",
                         "coverage: vocabulary / training tokens", "wall per run", "best epoch per seed"],
             "rows": rows}]


def coverage_range(runs: list[dict]) -> str:
    """Vocabulary / token coverage over the seeds' vocabularies: ``min-max%`` (one value when they agree)."""
    def span(name):
        values = [100 * r["metrics"][f"embed_{name}_coverage"] for r in runs]
        low, high = f"{min(values):.1f}", f"{max(values):.1f}"
        return f"{low}%" if low == high else f"{low}-{high}%"

    return f"{span('vocab')} / {span('token')}"


def notes(stored: dict) -> list[str]:
    v, m = stored["vectors"], stored["machine"]
    return [f"Vectors: {v['file']} ({v['bytes'] / 1e6:.1f} MB): gensim word2vec on the Brown corpus, "
            f"{v.get('sentences', '?'):,} sentences, {v.get('tokens', '?'):,} tokens, {v.get('words', '?'):,} words "
            f"kept (min_count 2), trained in {v.get('train_s', '?')} s.",
            f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores), load average {stored['load_start']} at the "
            f"start; {len(stored['runs'])} runs in {stored['wall_s'] / 60:.1f} min, one at a time"
            + (f" (arms added later: {stored['added']})." if stored.get("added") else "."),
            "Std is the sample standard deviation over seeds; each seed draws its own split (75/10/15), shared by "
            "every arm. Other sessions' jobs shared the 2 cores (load 3.5-5): wall times are inflated and compare "
            "only within this table; accuracies do not depend on the load."]


def run(quick: bool) -> dict:
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else None
    out_tables, out_notes = [], []
    if stored:
        out_tables += tables(stored)
        out_notes += [f"Read from bench/results/b9_pretrained.json ({stored['machine']['date']})."] + notes(stored)
    else:
        out_notes.append("not run yet: python -m bench.b9_pretrained --full")
    if not quick:
        fresh = measure([1])
        smoke = tables(fresh)[0]
        smoke["title"] = "fresh smoke check: one seed per arm (not a result)"
        out_tables.append(smoke)
    return {"tables": out_tables, "notes": out_notes}


def section(stored: dict) -> str:
    """The stored figures as a bench/results.md section (``python -m bench.b9_pretrained --markdown``)."""
    lines = [f"## {ID}: {TITLE}", ""]
    for table in tables(stored):
        lines += [f"**{table['title']}**", "", "| " + " | ".join(table["columns"]) + " |",
                  "|" + "---|" * len(table["columns"])]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in table["rows"]] + [""]
    lines += [f"- {note}" for note in notes(stored)]
    return "\n".join(lines) + "\n"


def full_main(seeds: list[int], output: Path, arms: list[str], add: bool) -> int:
    stored = measure(seeds, arms)
    if add and output.exists():  # more arms beside the stored ones (same seeds, same vectors)
        earlier = json.loads(output.read_text())
        earlier["runs"] += stored["runs"]
        earlier["wall_s"] += stored["wall_s"]
        earlier["added"] = f"{', '.join(arms)} on {stored['machine']['date']}, load {stored['load_start']}"
        stored = earlier
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(stored, indent=1), encoding="utf-8")
    for row in tables(stored)[0]["rows"]:
        print("b9: " + " | ".join(map(str, row)), file=sys.stderr)
    print(f"b9: wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if "--markdown" in sys.argv:
        sys.stdout.write(section(json.loads(RESULTS.read_text())))
        sys.exit(0)
    if "--full" in sys.argv:
        import argparse

        parser = argparse.ArgumentParser(prog="python -m bench.b9_pretrained --full")
        parser.add_argument("--full", action="store_true")
        parser.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds (default 1-5)")
        parser.add_argument("--output", default=str(RESULTS))
        parser.add_argument("--arms", default="0,1,2", help=f"indices into {list(ARMS)} (default 0,1,2)")
        parser.add_argument("--add", action="store_true", help="add these arms' runs to the stored results")
        args = parser.parse_args()
        chosen = [list(ARMS)[int(i)] for i in args.arms.split(",")]
        sys.exit(full_main([int(s) for s in args.seeds.split(",")], Path(args.output), chosen, args.add))
    main_module(run)
