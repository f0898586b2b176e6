"""The benchmark suite: each benchmark runs in its own process and returns tables; one results file for all.

``python -m bench [--quick] [--only B2,B6]`` runs the benchmarks and writes ``bench/results.md`` and
``bench/results.json`` (machine, versions, thread settings, every table). A benchmark is a module
``bench/bN_<name>.py`` with ``ID``, ``TITLE`` and ``run(quick: bool) -> dict`` returning
``{"tables": [{"title", "columns", "rows"}], "notes": [...]}``; figures are min / median / max over
repeats where repeats are possible, and every comparison is a ratio measured in the same run.
Each module also runs alone: ``python -m bench.b2_recurrent --json out.json [--quick]``. B8's long points
(10 min and 45 min budgets) run apart: ``python -m bench.b8_quality --long`` writes
``bench/results/b8_long.json``, which the suite reads; so does B9's five-seed measurement
(``python -m bench.b9_pretrained --full`` writes ``bench/results/b9_pretrained.json``), and the GPU check's
(``python -m bench --gpu``, bench/gpu.py, writes ``bench/results/gpu.json`` and its section of results.md).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MODULES = ["b1_overhead", "b2_recurrent", "b3_peak", "b4_input", "b5_decoding", "b6_tracking", "b7_scale",
           "b8_quality", "b9_pretrained", "b10_transformer_decode"]


def spread(values: list[float], digits: int = 3) -> str:
    """``median (min-max)`` of repeated measurements, or the value itself for one."""
    values = [float(v) for v in values]
    if len(values) == 1:
        return f"{values[0]:.{digits}g}"
    return f"{statistics.median(values):.{digits}g} ({min(values):.{digits}g}-{max(values):.{digits}g})"


def machine() -> dict:
    from bench._machine import cpu_name

    versions = {}
    for name in ("tensorflow", "keras", "keras-hub", "mlflow", "torch", "numpy"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001 -- not installed
            versions[name] = None
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(), "versions": versions,
            "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                                        "TF_NUM_INTEROP_THREADS")},
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def run_one(module: str, quick: bool) -> dict:
    """Run ``bench.<module>`` in a fresh process; its JSON result, or the error."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"seqpipe-bench-{module}-{os.getpid()}.json"
    command = [sys.executable, "-m", f"bench.{module}", "--json", str(out)] + (["--quick"] if quick else [])
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0 or not out.exists():
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"],
                "seconds": seconds}
    result = json.loads(out.read_text())
    out.unlink()
    result["seconds"] = seconds
    return result


def main_module(run) -> None:
    """The ``__main__`` of one benchmark module: ``python -m bench.bN_x --json OUT [--quick]``."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--json", required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    Path(args.json).write_text(json.dumps(run(args.quick), default=str), encoding="utf-8")


def markdown(results: dict, info: dict, quick: bool) -> str:
    lines = ["# seqpipe benchmark results", "",
             f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}; "
             + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v) + f". {info['date']}."
             + (" **Quick run** (`--quick`: fewer repeats and smaller shapes)." if quick else ""), "",
             "These machines are shared and noisy (about +-25% run to run): only ratios measured side by side in "
             "one run count. Figures are median (min-max) over the repeats.", ""]
    for module, result in results.items():
        mod = importlib.import_module(f"bench.{module}")
        lines += [f"## {mod.ID}: {mod.TITLE}", ""]
        if "error" in result:
            lines += [f"Failed after {result['seconds']:.0f} s: {' '.join(result['error'])}", ""]
            continue
        for table in result.get("tables", []):
            if table.get("title"):
                lines += [f"**{table['title']}**", ""]
            lines += ["| " + " | ".join(table["columns"]) + " |", "|" + "---|" * len(table["columns"])]
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in table["rows"]]
            lines.append("")
        lines += [f"- {note}" for note in result.get("notes", [])]
        lines += [f"- ({result['seconds']:.0f} s)", ""]
    gpu = BENCH / "results" / "gpu.json"
    if gpu.exists():  # written by `python -m bench --gpu` on a GPU machine
        from bench.gpu import section

        lines += section(json.loads(gpu.read_text(encoding="utf-8")))
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a subset in about 3 minutes")
    parser.add_argument("--only", help="comma-separated ids, e.g. B2,B6")
    parser.add_argument("--output", default=str(BENCH / "results"), help="writes <output>.md and <output>.json")
    parser.add_argument("--gpu", action="store_true", help="the GPU check alone (bench/gpu.py; < 8 min on one GPU)")
    args = parser.parse_args(argv)
    if args.gpu:
        from bench.gpu import main as gpu_check

        return gpu_check()
    wanted = {w.strip().upper() for w in args.only.split(",")} if args.only else None
    modules = [m for m in MODULES if (BENCH / f"{m}.py").exists()
               and (wanted is None or m.split("_")[0].upper() in wanted)]
    info, results = machine(), {}
    for module in modules:
        print(f"bench: {module} ...", file=sys.stderr, flush=True)
        results[module] = run_one(module, args.quick)
        print(f"bench: {module} done in {results[module]['seconds']:.0f} s", file=sys.stderr, flush=True)
    Path(f"{args.output}.json").write_text(json.dumps({"machine": info, "quick": args.quick, "results": results},
                                                      indent=1, default=str), encoding="utf-8")
    Path(f"{args.output}.md").write_text(markdown(results, info, args.quick), encoding="utf-8")
    print(f"bench: wrote {args.output}.md and {args.output}.json", file=sys.stderr)
    return 0 if all("error" not in r for r in results.values()) else 1
