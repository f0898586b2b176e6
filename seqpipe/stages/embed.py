"""Token embeddings: the model's input layer (the task may add input features)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_serializer, model_validator
from pydantic_core import PydanticCustomError

from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.schema import PathStr, Schema


class EmbedConfig(Schema):
    kind: Literal["learned", "one_hot"] = Field(
        "learned", description="learned: a trainable embedding of dim values per token; one_hot: each token is a "
                               "one-hot vector of the vocabulary size, no weights (char-level models, synthetic "
                               "tasks); padding stays all zeros and masked either way")
    dim: int = Field(128, ge=1, description="embedding width (kind: learned; one_hot's width is the vocabulary size); "
                                            "with pretrained, the vectors' dimension (checked at validation)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the embeddings")
    pretrained: PathStr | None = Field(
        None, description="a word-vectors file in the text format of word2vec, GloVe or fastText (one word and its "
                          "values per line, with or without the 'words dimension' header; gzip recognised by its "
                          "first bytes) for a word-level vocabulary (tokenize.kind word, whitespace or tree): each "
                          "vocabulary word takes the row of the first line with that word, else of the first line "
                          "whose word lowercased is that word; other rows start random as without it. The file is "
                          "streamed and only vocabulary rows are kept. The share of vocabulary words and of training "
                          "tokens found is logged (metrics embed_vocab_coverage, embed_token_coverage). Relative "
                          "paths are taken from the pipeline file's folder. null: learned from scratch")
    trainable: bool = Field(True, description="with pretrained: whether training updates the embedding (false: the "
                                              "pretrained rows and the random ones stay as initialised)")

    @model_serializer(mode="wrap")
    def _pretrained_keys_only_when_used(self, handler) -> dict[str, Any]:
        """Leave ``pretrained: null`` and the ``trainable`` it governs out of dumps (resolved.yaml, ``seqpipe
        render``, MLflow params, stage-cache keys): a rendered pipeline validates again, and pipelines without
        vectors read as they did before the keys existed."""
        data = handler(self)
        if isinstance(data, dict) and data.get("pretrained") is None:
            data.pop("pretrained", None)
            data.pop("trainable", None)
        return data

    @model_validator(mode="wrap")
    @classmethod
    def _keys_that_are_not_read(cls, data: Any, handler):
        config = handler(data)
        errors = []
        if config.kind == "one_hot" and "dim" in config.model_fields_set:
            errors.append(("dim", "not read with kind: one_hot (its width is the vocabulary size); remove it"))
        if config.kind == "one_hot" and config.pretrained is not None:
            errors.append(("pretrained", "not read with kind: one_hot (one-hot vectors have no weights to take "
                                         "from a file); set kind: learned or remove it"))
        if config.pretrained is None and "trainable" in config.model_fields_set:
            errors.append(("trainable", "not read without pretrained (learned embeddings always train); remove it"))
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, [
                {"type": PydanticCustomError("not_read", message), "loc": (key,), "input": None}
                for key, message in errors])
        return config


COVERAGE_ROWS = 200_000  # training rows the token coverage of pretrained vectors is counted on, at most


@register_stage
class EmbedStage(Stage):
    """Embedding of token ids (learned, pretrained or one-hot), padding (id 0) masked; the task may join features."""

    name = "embed"
    order = 20
    requires = ("encoder",)
    optional = ("splits",)  # the training split, to count the tokens pretrained vectors cover
    provides = ("token_ids", "embedded")
    Config = EmbedConfig

    @classmethod
    def rules(cls, config, base_dir):
        """pretrained: a word-level vocabulary, a readable file whose dimension is embed.dim."""
        embed = config.stage("embed")
        if embed is None or embed.pretrained is None:
            return
        from seqpipe.tasks.base import get_task
        from seqpipe.text import WORD_LEVEL
        from seqpipe.text.vectors import VectorsError, dimension

        tokenize = config.stage("tokenize")
        kind = (tokenize.kind if tokenize is not None else None) or get_task(config.task).default_tokenizer
        if kind not in WORD_LEVEL:
            yield (("stages", "embed", "pretrained"),
                   f"word vectors need a word-level vocabulary (tokenize.kind {', '.join(sorted(WORD_LEVEL))}); "
                   f"got tokenize.kind '{kind}'")
        path = vectors_path(embed.pretrained, base_dir)
        if path is None:  # a relative path and no folder to take it from: checked when the run reads it
            return
        try:
            dim = dimension(path)
        except VectorsError as exc:
            yield (("stages", "embed", "pretrained"), f"cannot use the word vectors: {exc}")
            return
        if dim != embed.dim:
            yield (("stages", "embed", "dim"), f"{embed.dim} does not match the {dim}-dimensional vectors in "
                                               f"{embed.pretrained}; set dim: {dim}")

    def cache_inputs(self, base_dir):
        """The vectors file's path, size and modification time: a changed file makes new keys for later stages."""
        path = vectors_path(self.config.pretrained, base_dir) if self.config.pretrained else None
        if path is None:
            return None
        try:
            stat = path.stat()
        except OSError:
            return [str(path), None]
        return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]

    def run(self, ctx):
        import keras

        cfg = self.config
        pretrained, trainable = cfg.pretrained, cfg.trainable  # both read on every run (one_hot refuses them)
        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        size = ctx["encoder"].vocabulary_size
        if cfg.kind == "one_hot":
            from seqpipe.layers.one_hot import OneHot

            x = OneHot(size, mask_zero=ctx.task.mask_padding, name="embedding")(ids)  # the name other code looks up
        else:
            layer = keras.layers.Embedding(size, cfg.dim, mask_zero=ctx.task.mask_padding, trainable=trainable,
                                           name="embedding")
            x = layer(ids)
            if pretrained is not None:
                load_pretrained(ctx, layer, vectors_path(pretrained, ctx.base_dir))
        x = ctx.task.runtime.extend_embedding(ctx, cfg, x)
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, name="embedding_dropout")(x)
        ctx.put("token_ids", ids)
        ctx.put("embedded", x)


def vectors_path(value: str, base_dir: Path | None) -> Path | None:
    """The vectors file ``value`` names: relative paths from ``base_dir`` (None when relative and it is None)."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    return Path(base_dir) / path if base_dir is not None else None


def load_pretrained(ctx, layer, path: Path) -> None:
    """Set the rows of the vocabulary's words found in the vectors file ``path`` (padding and the reserved tokens
    keep their initial values); log and record the coverage."""
    import numpy as np

    from seqpipe.text import RESERVED
    from seqpipe.text.vectors import coverage, read_vectors

    encoder = ctx["encoder"]
    vocabulary = list(encoder.vocabulary)
    vectors = read_vectors(path, [w for w in vocabulary if w not in RESERVED])
    weights = layer.get_weights()[0]
    found = [i for i, word in enumerate(vocabulary) if word in vectors.rows and word not in RESERVED]
    for i in found:
        weights[i] = np.asarray(vectors.rows[vocabulary[i]], dtype=weights.dtype)
    layer.set_weights([weights])
    counts = token_counts(ctx, encoder, len(vocabulary))
    vocab_share, token_share = coverage(vocabulary, vectors.rows, counts, RESERVED)
    ctx.log.info("embed: %s: %d-dimensional vectors, %s lines read; %d of %d vocabulary words found (%.2f%%, %d "
                 "of them by their lowercase form), covering %.2f%% of the training tokens; trainable: %s",
                 path, vectors.dim, f"{vectors.lines:,}", len(found), len(vocabulary) - len(RESERVED),
                 100 * vocab_share, vectors.lowercase_matches, 100 * token_share, str(layer.trainable).lower())
    if vectors.undecodable:
        ctx.log.warning("embed: %s: %d line(s) skipped because their word is not UTF-8 (the first: line %d)",
                        path, vectors.undecodable, vectors.first_undecodable)
    ctx.add_metrics({"embed_vocab_coverage": vocab_share, "embed_token_coverage": token_share,
                     "embed_pretrained_rows": len(found)})


def token_counts(ctx, encoder, size: int) -> list[int]:
    """How many tokens of each id the training split holds (a streamed split: of a seeded sample of its rows)."""
    import numpy as np

    from seqpipe.data.sample import training_sample

    train, _ = training_sample(ctx["splits"]["train"], COVERAGE_ROWS, ctx.config.seed)
    texts = train[ctx.task.roles[0]].astype(str).tolist()
    counts = np.zeros(size, dtype=np.int64)
    for start in range(0, len(texts), 4096):
        ids = encoder.tokenize(texts[start:start + 4096], truncate=False).flat_values.numpy()
        counts += np.bincount(ids, minlength=size)[:size]
    return counts.tolist()
