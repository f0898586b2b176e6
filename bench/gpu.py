"""``python -m bench --gpu``: the GPU check, in under 8 minutes on one GPU.

For each entry of :data:`PIPELINES` (name, pipeline file, ``-o`` overrides; add a line to compare another
pipeline, a Transformer say) it runs ``seqpipe run`` in a fresh process with ``runtime.precision:
mixed_float16``, stops it after :data:`STEPS` training steps (before validation, generation, evaluation
and export: no Java is needed) and records

- training steps/s and target tokens/s between the first and the last of those steps (the first step,
  which traces and compiles, is left out), under :mod:`bench._probe`'s step clock;
- per LSTM / GRU layer of the trained model, whether its traced training step holds a ``CudnnRNN*`` op
  (:mod:`bench.gpu_cudnn`), next to what ``seqpipe validate``'s GPU lint says of the pipeline
  (:func:`seqpipe.config.gpu.gpu_findings`). A layer the lint calls eligible that fell back to the loop
  fails the check (exit 1).

It writes ``bench/results/gpu.json`` and the "GPU" section of ``bench/results.md`` (the suite's writer
includes the same section from that file; the other sections are left as they are).

The GPU machine reaches nothing outside, so the data must already be prepared: the check refuses (exit 2,
one line on stderr, nothing written) when no GPU is visible or a recipe's prepared table is missing from
seqpipe's data cache (``$SEQPIPE_CACHE``, else ``~/.cache/seqpipe``): prepare it where the network is
reachable (``seqpipe run`` or ``seqpipe data`` once) and carry ``<cache>/datasets/`` to the GPU machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import ROOT, quiet_env

BENCH = ROOT / "bench"
RESULTS = BENCH / "results" / "gpu.json"
STEPS = 300  # training steps per pipeline (the flagship's epoch is about 470 steps of 64 verse pairs)
TIMEOUT_S = 210  # per pipeline; two fit with the GPU probe inside 8 minutes
COMMON = ["runtime.precision=mixed_float16", "train.epochs=1"]
PIPELINES: list[tuple[str, str, list[str]]] = [
    ("translate_en_es (BiLSTM encoder, Bahdanau LSTM decoder)", "pipelines/translate_en_es.yaml",
     ["evaluate.metrics=[bleu]"]),
    ("translate_en_es_transformer (3 + 3 Transformer blocks, width 128)", "pipelines/translate_en_es_transformer.yaml",
     ["evaluate.metrics=[bleu]"]),
]


class Refusal(Exception):
    """The check cannot run here; its message is the one line printed."""


def gpus() -> list[str]:
    """Names of the GPUs TensorFlow sees, asked in a child so that TensorFlow's start-up lines stay out."""
    code = ("import json, tensorflow as tf\n"
            "names = []\n"
            "for d in tf.config.list_physical_devices('GPU'):\n"
            "    names.append(tf.config.experimental.get_device_details(d).get('device_name') or d.name)\n"
            "print('GPUS=' + json.dumps(names))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=quiet_env(), cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("GPUS="):
            return json.loads(line[5:])
    raise Refusal(f"could not ask TensorFlow for its GPUs (exit {proc.returncode}): "
                  + ((proc.stderr.strip().splitlines() or ["no output"])[-1]))


def missing_data() -> list[str]:
    """What :data:`PIPELINES` read that is not prepared in seqpipe's data cache, one phrase each."""
    from seqpipe.api import load
    from seqpipe.data.cache import cache_dir

    missing = []
    for _, path, overrides in PIPELINES:
        config, _, _ = load(ROOT / path, [*COMMON, *overrides])
        recipe = config.data.source.recipe
        if recipe and not any((cache_dir() / "datasets").glob(f"{recipe}*.*sv")) \
                and not any((cache_dir() / "datasets").glob(f"{recipe}*.jsonl")):
            missing.append(f"recipe '{recipe}' ({path}) in {cache_dir() / 'datasets'}")
    return missing


def lint(path: str, overrides: list[str]) -> list[str]:
    from seqpipe.api import load
    from seqpipe.config.gpu import gpu_findings

    config, _, _ = load(ROOT / path, [*COMMON, *overrides])
    return [f"{'.'.join(map(str, where))}: {why}" for where, why in gpu_findings(config)]


def rates(record: dict) -> tuple[float, float, int]:
    """(steps/s, tokens/s, steps) from the first to the last recorded training step of the first epoch."""
    ends = (record.get("epochs") or [[]])[0]
    tokens = record.get("tokens") or []
    if len(ends) < 2:
        return float("nan"), float("nan"), len(ends)
    seconds = ends[-1] - ends[0]
    per_token = (tokens[len(ends) - 1] - tokens[0]) / seconds if len(tokens) >= len(ends) else float("nan")
    return (len(ends) - 1) / seconds, per_token, len(ends)


def run_pipeline(name: str, path: str, overrides: list[str], workdir: Path) -> dict:
    cudnn_out, probe_out = workdir / "cudnn.json", workdir / "probe.json"
    command = [sys.executable, "-m", "bench.gpu_probe", str(cudnn_out), "--", str(probe_out),
               "--stop-after", str(STEPS), "--count-tokens", "--", "seqpipe", "run", str(ROOT / path),
               "--no-progress", "--no-cache"]
    for item in [*COMMON, *overrides]:
        command += ["-o", item]
    started = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=quiet_env(),
                              timeout=TIMEOUT_S)
        error = None if probe_out.exists() else ((proc.stderr or proc.stdout).strip().splitlines()[-1:]
                                                 or [f"exit {proc.returncode}"])[0]
    except subprocess.TimeoutExpired:
        error = f"no result within {TIMEOUT_S} s"
    result = {"name": name, "pipeline": path, "overrides": [*COMMON, *overrides], "lint": lint(path, overrides),
              "seconds": time.perf_counter() - started, "error": error}
    if probe_out.exists():
        result["steps_per_s"], result["tokens_per_s"], result["steps"] = rates(json.loads(probe_out.read_text()))
    cudnn = json.loads(cudnn_out.read_text()) if cudnn_out.exists() else {"layers": {}, "error": "not traced"}
    result["cudnn"], result["cudnn_error"] = cudnn["layers"], cudnn.get("error")
    return result


def passed(result: dict) -> bool:
    """Ran, and every LSTM / GRU layer ran cuDNN (the layers the lint flags are cell loops, not these)."""
    return not result["error"] and not result["cudnn_error"] and bool(result["cudnn"]) \
        and all(result["cudnn"].values())


def section(data: dict) -> list[str]:
    """The "GPU" section of results.md from gpu.json's contents."""
    lines = ["## GPU: mixed_float16 training on one GPU, and the cuDNN check", "",
             f"Device: {', '.join(data['devices'])}; {data['date']}; {STEPS} training steps per pipeline "
             "(`python -m bench --gpu`, see bench/gpu.py).", "",
             "| pipeline | steps/s | target tokens/s | steps | every LSTM/GRU layer ran cuDNN | per layer |",
             "|---|---|---|---|---|---|"]
    for r in data["pipelines"]:
        layers = ", ".join(f"{k}: {'cuDNN' if v else 'loop'}" for k, v in r["cudnn"].items()) or "none found"
        lines.append(f"| {r['name']} | {r.get('steps_per_s', float('nan')):.3g} | "
                     f"{r.get('tokens_per_s', float('nan')):,.0f} | {r.get('steps', 0)} | "
                     f"{'yes' if passed(r) else 'NO'} | {layers} |")
    lines.append("")
    for r in data["pipelines"]:
        lines += [f"- {r['name']}: {problem}" for problem in (r["error"], r["cudnn_error"]) if problem]
        lines += [f"- {r['name']}, lint: {finding}" for finding in r["lint"]]
    return lines + [""]


def write_section(markdown: Path, data: dict) -> None:
    """Replace (or append) the GPU section of ``markdown``; the other sections stay as they are."""
    text = markdown.read_text(encoding="utf-8") if markdown.exists() else "# seqpipe benchmark results\n"
    lines, out, skipping = text.splitlines(), [], False
    for line in lines:
        if line.startswith("## "):
            skipping = line.startswith("## GPU:")
        if not skipping:
            out.append(line)
    markdown.write_text("\n".join(out).rstrip() + "\n\n" + "\n".join(section(data)).rstrip() + "\n",
                        encoding="utf-8")


def main(markdown: Path = BENCH / "results.md") -> int:
    try:
        devices = gpus()
        if not devices:
            raise Refusal("no GPU is visible to TensorFlow (check CUDA_VISIBLE_DEVICES and the driver); "
                          "run `python -m bench --gpu` on a machine with one")
        missing = missing_data()
        if missing:
            raise Refusal("data not prepared (the GPU machine cannot download): " + "; ".join(missing)
                          + ". Run the pipeline once where the network is reachable and carry the cache's "
                            "datasets/ folder")
    except Refusal as refusal:
        print(f"bench --gpu: {refusal}", file=sys.stderr)
        return 2
    from datetime import datetime, timezone

    results = []
    for name, path, overrides in PIPELINES:
        print(f"bench --gpu: {name} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="seqpipe-gpu-") as tmp:
            results.append(run_pipeline(name, path, overrides, Path(tmp)))
    data = {"devices": devices, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "steps": STEPS, "pipelines": results}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    write_section(markdown, data)
    print(f"bench --gpu: wrote {RESULTS} and the GPU section of {markdown}", file=sys.stderr)
    return 0 if all(passed(r) for r in results) else 1
