"""Build the vocabulary on the training split and the in-graph text encoder."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from pydantic import Field

from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.schema import RegistryName, Schema
from seqpipe.text import TOKENIZERS

SAMPLE_LINES = 200_000  # rows a vocabulary is built from at most (tokenize.sample_lines)


class TokenizeConfig(Schema):
    kind: Annotated[str, RegistryName(TOKENIZERS)] | None = Field(
        None, description="tokenizer: char, word, whitespace, wordpiece, sentencepiece, bpe or tree (bracketed trees, "
                          "for encode.tree); default: the task's")
    vocab_size: int = Field(20000, ge=8, description="largest vocabulary, [PAD], [UNK], [START] and [END] included")
    min_frequency: int = Field(1, ge=1, description="char/word: drop tokens seen fewer times in the training split")
    lowercase: bool = Field(True, description="lowercase before splitting")
    max_length: int = Field(64, ge=1, description="keep at most this many tokens per example (for training; a task may "
                                                  "read whole inputs when predicting)")
    sample_lines: int = Field(
        SAMPLE_LINES, ge=1,
        description="build vocabularies (and SentencePiece/BPE/WordPiece models) from a seeded sample of at most this "
                    "many training rows, so a corpus of any size needs the memory of this many rows (a streamed "
                    "split is sampled as it is read, uniformly over all its rows). The default is above the size of "
                    "every data set seqpipe ships (the largest, Brown, has 57,340 sentences), whose vocabularies "
                    "are therefore built from every row, and large enough for the 4k-32k vocabularies NMT uses; the "
                    "sample size and the vocabulary's coverage of it are logged (metrics vocab_sample_rows, "
                    "<vocab>_coverage)")

    def side(self) -> dict:
        """The settings of one encoder: kind, vocab_size, min_frequency, lowercase, max_length."""
        return {name: getattr(self, name)
                for name in ("kind", "vocab_size", "min_frequency", "lowercase", "max_length")}


@register_stage
class TokenizeStage(Stage):
    """Tokenization inside the model graph; vocabulary built from the training split."""

    name = "tokenize"
    order = 10
    requires = ("splits",)
    provides = ("encoder",)
    Config = TokenizeConfig

    cacheable = True

    def run(self, ctx):
        from seqpipe.data.sample import training_sample

        check_texts(ctx, self.config)
        train, total = training_sample(ctx["splits"]["train"], self.config.sample_lines, ctx.config.seed)
        ctx.log.info("vocabulary sample: %s of %s training rows (tokenize.sample_lines %s, seed %d)",
                     f"{len(train):,}", f"{total:,}", f"{self.config.sample_lines:,}", ctx.config.seed)
        ctx.tracker.log_metrics({"vocab_sample_rows": len(train)})
        ctx.task.runtime.build_encoders(ctx, self.config, partial(build_encoder, ctx), train)

    def cache_save(self, ctx, folder):
        import json
        import shutil

        configs = {name: ctx.artifacts[name].get_config() for name in ctx.published}
        (folder / "encoders.json").write_text(json.dumps(configs), encoding="utf-8")
        for vocab in ctx.run_dir.glob("*vocab.txt"):  # the vocabulary files this stage wrote
            shutil.copy2(vocab, folder / vocab.name)

    def cache_load(self, ctx, folder):
        import json
        import shutil

        from seqpipe.text.encoder import TextEncoder

        configs = json.loads((folder / "encoders.json").read_text(encoding="utf-8"))
        encoders = {name: TextEncoder.from_config(config) for name, config in configs.items()}
        for vocab in sorted(folder.glob("*vocab.txt")):
            target = ctx.path(vocab.name)
            shutil.copy2(vocab, target)
            ctx.tracker.log_artifact(target)
            ctx.tracker.log_metrics({f"{vocab.stem}_size": len(target.read_text(encoding="utf-8").splitlines())})
        for name, encoder in encoders.items():
            ctx.put(name, encoder)


def check_texts(ctx, cfg, problem=None, hint: str | None = None) -> None:
    """Check the text of every example of every split: with a kind that checks its inputs
    (``problem(text, lowercase, max_length)``: the tree kind), or with ``problem`` (then ``cfg`` may be None).
    The problems are one DataError line naming the files and rows."""
    if problem is None:
        problem = getattr(TOKENIZERS.get(cfg.kind), "problem", None)
        if problem is None:
            return
        hint = f"tokenize.kind: {cfg.kind} reads one bracketed tree per example, e.g. (+ (* 3 4) 2)"
    from seqpipe.data.checks import RowProblem, column_label, locate, problem_message
    from seqpipe.errors import DataError

    lowercase, max_length = (cfg.lowercase, cfg.max_length) if cfg is not None else (False, 1 << 30)
    column, problems = ctx.task.roles[0], []
    for split, frame in ctx["splits"].items():
        if column not in getattr(frame, "columns", ()):  # a streamed split is checked as it is read
            continue
        for row, text in enumerate(frame[column].astype(str).tolist()):
            why = problem(text, lowercase, max_length)
            if why:
                file, unit, number = locate(frame, split, row)
                problems.append(RowProblem(file, unit, number, f"{column_label(frame, column)}: {why}"))
    if problems:  # rows with different reasons: name them all, with the first one's reason
        first = problems[0]
        kind = f"{first.what.split(': ')[0]} does not hold a usable tree ({first.unit} {first.number}: " \
               f"{first.what.split(': ', 1)[1]})"
        problems = [RowProblem(p.file, p.unit, p.number, p.what, kind=kind) for p in problems]
        raise DataError(problem_message(problems, hint=hint))


def build_encoder(ctx, side: dict, texts: list[str], name: str):
    """A TextEncoder with a vocabulary built from ``texts``; the vocabulary is written to ``<name>.txt``."""
    from seqpipe.text.encoder import TextEncoder

    kind = TOKENIZERS.get(side["kind"])(None, side["lowercase"])
    vocabulary = kind.build_vocabulary(texts, side["vocab_size"], side["min_frequency"])
    encoder = TextEncoder(side["kind"], vocabulary, side["max_length"], side["lowercase"], model=kind.model,
                          name=name.replace("vocab", "encoder") if name != "vocab" else "text_encoder")
    vocab_file = ctx.path(f"{name}.txt")
    vocab_file.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    ctx.tracker.log_artifact(vocab_file)
    coverage = sample_coverage(encoder, texts)
    ctx.tracker.log_metrics({f"{name}_size": len(vocabulary), f"{name}_coverage": coverage})
    ctx.log.info("%s: %d %s tokens, covering %.2f%% of the sample's tokens", name.replace("_", " "), len(vocabulary),
                 side["kind"], 100 * coverage)
    return encoder


def sample_coverage(encoder, texts: list[str]) -> float:
    """The share of the tokens of ``texts`` that the encoder maps to a vocabulary entry (not ``[UNK]``)."""
    import numpy as np

    from seqpipe.text import UNK_ID

    unknown = total = 0
    for start in range(0, len(texts), 4096):
        ids = encoder.tokenize(texts[start:start + 4096], truncate=False).flat_values.numpy()
        unknown, total = unknown + int(np.count_nonzero(ids == UNK_ID)), total + len(ids)
    return 1.0 - unknown / total if total else 1.0
