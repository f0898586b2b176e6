"""``seqpipe generate`` and ``seqpipe score``: the language model's own commands (registered by its task)."""

from __future__ import annotations

import sys

from seqpipe.errors import SeqpipeError
from seqpipe.tasks.language_model import NAME


def load_language_model(target: str, tracking_uri: str | None = None):
    """The LanguageModel of a run (its folder, export folder or MLflow run id), rebuilt in-process."""
    import json

    from seqpipe.predict import resolve_export

    export = resolve_export(target, tracking_uri=tracking_uri).parent  # .../export, or a registered model's artifacts/
    meta_file = export / "saved_model" / "seqpipe.json"
    if not meta_file.exists() or json.loads(meta_file.read_text()).get("task") != NAME:
        raise SeqpipeError(f"{target}: not a language model export (no task '{NAME}' in {meta_file})")
    if not (export / "model.keras").exists() or not (export / "text_encoder.json").exists():
        raise SeqpipeError(f"{target}: generate needs export/model.keras and export/text_encoder.json "
                           "(export with stages.export.keras: true)")
    from seqpipe._quiet import import_tensorflow

    import_tensorflow()
    from seqpipe.saving import load_model
    from seqpipe.tasks.language_model.transformer_lm import language_model
    from seqpipe.text.encoder import TextEncoder

    model = load_model(export / "model.keras")
    encoder = TextEncoder.from_config(json.loads((export / "text_encoder.json").read_text()))
    return language_model(model, encoder)


def cmd_generate(args) -> int:
    from seqpipe.decoding import SamplingConfig

    lm = load_language_model(args.model, tracking_uri=args.tracking_uri)
    if args.greedy:
        decoding = {"strategy": "greedy"}
    else:
        try:
            decoding = SamplingConfig(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                                      seed=args.seed).model_dump()
        except ValueError as exc:
            err = exc.errors()[0]
            message = err["msg"].replace("Input should be", "must be")
            raise SeqpipeError(f"generate: --{str(err['loc'][0]).replace('_', '-')}: {message}; "
                               f"got {err['input']}") from None
    fn = lm.function("generate", decoding=decoding, max_length=args.max_length)
    import tensorflow as tf

    for text in fn(tf.constant([args.prompt]))["text"].numpy():
        print(text.decode("utf-8", "replace"))
    return 0


def cmd_score(args) -> int:
    from seqpipe._quiet import import_tensorflow
    from seqpipe.predict import predict_table, read_lines, resolve_export

    import_tensorflow()
    export = resolve_export(args.model, tracking_uri=args.tracking_uri)
    table = predict_table(export, read_lines(args.input), params={"mode": "score"}, task=NAME)
    sys.stdout.write(table.to_csv(sep="\t", index=False, float_format="%.6f"))
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("generate", help="continue a prompt with a trained language model")
    p.add_argument("model", metavar="RUN_OR_MODEL", help="a run folder, its export folder, an MLflow run id, or a "
                   "registered model: models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/latest")
    p.add_argument("--prompt", default="", help="text to continue (default: start a new text)")
    p.add_argument("--max-length", type=int, default=300, help="tokens to generate")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most probable tokens (0: off)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling threshold (1: off)")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives the same text")
    p.add_argument("--greedy", action="store_true", help="the most probable token at every step instead of sampling")
    p.add_argument("--tracking-uri", help="for an MLflow run id or a models:/ URI")
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("score", help="log-probabilities of sentences under a trained language model (TSV)")
    p.add_argument("model", metavar="RUN_OR_MODEL", help="a SavedModel folder, a run folder, an MLflow run id, or a "
                   "registered model: models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/latest")
    p.add_argument("--input", "-i", help="text file, one sentence per line (default: stdin)")
    p.add_argument("--tracking-uri", help="for an MLflow run id or a models:/ URI")
    p.set_defaults(func=cmd_score)
