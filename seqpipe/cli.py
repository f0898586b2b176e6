"""The ``seqpipe`` command line: a thin layer over :mod:`seqpipe.api`.

TensorFlow is imported only by commands that need it (run, predict).
Exit codes: 0 ok, 2 bad input (config, data, usage; also a damaged checkpoint, a full disk), 3 a bug in
seqpipe, 4 finished with warnings (tracking could not record something; every result is in the run folder),
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from pathlib import Path

from seqpipe.errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_WARNINGS, SeqpipeError


def _load(args):
    from seqpipe.api import load

    return load(args.pipeline, args.override)


def cmd_validate(args) -> int:
    config, layered, _ = _load(args)
    from seqpipe.config.gpu import gpu_findings
    from seqpipe.config.report import shown_path
    from seqpipe.config.unread import unread_keys

    for path, why in unread_keys(config) + gpu_findings(config):
        print(f"{layered.where(path)}: {shown_path(config, path)}: warning: {why}", file=sys.stderr)
    print(f"{args.pipeline}: ok ({config.task}; stages: {' -> '.join(config.stage_names())})")
    return 0


def cmd_render(args) -> int:
    import yaml

    from seqpipe.config.report import resolved_dict

    config, _, _ = _load(args)
    sys.stdout.write(yaml.safe_dump(resolved_dict(config), sort_keys=False, allow_unicode=True))
    return 0


def cmd_run(args) -> int:
    from seqpipe.api import run

    real_stdout = sys.stdout
    redirect = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with redirect:
        result = run(args.pipeline, args.override, progress=not args.no_progress and not args.json,
                     resume=args.resume, parent_run=args.parent_run, cache=not args.no_cache)
    summary = ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items())
    done = "pruned by the sweep (no evaluation, no export)" if result.status == "PRUNED" else "finished"
    print(f"seqpipe: {done} {result.run_dir}" + (f" ({summary})" if summary else ""), file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json()), file=real_stdout)
    if result.warnings:
        print(f"seqpipe: finished with warnings: tracking could not record {len(result.warnings)} item(s) "
              f"(see run.log and the MLflow tag seqpipe.tracking_warnings)", file=sys.stderr)
        return EXIT_WARNINGS
    return 0


def cmd_list(args) -> int:
    import seqpipe.stages  # noqa: F401
    from seqpipe.cells import CELLS
    from seqpipe.data.recipes import DATASETS
    from seqpipe.decoding import STRATEGIES
    from seqpipe.layers import ATTENTIONS
    from seqpipe.metrics import METRICS
    from seqpipe.pipeline.stage import STAGES
    from seqpipe.tasks import TASKS
    from seqpipe.text import TOKENIZERS
    from seqpipe.tracking import TRACKERS

    def plural(kind: str) -> str:
        return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"

    registries = {plural(r.kind).split()[-1]: r for r in (TASKS, STAGES, CELLS, ATTENTIONS, TOKENIZERS, STRATEGIES,
                                                         DATASETS, METRICS, TRACKERS)}
    wanted = args.kind and (args.kind if args.kind in registries else plural(args.kind).split()[-1])
    if wanted and wanted not in registries:
        from seqpipe.registry import did_you_mean
        kinds = list(registries)
        raise SeqpipeError(f"list: unknown kind '{args.kind}'; expected one of {', '.join(kinds)}"
                           f"{did_you_mean(args.kind, kinds)}")
    for key, registry in registries.items():
        if wanted and key != wanted:
            continue
        print(f"{plural(registry.kind)}:")
        for name in registry.names():
            print(f"  {name:<20} {registry.describe(name)}")
    return 0


def cmd_schema(args) -> int:
    from seqpipe.config.docs import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_docs(args) -> int:
    from seqpipe.config.docs import config_reference

    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(config_reference(), encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_ui(args) -> int:
    import subprocess

    from seqpipe.tracking.mlflow_tracker import ensure_store, resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri)
    ensure_store(uri)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
               "--host", args.host, "--port", str(args.port), "--workers", "1"]
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"seqpipe: warning: the UI listens on {args.host}: anyone who can reach this machine can read and delete "
              "runs (MLflow's UI has no login)", file=sys.stderr)
    print(f"seqpipe: MLflow UI on http://{args.host}:{args.port} (store {uri}); Ctrl-C stops it", file=sys.stderr)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": os.environ.get("MLFLOW_DISABLE_TELEMETRY", "true")}
    return subprocess.call(command, env=env)


def cmd_sweep(args) -> int:
    from seqpipe.sweep import grid_options, run_sweep

    result = run_sweep(args.pipeline, args.override, grid=grid_options(args.grid), parallel=args.parallel,
                       metric=args.metric, dry_run=args.dry_run, resume=args.resume,
                       print_line=lambda line: print(line, file=sys.stderr))
    if args.dry_run:
        return 0
    from seqpipe.compare import render

    sys.stdout.write(render(result.table.drop(columns=["run_dir"]), "table"))
    if result.best:
        print(f"seqpipe: best trial {result.best['trial']} ({result.best['value']:.4f}); summary in {result.folder}",
              file=sys.stderr)
    failed = (result.table["status"] == "FAILED").sum()
    if failed == len(result.table):
        raise SeqpipeError(f"sweep: every trial failed; their logs are in {result.folder}")
    return 0


def cmd_compare(args) -> int:
    from seqpipe.compare import compare_runs, render
    from seqpipe.compare_plots import plot_curves
    from seqpipe.compare_store import select_runs

    runs = select_runs(args.run_ids, experiment=args.experiment, parent=args.parent, tracking_uri=args.tracking_uri)
    paired = "bs" if args.paired_bs else "ar" if args.paired_ar else None
    if args.baseline and not paired:
        raise SeqpipeError("compare: --baseline names the run the paired tests compare with; add --paired-bs")
    table = compare_runs(runs=runs, metric=args.metric, all_params=args.all_params, limit=args.limit,
                         tracking_uri=args.tracking_uri, paired=paired, baseline=args.baseline)
    if paired:
        from seqpipe.compare_significance import describe

        print(describe(table.attrs["significance"]), file=sys.stderr)
    else:
        from seqpipe.compare_significance import different_sets_note, split_of

        note = different_sets_note(runs, split_of(table.attrs["metric"]))
        if note:
            print(note, file=sys.stderr)
    sys.stdout.write(render(table, args.format))
    if args.plot:
        plot_curves(args.plot, runs=runs, metric=args.metric, limit=args.limit, tracking_uri=args.tracking_uri)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from seqpipe._version import __version__

    parser = argparse.ArgumentParser(prog="seqpipe",
                                     description="Declarative YAML pipelines for recurrent sequence models.")
    parser.add_argument("--version", action="version", version=f"seqpipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def pipeline_command(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("pipeline", help="pipeline YAML file")
        p.add_argument("-o", "--override", action="append", default=[], metavar="KEY.PATH=VALUE",
                       help="override a config value, e.g. -o train.epochs=2 (repeatable; the value is read as YAML)")
        p.set_defaults(func=func)
        return p

    p = pipeline_command("run", cmd_run, "run a pipeline end to end")
    p.add_argument("--json", action="store_true",
                   help="print a JSON summary as the last stdout line (progress goes to stderr)")
    p.add_argument("--no-progress", action="store_true", help="one line per epoch instead of a progress bar")
    p.add_argument("--resume", metavar="RUN_FOLDER_OR_ID",
                   help="continue a run that was interrupted or killed: same folder, same MLflow run, training from "
                        "its last checkpoint")
    p.add_argument("--no-cache", action="store_true", help="compute every stage, even where an earlier run computed "
                   "the same thing from the same inputs (the stage cache)")
    p.add_argument("--parent-run", metavar="RUN_ID", help="nest this run's MLflow run under that run (seqpipe sweep "
                                                          "does this for its trials)")
    pipeline_command("validate", cmd_validate, "check a pipeline without running it (no TensorFlow import)")
    pipeline_command("render", cmd_render, "print the pipeline with every default filled in")

    p = sub.add_parser("list", help="list registered components (stages, cells, attentions, tokenizers, "
                                    "decoding strategies, datasets, metrics, trackers)")
    p.add_argument("kind", nargs="?", help="only this kind, e.g. cells")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("schema", help="write the JSON Schema of pipeline files (for editor completion)")
    p.add_argument("--output", "-O", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser("docs", help="write the config reference generated from the schema")
    p.add_argument("--output", "-O", default="docs/config.md")
    p.set_defaults(func=cmd_docs)
    p = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1 over the same store")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--tracking-uri",
                   help="default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory")
    p.set_defaults(func=cmd_ui)
    p = pipeline_command("sweep", cmd_sweep, "run a family of runs of a pipeline (its sweep: section, or --grid): one "
                         "MLflow parent run with a nested child run per trial")
    p.add_argument("--grid", action="append", default=[], metavar="KEY.PATH=V1,V2",
                   help="values to try for a key (repeatable; with the sweep: section's params, a grid of all of them)")
    p.add_argument("--parallel", type=int, metavar="N", help="trials at a time (default: sweep.parallel, else 1)")
    p.add_argument("--metric", metavar="M", help="the metric that ranks the trials (default: sweep.metric, else "
                   "train.monitor)")
    p.add_argument("--dry-run", action="store_true", help="validate every trial and list them; run nothing")
    p.add_argument("--resume", action="store_true", help="continue the last unfinished sweep of this pipeline: the "
                   "same folder and parent run, finished trials kept, until the budget is spent")
    p = sub.add_parser("compare", help="compare runs from the tracking store: differing params, final metrics, curves",
                       description="Compare runs side by side from the MLflow tracking store alone (no run folders "
                                   "needed): one row per run with its status, duration, the params that differ "
                                   "between the runs and the final test/valid metrics, best first.")
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to compare (a unique prefix such as the "
                   "8-character short id is enough)")
    p.add_argument("--experiment", metavar="NAME", help="every run of this experiment (deleted runs excluded)")
    p.add_argument("--parent", metavar="RUN_ID", help="the nested child runs of this run (tag mlflow.parentRunId)")
    p.add_argument("--metric", metavar="M", help="sort by this metric's final value, best first (ascending for "
                   "loss, perplexity, ter, bits, mse...; else descending); default: the first of test_bleu, "
                   "test_accuracy, test_token_accuracy, ..., valid_loss, test_loss the runs have")
    p.add_argument("--format", choices=["table", "csv", "markdown", "json"], default="table",
                   help="table (aligned text, default), csv, markdown or json (records); csv and json add the "
                        "full run_id")
    p.add_argument("--plot", metavar="FILE.png", help="also write the per-epoch curves: one panel per metric, "
                   "one line per run")
    p.add_argument("--tracking-uri",
                   help="default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory")
    p.add_argument("--all-params", action="store_true", help="show every param, not only those that differ")
    p.add_argument("--limit", type=int, metavar="N", help="only the best N runs")
    paired = p.add_mutually_exclusive_group()
    paired.add_argument("--paired-bs", action="store_true", help="paired bootstrap resampling (sacrebleu's, 1000 "
                        "samples) of the runs' logged predictions: <metric>_mean, <metric>_ci (95%% interval) and "
                        "<metric>_p (p-value against the baseline) for BLEU, chrF, TER, accuracy, F1, token accuracy, "
                        "mse, mae, perplexity; runs scored on different test sets are refused")
    paired.add_argument("--paired-ar", action="store_true", help="paired approximate randomization (sacrebleu's, "
                        "10000 trials) instead: <metric>_p only")
    p.add_argument("--baseline", metavar="RUN_ID", help="the run the paired tests compare with (default: the first "
                   "row, the best by --metric)")
    p.set_defaults(func=cmd_compare)
    from seqpipe.serving_commands import add_commands

    add_commands(sub)
    import importlib

    from seqpipe.tasks import TASKS

    for name in TASKS.names():  # tasks add their own commands (seqpipe generate / score for language models)
        if TASKS.get(name).commands:
            importlib.import_module(TASKS.get(name).commands).add_commands(sub)
    return parser


def _crash_log(exc: BaseException) -> Path:
    run_dir = getattr(exc, "run_dir", None)
    if run_dir:
        return Path(run_dir) / "run.log"
    from seqpipe.data.cache import cache_dir

    path = cache_dir() / "logs" / "last-error.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SeqpipeError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        if getattr(exc, "run_dir", None):
            print(f"seqpipe: run folder {exc.run_dir} (log: run.log)", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        run_dir = getattr(exc, "run_dir", None)
        where = (f"; run folder {run_dir}, continue with: seqpipe run {args.pipeline} --resume {run_dir}"
                 if run_dir else "")
        print(f"seqpipe: interrupted ({exc or 'SIGINT'}){where}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line here, the traceback in the log
        from seqpipe.errors import full_disk_error

        full = full_disk_error(exc)  # a full disk outside a run's stages (the runner maps those itself)
        if full is not None:
            print(full, file=sys.stderr)
            return full.exit_code
        log = _crash_log(exc)
        from seqpipe.tracking.guard import one_line

        print(f"seqpipe: internal error: {one_line(exc)} (traceback in {log})", file=sys.stderr)
        return EXIT_BUG
