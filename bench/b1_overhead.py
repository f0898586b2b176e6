"""B1: what the pipeline costs: ``seqpipe run`` against a hand-written Keras script, same model and data.

For each task (classification, translation, language model, tagging) the smoke pipeline
(``pipelines/smoke/*.yaml``: its model shapes, data slice and epochs) runs through the CLI, and
``bench/_handwritten.py`` does the same job with stock Keras, pandas, ``tf.data`` and the
``sentencepiece`` package (it reads the same cached recipe tables; see that file for what it leaves
out). Each run is a fresh process under ``bench._probe``, which adds one step-clock callback to
``keras.Model.fit`` on both sides (seqpipe itself is not changed):

- steps/s: training steps per second within epochs (the intervals between consecutive step ends, so
  tracing before the first step, validation and epoch-end work are excluded);
- time to first step: from process creation to the end of the first training step (imports, data,
  tokenizers, model building, tracing);
- peak RSS of the process (``wait4``), and its whole wall time.

The seqpipe runs use the default tracking store (``sqlite:///mlflow.db`` in a scratch folder, created
before the first measured run) and ``--no-cache`` (every stage computed). Rounds are interleaved (all
variants once per round, in an order that rotates); ratios are taken within a round.
One more row: ``train.diagnostics`` on (every 10 steps) against off, both through seqpipe, on the
classification smoke pipeline.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from bench._common import check, child, load_average, ratios, rotate
from bench.suite import ROOT, main_module, spread

ID, TITLE = "B1", "pipeline overhead: seqpipe run vs a hand-written Keras script"
TASKS = {"classification": "sentiment_bilstm", "translation": "translate_en_es",
         "language_model": "shakespeare_char_lstm", "tagging": "pos_brown_bilstm"}
DIAGNOSTICS_EVERY = 10


def steps_per_second(record: dict) -> float:
    """Training steps per second over the intervals between consecutive step ends within each epoch."""
    steps = seconds = 0.0
    for ends in record["epochs"]:
        if len(ends) > 1:
            steps += len(ends) - 1
            seconds += ends[-1] - ends[0]
    return steps / seconds if seconds else float("nan")


def measure(variant: tuple[str, str], workdir: Path, n: int) -> dict:
    side, task = variant
    out = workdir / f"probe-{n}.json"
    probe = [sys.executable, "-m", "bench._probe", str(out), "--"]
    if side == "script":
        command = probe + ["script", task, str(workdir / f"script-{n}")]
    else:
        command = probe + ["seqpipe", "run", str(ROOT / "pipelines" / "smoke" / f"{TASKS[task]}.yaml"),
                           "--no-progress", "--no-cache"]
        if side == "seqpipe+diagnostics":
            command += ["-o", f"train.diagnostics.every={DIAGNOSTICS_EVERY}"]
    result = check(child(command, cwd=workdir), f"{side} {task}")
    record = json.loads(out.read_text())
    return {"steps_per_s": steps_per_second(record), "first_step_s": record["first_step_wall"] - result["started"],
            "rss_mib": result["rss_mib"], "wall_s": result["seconds"], "steps": record["steps"],
            "steps_per_epoch": [len(e) for e in record["epochs"]]}


def run(quick: bool) -> dict:
    tasks = ["classification"] if quick else list(TASKS)
    rounds = 1 if quick else 2
    variants = [(side, task) for task in tasks for side in ("seqpipe", "script")]
    if not quick:
        variants.append(("seqpipe+diagnostics", "classification"))
    workdir = Path(tempfile.mkdtemp(prefix="bench-b1-"))
    # the tracking store exists before the first measured run (its creation is a one-off, not a per-run cost)
    check(child([sys.executable, "-c", "import mlflow; mlflow.MlflowClient('sqlite:///mlflow.db').search_experiments()"],
                cwd=workdir), "creating the MLflow store")
    load_start = load_average()
    results: dict[tuple, list[dict]] = {v: [] for v in variants}
    n = 0
    for r in range(rounds):
        for variant in rotate(variants, r):
            n += 1
            results[variant].append(measure(variant, workdir, n))
            print(f"B1 round {r + 1} {variant}: {results[variant][-1]}", file=sys.stderr, flush=True)

    keys = [("steps_per_s", "steps/s", 3), ("first_step_s", "time to first step (s)", 3),
            ("rss_mib", "peak RSS (MiB)", 4), ("wall_s", "process wall time (s)", 3)]
    absolute, relative = [], []
    for task in tasks:
        for side in ("seqpipe", "script"):
            runs = results[(side, task)]
            absolute.append([task, side] + [spread([m[k] for m in runs], d) for k, _, d in keys]
                            + [", ".join(str(s) for s in runs[0]["steps_per_epoch"])])
        a, b = results[("seqpipe", task)], results[("script", task)]
        relative.append([task, "seqpipe / script"] + [spread(ratios([m[k] for m in a], [m[k] for m in b]))
                                                      for k, _, _ in keys])
    if not quick:
        a, b = results[("seqpipe+diagnostics", "classification")], results[("seqpipe", "classification")]
        relative.append(["classification", f"train.diagnostics every {DIAGNOSTICS_EVERY} / off (seqpipe both)"]
                        + [spread(ratios([m[k] for m in a], [m[k] for m in b])) for k, _, _ in keys])
        absolute.append(["classification", f"seqpipe, train.diagnostics every {DIAGNOSTICS_EVERY}"]
                        + [spread([m[k] for m in a], d) for k, _, d in keys]
                        + [", ".join(str(s) for s in a[0]["steps_per_epoch"])])
    return {"tables": [
        {"title": "ratios, measured side by side (median (min-max) over rounds; steps/s > 1: seqpipe faster; "
                  "the other columns > 1: seqpipe slower or larger)",
         "columns": ["task", "ratio", *[label for _, label, _ in keys]], "rows": relative},
        {"title": "absolute figures (median (min-max) over rounds)",
         "columns": ["task", "side", *[label for _, label, _ in keys], "training steps per epoch"],
         "rows": absolute}],
        "notes": [f"{rounds} interleaved round(s); smoke pipelines {', '.join(TASKS[t] for t in tasks)}; "
                  f"load average at the start {load_start}, at the end {load_average()}.",
                  "steps/s counts the intervals between consecutive training steps within an epoch on both sides "
                  "(the same callback); time to first step runs from process creation to the end of the first "
                  "training step.",
                  "The hand-written scripts (bench/_handwritten.py) rebuild each smoke model with stock Keras; "
                  "parameter counts differ only through the vocabularies (their slices are drawn with their own "
                  "seeded shuffle), and the translation model has the same 63,928 parameters. They do less than "
                  "a seqpipe run after training (no tracking, reports, beam-search validation BLEU, samples or "
                  "SavedModel export): compare wall times with that in mind.",
                  "seqpipe runs: default MLflow store (sqlite, created before the first run), --no-cache."
                  + ("" if not quick else " Quick run: classification only, one round, no diagnostics row.")]}


if __name__ == "__main__":
    main_module(run)
