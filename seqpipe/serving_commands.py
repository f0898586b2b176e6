"""``seqpipe predict`` and ``seqpipe serve``: a trained model's answers, on the command line and over HTTP."""

from __future__ import annotations

import os
import sys

from seqpipe.errors import SeqpipeError


def cmd_serve(args) -> int:
    import subprocess

    from seqpipe.predict import served_model

    model, uri = served_model(args.model, args.tracking_uri)
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model, "--env-manager", "local",
               "-h", args.host, "-p", str(args.port), "-w", str(args.workers)]
    print(f"seqpipe: serving {model} (store {uri}) on http://{args.host}:{args.port}/invocations; Ctrl-C stops it",
          file=sys.stderr)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "MLFLOW_DISABLE_TELEMETRY": os.environ.get("MLFLOW_DISABLE_TELEMETRY", "true")}
    return subprocess.call(command, env=env)


def cmd_predict(args) -> int:
    from seqpipe.predict import predict_table, read_lines, resolve_export

    if args.n_best is not None and args.n_best < 1:
        raise SeqpipeError(f"--n-best: must be at least 1; got {args.n_best}")
    params = {}
    for option in args.param:
        key, sep, value = option.partition("=")
        if not sep or not key.strip():
            raise SeqpipeError(f"--param {option}: expected KEY=VALUE, e.g. --param mode=generate")
        params[key.strip()] = value
    if params and args.n_best is not None:
        raise SeqpipeError("--param and --n-best: give one (the n-best list is of the default request)")
    export = resolve_export(args.model, tracking_uri=args.tracking_uri)
    table = predict_table(export, read_lines(args.input), n_best=args.n_best, params=params)
    if args.format == "conll":
        if "tags" not in table:
            raise SeqpipeError(f"{args.model}: --format conll is for models that tag tokens; this one predicts "
                               f"{', '.join(c for c in table.columns if c != 'text')}")
        for tokens, tags in zip(table["tokens"], table["tags"]):
            sys.stdout.write("".join(f"{w}\t{t}\n" for w, t in zip(tokens.split(), tags.split())) + "\n")
    elif args.format == "json":
        sys.stdout.write(table.to_json(orient="records", lines=True, force_ascii=False))
    else:
        sys.stdout.write(table.to_csv(sep="\t", index=False, float_format="%.6f"))
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("predict", help="predict raw strings (one per line) with an exported model")
    p.add_argument("model", metavar="RUN_OR_EXPORT", help="a SavedModel folder, a run folder, an MLflow run id, or a "
                   "registered model: models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/latest")
    p.add_argument("--input", "-i", help="text file, one example per line (default: stdin)")
    p.add_argument("--format", choices=["tsv", "json", "conll"], default="tsv",
                   help="conll (taggers): one token<TAB>tag per line, a blank line after each sentence")
    p.add_argument("--n-best", type=int, metavar="K", help="models that decode with beam search: the K best outputs "
                   "per input, one row each (input, rank, output, score); K at most the export's n_best")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a request parameter, as the served MLflow model takes it (language models: mode=score or "
                   "mode=generate); repeatable")
    p.add_argument("--tracking-uri", help="for an MLflow run id or a models:/ URI (default: $MLFLOW_TRACKING_URI, "
                   "else sqlite:///mlflow.db in the working directory)")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("serve", help="serve a run's MLflow model over HTTP (mlflow models serve, this Python "
                       "environment); requests and answers: docs/serving.md")
    p.add_argument("model", metavar="RUN_OR_MODEL", help="a run folder, an MLflow run id, or a registered model: "
                   "models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/latest")
    p.add_argument("--port", "-p", type=int, default=5000)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--workers", type=int, default=1, help="server processes (each loads the model)")
    p.add_argument("--tracking-uri", help="default: a run folder's own store, else $MLFLOW_TRACKING_URI, else "
                   "sqlite:///mlflow.db in the working directory")
    p.set_defaults(func=cmd_serve)
