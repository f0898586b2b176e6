"""B7: scale: peak memory and epoch time of a translation run on the corpus and on ten copies of it.

The bible-en-es pairs are written as fixed split files in a scratch folder: 200 validation and 200 test
pairs, and the rest as the 1x training file (the whole corpus; a 1,000-pair slice in ``--quick``); the
10x training file is the 1x file's pairs repeated ten times. Each corpus runs the translation smoke
pipeline's model and settings (``pipelines/smoke/translate_en_es.yaml`` with ``data.source`` set to the
files, tracking off) through ``seqpipe run`` in a fresh process under ``bench._probe``:

- peak RSS of the process (``wait4``), and its resident set at the first training step (``/proc``);
- time to the first training step (reading, the tokenizers' training, tokenizing, batching, tracing);
- training time per step over the first steps (the intervals between step ends), and the epoch time that
  gives at the epoch's step count. The 10x epoch is projected that way (a whole 10x epoch is far beyond
  the suite's budget); in full mode the 1x run also trains one whole epoch and its measured time is shown
  next to its projection.

Runs alternate between the corpora (1x, 10x, 10x, 1x, ...). Whether memory grows with the corpus says
whether the data is held in memory (it is, today: the table, the token ids and the tf.data tensors).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from bench._common import check, child, load_average, median, spread_fmt
from bench.suite import ROOT, main_module

ID, TITLE = "B7", "scale: memory and epoch time at 1x and 10x the translation corpus"
HELD_OUT = 200
TIMED_STEPS = {True: 30, False: 150}  # steps timed per run (after the first), quick / full


def write_corpus(folder: Path, quick: bool) -> dict[str, int]:
    import pandas as pd

    frame = pd.read_csv(Path.home() / ".cache" / "seqpipe" / "datasets" / "bible-en-es.tsv", sep="\t", quoting=3,
                        keep_default_na=False, dtype=str)
    frame = frame.sample(frac=1.0, random_state=13).reset_index(drop=True)
    valid, test, train = frame[:HELD_OUT], frame[HELD_OUT:2 * HELD_OUT], frame[2 * HELD_OUT:]
    if quick:
        train = train[:1000]
    for name, part in (("valid", valid), ("test", test), ("train_1x", train),
                       ("train_10x", pd.concat([train] * 10, ignore_index=True))):
        part.to_csv(folder / f"{name}.tsv", sep="\t", index=False, quoting=3)
    for scale in ("1x", "10x"):
        (folder / f"scale_{scale}.yaml").write_text(
            f"name: bench-scale-{scale}\n"
            f"extends: [{ROOT / 'pipelines' / 'smoke' / 'translate_en_es.yaml'}]\n"
            "tracking: {backend: none}\n"
            f"data:\n  source: {{recipe: null, limit: null, train: train_{scale}.tsv, valid: valid.tsv, "
            "test: test.tsv}\n", encoding="utf-8")
    return {"1x": len(train), "10x": 10 * len(train)}


def measure(folder: Path, scale: str, n: int, whole_epoch: bool, timed_steps: int) -> dict:
    """One run; it stops after ``timed_steps + 1`` training steps, or (``whole_epoch``) after the first epoch's last
    step, before validation either way (so peak RSS covers the same work: data, model, training steps)."""
    out = folder / f"probe-{n}.json"
    stop = ["--stop-after", str(10 ** 9 if whole_epoch else timed_steps + 1)]
    result = check(child([sys.executable, "-m", "bench._probe", str(out), *stop, "--", "seqpipe", "run",
                          str(folder / f"scale_{scale}.yaml"), "--no-progress", "--no-cache"], cwd=folder),
                   f"seqpipe run at {scale}")
    record = json.loads(out.read_text())
    ends = record["epochs"][0]
    steps = record["steps_per_epoch"][0] or len(ends)
    timed = ends[: timed_steps + 1]
    per_step = (timed[-1] - timed[0]) / (len(timed) - 1)
    return {"rss_mib": result["rss_mib"], "rss_first_step": record["memory_at_first_step"].get("VmRSS"),
            "first_step_s": record["first_step_wall"] - result["started"], "per_step_s": per_step,
            "steps_per_epoch": steps, "projected_epoch_s": per_step * steps,
            "measured_epoch_s": (ends[-1] - ends[0]) * len(ends) / (len(ends) - 1) if whole_epoch else None}


def run(quick: bool) -> dict:
    repeats = 1 if quick else 2
    folder = Path(tempfile.mkdtemp(prefix="bench-b7-"))
    sizes = write_corpus(folder, quick)
    load_start = load_average()
    results: dict[str, list[dict]] = {"1x": [], "10x": []}
    n = 0
    for r in range(repeats):
        for scale in (("1x", "10x") if r % 2 == 0 else ("10x", "1x")):
            n += 1
            results[scale].append(measure(folder, scale, n, scale == "1x" and not quick, TIMED_STEPS[quick]))
            print(f"B7 {scale}: {results[scale][-1]}", file=sys.stderr, flush=True)
    rows = []
    for scale, runs in results.items():
        def col(k, fmt="{:,.0f}", _runs=runs):
            values = [m[k] for m in _runs if m[k] is not None]
            return spread_fmt(values, fmt) if values else "-"
        size_mb = (folder / f"train_{scale}.tsv").stat().st_size / 2 ** 20
        rows.append([scale, f"{sizes[scale]:,} ({size_mb:.1f} MiB)", col("rss_mib"), col("rss_first_step"),
                     col("first_step_s", "{:.1f}"), col("per_step_s", "{:.3f}"), col("steps_per_epoch"),
                     col("projected_epoch_s", "{:.0f}"), col("measured_epoch_s", "{:.0f}")])
    grow = median([m["rss_mib"] for m in results["10x"]]) - median([m["rss_mib"] for m in results["1x"]])
    extra_pairs = sizes["10x"] - sizes["1x"]
    ratio = median([m["projected_epoch_s"] for m in results["10x"]]) / median([m["projected_epoch_s"]
                                                                              for m in results["1x"]])
    return {"tables": [{
        "title": f"translation smoke model on fixed split files (median (min-max) over {repeats} run(s) per corpus)",
        "columns": ["corpus", "training pairs (file size)", "peak RSS (MiB)", "RSS at first step (MiB)",
                    "time to first step (s)", "s per training step", "steps per epoch", "epoch time, projected (s)",
                    "epoch time, measured (s)"], "rows": rows}],
        "notes": [f"Peak RSS grows by {grow:,.0f} MiB from 1x to 10x ({grow * 2 ** 20 / extra_pairs:,.0f} bytes per "
                  f"extra training pair): the whole corpus is held in memory (pandas table, token ids, tf.data "
                  "tensors); nothing is streamed from disk." if grow > 50 else
                  f"Peak RSS changes by {grow:,.0f} MiB from 1x to 10x: memory does not grow materially with the "
                  "corpus at this size.",
                  f"Projected epoch time grows {ratio:.1f}x for 10x the pairs (same batches per step).",
                  f"Projected epoch time = steps per epoch x the mean step time over steps 2-{TIMED_STEPS[quick] + 1} "
                  "(or the whole epoch, when shorter); every run stops before the first validation, so peak RSS "
                  "covers reading, tokenizers, tokenizing, model building and training steps alike; "
                  "the measured 1x epoch runs from the end of its first step to the end of its last, scaled by "
                  "steps / (steps - 1)." + (" Quick run: a 1,000-pair 1x corpus, no whole epoch." if quick else ""),
                  f"Load average at the start {load_start}, at the end {load_average()}."]}


if __name__ == "__main__":
    main_module(run)
