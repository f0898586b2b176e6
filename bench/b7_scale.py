"""B7: scale: streamed training input at 1x, 10x and 100x the translation corpus, against in-memory at 1x and 10x.

The bible-en-es pairs (the cached ``bible-en-es.tsv``, shuffled with seed 13) give 200 validation and 200 test
pairs, written as small plain parallel files (``valid.en`` / ``valid.es``, ``test.en`` / ``test.es``), and the
rest is the 1x training corpus (30,684 pairs), written as line-aligned parallel gzipped
shards (gzip level 1): ``train-0000K.en.gz`` / ``train-0000K.es.gz``, K = 0-3, a quarter of the pairs each, so
that even 1x interleaves as many shards as the stream reads at once. 10x and 100x are the 1x pairs repeated:
copies of the four shards on disk (``train-CCC-0000K``, 40 and 400 shards; about 280 MB of gzip at 100x, about
3.1 million pairs), read like any corpus (the page cache may hold them; it is not part of a process's RSS).

Each run takes the translation smoke pipeline's model and settings (``pipelines/smoke/translate_en_es.yaml``
via ``extends``, tracking off) with ``data.streaming: true`` (streamed 1x, 10x, 100x) or ``false`` (in memory
1x, 10x: the same files read into pandas), through ``seqpipe run`` in a fresh process under ``bench._probe``
(``--count-tokens``), stopped after a fixed number of training steps, before any validation:

- peak RSS of the process (``wait4``), and its resident set at the end of the first training step (``/proc``);
- time to the first training step: wall time from process start to the end of the first training step;
- the vocabulary sample pass and the whole tokenize stage (sample + SentencePiece training), from the run's
  ``run.log`` time stamps (``stage tokenize`` -> ``vocabulary sample: ...`` -> the next ``stage``), and the
  time to the first step without the tokenize stage;
- training throughput: non-padding target tokens (the non-zero ids of the batches' ``target_out``, counted in
  ``train_step`` by the probe) per second over the steps after the first (steps 2 to N+1).

Runs rotate through the five configurations, a different starting point each round. ``--quick`` scales the
corpus and the vocabulary sample down by ten (a 3,000-pair 1x corpus, ``tokenize.sample_lines`` 20,000 instead
of 200,000, so 10x and 100x still build their vocabularies from a sample), times 30 steps instead of 150, and
runs each configuration once.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from bench._common import check, child, load_average, median, ratios, rotate, spread_fmt
from bench.suite import ROOT, main_module

ID, TITLE = "B7", "scale: streamed training input at 1x, 10x and 100x the translation corpus, in memory at 1x and 10x"
HELD_OUT = 200
SHARDS = 4  # shards of the 1x corpus (the stream interleaves 4 at once: seqpipe.data.stream.SHARD_CYCLE)
SCALES = {"1x": 1, "10x": 10, "100x": 100}
RUNS = [("streamed", "1x"), ("streamed", "10x"), ("streamed", "100x"), ("in memory", "1x"), ("in memory", "10x")]
TIMED_STEPS = {True: 30, False: 150}  # steps timed per run (after the first), quick / full
QUICK_PAIRS = 3000  # the 1x corpus in --quick (47 batches of 64: more than the timed steps, in one epoch)
QUICK_SAMPLE = 20_000  # tokenize.sample_lines in --quick (the default, 200,000, scaled as the corpus is)
RSS_TARGET, SPEED_TARGET, FLAT_TOLERANCE = 1.5, 0.9, 0.15
SHUFFLE_BUFFER = 50_000  # data.shuffle_buffer's default: rows the stream reads before its first row


def write_corpus(folder: Path, quick: bool) -> int:
    """The shards, the held-out files and one pipeline file per run; the number of 1x training pairs."""
    import pandas as pd

    frame = pd.read_csv(Path.home() / ".cache" / "seqpipe" / "datasets" / "bible-en-es.tsv", sep="\t", quoting=3,
                        keep_default_na=False, dtype=str)
    frame = frame.sample(frac=1.0, random_state=13).reset_index(drop=True)
    valid, test, train = frame[:HELD_OUT], frame[HELD_OUT:2 * HELD_OUT], frame[2 * HELD_OUT:]
    if quick:
        train = train[:QUICK_PAIRS]
    for name, part in (("valid", valid), ("test", test)):
        for role, suffix in (("source", "en"), ("target", "es")):
            (folder / f"{name}.{suffix}").write_text("".join(f"{v}\n" for v in part[role]), encoding="utf-8")
    per = -(-len(train) // SHARDS)
    for k in range(SHARDS):
        part = train[k * per:(k + 1) * per]
        for role, suffix in (("source", "en"), ("target", "es")):
            with gzip.open(folder / f"train-{k:05d}.{suffix}.gz", "wt", encoding="utf-8", compresslevel=1) as out:
                out.writelines(f"{v}\n" for v in part[role])
    for copy in range(1, max(SCALES.values())):  # the 10x and 100x corpora: copies of the 1x shards, on disk
        for k in range(SHARDS):
            for suffix in ("en", "es"):
                shutil.copyfile(folder / f"train-{k:05d}.{suffix}.gz", folder / f"train-{copy:03d}-{k:05d}.{suffix}.gz")
    for mode, scale in RUNS:
        shards = [f"train-{k:05d}" if copy == 0 else f"train-{copy:03d}-{k:05d}"
                  for copy in range(SCALES[scale]) for k in range(SHARDS)]
        lists = {suffix: "[" + ", ".join(f"{s}.{suffix}.gz" for s in shards) + "]" for suffix in ("en", "es")}
        (folder / f"{slug(mode, scale)}.yaml").write_text(
            f"name: bench-scale-{slug(mode, scale)}\n"
            f"extends: [{ROOT / 'pipelines' / 'smoke' / 'translate_en_es.yaml'}]\n"
            "tracking: {backend: none}\n"
            "data:\n"
            f"  streaming: {'true' if mode == 'streamed' else 'false'}\n"
            "  source:\n    recipe: null\n    limit: null\n"
            f"    train: {{source: {lists['en']}, target: {lists['es']}}}\n"
            "    valid: {source: valid.en, target: valid.es}\n"
            "    test: {source: test.en, target: test.es}\n", encoding="utf-8")
    return len(train)


def slug(mode: str, scale: str) -> str:
    return f"{mode.replace(' ', '-')}-{scale}"


def log_times(run_dir: Path) -> dict[str, float]:
    """Seconds of the vocabulary sample pass and of the tokenize stage, from ``run.log``'s time stamps."""
    stamps = []
    for line in (run_dir / "run.log").read_text(encoding="utf-8").splitlines():
        found = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ (.*)", line)
        if found:
            stamps.append((datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S,%f").timestamp(), found[2]))
    start = next(t for t, m in stamps if m == "stage tokenize")
    sampled = next(t for t, m in stamps if t >= start and m.startswith("vocabulary sample:"))
    done = next(t for t, m in stamps if t >= sampled and m.startswith("stage ") and m != "stage tokenize")
    return {"sample_s": sampled - start, "tokenize_s": done - start}


def measure(folder: Path, mode: str, scale: str, n: int, quick: bool) -> dict:
    """One run, stopped after the timed steps and one more (before any validation)."""
    timed_steps = TIMED_STEPS[quick]
    sample = ["-o", f"tokenize.sample_lines={QUICK_SAMPLE}"] if quick else []
    out, runs = folder / f"probe-{n}.json", folder / f"runs-{n}"
    result = check(child([sys.executable, "-m", "bench._probe", str(out), "--stop-after", str(timed_steps + 1),
                          "--count-tokens", "--", "seqpipe", "run", str(folder / f"{slug(mode, scale)}.yaml"),
                          "--no-progress", "--no-cache", "-o", f"output_dir={runs}", *sample], cwd=folder),
                   f"seqpipe run, {mode} {scale}")
    record = json.loads(out.read_text())
    ends = record["epochs"][0][: timed_steps + 1]
    tokens = record["tokens"][: len(ends)]
    if len(ends) < timed_steps + 1:
        raise RuntimeError(f"{mode} {scale}: {len(ends)} training steps in the first epoch; expected "
                           f"{timed_steps + 1}")
    (run_dir,) = [p for p in runs.iterdir() if (p / "run.log").exists()]
    times = log_times(run_dir)
    first = record["first_step_wall"] - result["started"]
    return {"rss_mib": result["rss_mib"], "rss_first_step": record["memory_at_first_step"].get("VmRSS"),
            "first_step_s": first, **times, "rest_s": first - times["tokenize_s"],
            "tokens_per_s": (tokens[-1] - tokens[0]) / (ends[-1] - ends[0]),
            "per_step_s": (ends[-1] - ends[0]) / (len(ends) - 1),
            "tokens_per_step": (tokens[-1] - tokens[0]) / (len(ends) - 1)}


def run(quick: bool) -> dict:
    repeats = 1 if quick else 2
    folder = Path(tempfile.mkdtemp(prefix="bench-b7-"))
    pairs = write_corpus(folder, quick)
    shard_mib = sum(p.stat().st_size for p in folder.glob("train-0????.*.gz")) / 2 ** 20  # the 1x shards
    load_start = load_average()
    results: dict[tuple[str, str], list[dict]] = {key: [] for key in RUNS}
    n = 0
    for r in range(repeats):
        for key in rotate(RUNS, 2 * r):
            n += 1
            results[key].append(measure(folder, *key, n, quick))
            print(f"B7 {key}: {results[key][-1]}", file=sys.stderr, flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    rows = []
    for (mode, scale), runs in results.items():
        def col(k, fmt="{:,.0f}", _runs=runs):
            return spread_fmt([m[k] for m in _runs], fmt)
        rows.append([mode, scale, f"{pairs * SCALES[scale]:,} ({SHARDS * SCALES[scale]} shards, "
                     f"{shard_mib * SCALES[scale]:,.1f} MiB gz)", col("rss_mib"), col("rss_first_step"),
                     col("first_step_s", "{:.1f}"), col("sample_s", "{:.1f}"), col("tokenize_s", "{:.1f}"),
                     col("rest_s", "{:.1f}"), col("tokens_per_s"), col("per_step_s", "{:.3f}")])

    def series(mode, scale, k):
        return [m[k] for m in results[(mode, scale)]]

    def med(mode, scale, k):
        return median(series(mode, scale, k))

    rss = median(ratios(series("streamed", "100x", "rss_mib"), series("streamed", "1x", "rss_mib")))
    speed = median(ratios(series("streamed", "1x", "tokens_per_s"), series("in memory", "1x", "tokens_per_s")))
    speed10 = median(ratios(series("streamed", "10x", "tokens_per_s"), series("in memory", "10x", "tokens_per_s")))
    rest = {scale: med("streamed", scale, "rest_s") for scale in SCALES}
    sample = {scale: med("streamed", scale, "sample_s") for scale in SCALES}
    tokenize = {scale: med("streamed", scale, "tokenize_s") for scale in SCALES}
    flat = rest["100x"] <= rest["10x"] * (1 + FLAT_TOLERANCE) + 1.0
    grow = med("in memory", "10x", "rss_mib") - med("in memory", "1x", "rss_mib")
    sample_lines = QUICK_SAMPLE if quick else 200_000
    unfilled = [scale for scale, k in SCALES.items() if pairs * k < SHUFFLE_BUFFER]
    unfilled = f"here {' and '.join(unfilled)} {'does' if len(unfilled) == 1 else 'do'} not" if unfilled else \
        "every corpus here does"

    def verdict(ok):
        return "**met**" if ok else "**not met**"

    notes = [
        f"Target: streamed peak RSS at 100x at most {RSS_TARGET}x of 1x. Measured {rss:.2f}x "
        f"({med('streamed', '100x', 'rss_mib'):,.0f} / {med('streamed', '1x', 'rss_mib'):,.0f} MiB): "
        f"{verdict(rss <= RSS_TARGET)}. RSS at the first step: {med('streamed', '100x', 'rss_first_step'):,.0f} / "
        f"{med('streamed', '1x', 'rss_first_step'):,.0f} MiB (what the peak holds beyond "
        f"that comes before training: the vocabulary sample of up to {sample_lines:,} rows and the vocabularies "
        f"built from it). In memory, peak RSS grows by {grow:,.0f} MiB from 1x to 10x.",
        "Target: time to the first training batch not growing with the corpus beyond the vocabulary sample. "
        f"Without the tokenize stage (the sample pass and the vocabularies built from the sample) the first step "
        f"comes after {rest['1x']:.1f} s at 1x, {rest['10x']:.1f} s at 10x and {rest['100x']:.1f} s at 100x: "
        f"{rest['100x'] / rest['10x']:.2f}x from 10x to 100x (counted as flat within {FLAT_TOLERANCE:.0%} + 1 s): "
        f"{verdict(flat)}; {rest['100x'] / rest['1x']:.2f}x from 1x to 100x. Before its first batch the stream "
        f"fills its shuffle buffer (data.shuffle_buffer, {SHUFFLE_BUFFER:,} rows): a cost that grows with the corpus "
        f"only until the corpus fills the buffer ({unfilled}). What does grow: the sample pass reads every training "
        f"row (reservoir sampling): {sample['1x']:.1f} s at 1x, {sample['10x']:.1f} s at 10x, {sample['100x']:.1f} s "
        f"at 100x; the whole tokenize stage {tokenize['1x']:.1f} / {tokenize['10x']:.1f} / {tokenize['100x']:.1f} s "
        f"(SentencePiece trains on all 1x rows, on {sample_lines:,} at 10x and 100x).",
        f"Target: streamed training tokens/s at least {SPEED_TARGET}x of in memory at 1x. Measured {speed:.2f}x: "
        f"{verdict(speed >= SPEED_TARGET)} ({speed10:.2f}x at 10x). The stream reads, checks, shuffles and tokenizes "
        "in the tf.data graph while the model trains, on the same cores; in memory the ids are made before training.",
        f"Tokens/s = non-padding target tokens (non-zero ids of each batch's target_out, counted inside train_step "
        f"by bench._probe --count-tokens) over steps 2-{TIMED_STEPS[quick] + 1}, from the end of step 1 to the end "
        f"of step {TIMED_STEPS[quick] + 1}; time to first step = process start to the end of the first training "
        "step (imports, reading, vocabularies, model building, the stream's shuffle buffer, tracing); sample pass "
        "and tokenize stage from run.log's time stamps (millisecond resolution). Every run stops before the first "
        "validation, so peak RSS covers the same work in each.",
        f"10x and 100x are copies of the {SHARDS} shards of 1x on disk, 40 and 400 shards (about {pairs // SHARDS:,} "
        f"pairs and {shard_mib / SHARDS:.2f} MiB per gzipped shard, level 1).",
        f"Load average at the start {load_start}, at the end {load_average()}."]
    if quick:
        notes.append(f"Quick run: a {pairs:,}-pair 1x corpus, tokenize.sample_lines {QUICK_SAMPLE:,}, "
                     f"{TIMED_STEPS[quick]} timed steps, one run per row: exercises every row, decides no target.")
    return {"tables": [{
        "title": f"translation smoke model on parallel gzipped shards (median (min-max) over {repeats} run(s) per row)",
        "columns": ["input", "corpus", "training pairs (files)", "peak RSS (MiB)", "RSS at first step (MiB)",
                    "time to first step (s)", "vocabulary sample pass (s)", "tokenize stage (s)",
                    "first step without tokenize (s)", "target tokens/s", "s per training step"],
        "rows": rows}], "notes": notes}


if __name__ == "__main__":
    main_module(run)
