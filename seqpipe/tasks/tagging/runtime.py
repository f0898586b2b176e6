"""Sequence labelling with TensorFlow: character features, the head, training, the evaluation table, export."""

from __future__ import annotations

import keras
import tensorflow as tf

from seqpipe.tasks.base import TaskRuntime
from seqpipe.tasks.tagging.batches import model_inputs, tag_ids, tagging_dataset, truncate


def crf_layer(model):
    """The model's CRF output layer, or None for a softmax tagger."""
    from seqpipe.layers.crf import CRF

    return next((layer for layer in model.layers if isinstance(layer, CRF)), None)


class Tagger:
    """Raw whitespace-tokenised sentences -> one tag per token (Viterbi when the model ends in a CRF)."""

    def __init__(self, model, encoder, char_encoder, labels: list[str]):
        self.model, self.encoder, self.char_encoder, self.labels = model, encoder, char_encoder, list(labels)
        self.crf = crf_layer(model)
        self._labels = tf.constant(self.labels)
        self._compiled = None

    def tag(self, strings) -> dict[str, tf.Tensor]:
        """``{tokens, tags}`` (string ``(batch, words)``, "" past the end) and ``length`` (int32 ``(batch,)``)."""
        strings = tf.convert_to_tensor(strings, tf.string)
        words = tf.strings.split(strings)
        length = tf.cast(words.row_lengths(), tf.int32)
        inputs = model_inputs(self.encoder, self.char_encoder, strings)
        mask = tf.sequence_mask(length, tf.shape(inputs["token_ids"])[1])
        outputs = tf.cast(self.model(inputs, training=False), tf.float32)
        if self.crf is not None:
            best, _ = self.crf.decode(outputs, mask)
        else:
            best = tf.argmax(outputs, axis=-1, output_type=tf.int32)
        longest = tf.reduce_max(tf.concat([length, [0]], 0))
        tags = tf.where(mask, tf.gather(self._labels, best), "")[:, :longest]
        return {"tokens": words.to_tensor(""), "tags": tags, "length": length,
                "known_tokens": self.encoder.known_tokens(strings)}

    def tag_lists(self, sentences: list[str], batch_size: int = 256) -> list[list[str]]:
        """Python lists of tags for ``sentences``, in order (compiled once)."""
        if self._compiled is None:
            self._compiled = tf.function(self.tag, input_signature=[tf.TensorSpec([None], tf.string)])
        out: list[list[str]] = []
        for start in range(0, len(sentences), batch_size):
            result = self._compiled(tf.constant(sentences[start:start + batch_size]))
            tags, lengths = result["tags"].numpy(), result["length"].numpy()
            out.extend([t.decode("utf-8") for t in row[:n]] for row, n in zip(tags, lengths))
        return out


class TaggingRuntime(TaskRuntime):
    """Softmax or CRF over every token; token accuracy, per-tag and span F1, scores on unknown words."""

    def extend_embedding(self, ctx, cfg, embedded):
        """The embed stage's tagging part: join a character-level word encoder when ``embed.chars`` is set.

        Always publishes ``char_ids`` (the model input, or None) and ``char_encoder`` (the in-graph encoder, or None).
        """
        chars = cfg.chars
        if chars is None:
            ctx.put("char_ids", None)
            ctx.put("char_encoder", None)
            return embedded
        from seqpipe.layers.char_words import CharWordEncoder
        from seqpipe.text.chars import CharEncoder, char_vocabulary

        sentences = ctx["splits"]["train"]["tokens"].tolist()
        vocabulary = char_vocabulary(sentences, chars.min_frequency)
        path = ctx.path("char_vocab.txt")
        path.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
        ctx.tracker.log_artifact(path)
        ctx.log.info("char vocab: %d characters", len(vocabulary))
        char_ids = keras.Input(shape=(None, None), dtype="int32", name="char_ids")
        words = CharWordEncoder(len(vocabulary), chars.dim, chars.units, chars.cell, name="char_word_encoder")(char_ids)
        ctx.put("char_ids", char_ids)
        ctx.put("char_encoder", CharEncoder(vocabulary, chars.max_chars, name="char_encoder"))
        return keras.layers.Concatenate(name="word_and_chars")([embedded, words])

    def build_head(self, ctx, cfg) -> None:
        """The tag stage: per-token scores over every split's tags, optionally through a CRF."""
        from seqpipe.tasks.pooled.runtime import head_layers

        # The tag set comes from every split: a tag that only held-out data has then counts as an error
        # (it is never predicted) instead of stopping the run.
        seen = {split: {tag for tags in frame["tags"] for tag in tags.split()}
                for split, frame in ctx["splits"].items()}
        labels = sorted(set().union(*seen.values()))
        unseen = sorted(set(labels) - seen["train"])
        if unseen:
            ctx.log.warning("tags that occur only in held-out data (never predicted): %s", ", ".join(unseen))
        scores = keras.layers.Dense(len(labels), dtype="float32", name="tag_scores")(head_layers(ctx["encoded"], cfg))
        if cfg.output == "crf":
            from seqpipe.layers.crf import CRF

            scores = CRF(len(labels), name="crf")(scores)
        inputs = {"token_ids": ctx["token_ids"]}
        if ctx["char_ids"] is not None:
            inputs["char_ids"] = ctx["char_ids"]
        model = keras.Model(inputs, scores, name=ctx.config.name.replace("-", "_"))
        ctx.log.info("model: %s parameters, %d tags (%s output)", f"{model.count_params():,}", len(labels),
                     cfg.output)
        ctx.tracker.log_metrics({"parameters": model.count_params(), "tags": len(labels)})
        ctx.put("labels", labels)
        ctx.put("model", model)

    def fit(self, ctx, cfg):
        """Softmax or CRF tagger on batches tokenized in the graph; training sentences cut to tokenize.max_length."""
        from seqpipe.layers.crf import CRFLoss
        from seqpipe.tasks.tagging.losses import TagAccuracy, TagCrossEntropy, ignored_tag_ids
        from seqpipe.train.fit import fit_model, make_optimizer

        model, splits, labels = ctx["model"], ctx["splits"], ctx["labels"]
        encoder, char_encoder = ctx["encoder"], ctx["char_encoder"]
        crf = crf_layer(model)

        def dataset(split, **kwargs):
            frame = splits[split]
            limit = encoder.max_length if split == "train" else None
            sentences = truncate(frame["tokens"].tolist(), limit) if limit else frame["tokens"].tolist()
            return tagging_dataset(encoder, char_encoder, sentences, tag_ids(frame, labels, split, limit),
                                   cfg.batch_size, **kwargs)

        train = dataset("train", shuffle=True, seed=ctx.config.seed, bucketing=cfg.bucketing,
                        batch_tokens=cfg.batch_tokens)
        valid = dataset("valid") if len(splits["valid"]) else None
        ignore_ids = ignored_tag_ids(labels, cfg.ignore_tags)
        if cfg.ignore_tags:
            ctx.log.info("train: token_accuracy leaves out tokens tagged %s", ", ".join(cfg.ignore_tags))
        model.compile(optimizer=make_optimizer(cfg.optimizer, cfg.clipnorm, cfg.clipvalue, clip_scope=cfg.clip_scope),
                      loss=CRFLoss(crf) if crf is not None else TagCrossEntropy(),
                      metrics=[TagAccuracy(ignore_ids=ignore_ids)])
        return fit_model(ctx, cfg, model, train, valid, [])

    def evaluation_table(self, ctx, cfg, split):
        """The split's rows with the ``predicted`` tags (space-separated, one per token) and the ``errors`` among
        the tokens that token-level scores read (those whose gold tag evaluate.ignore_tags does not list)."""
        from seqpipe.tasks.tagging.scores import check_scorable, errors, sentences

        tagger = Tagger(ctx["trained_model"], ctx["encoder"], ctx["char_encoder"], ctx["labels"])
        table = ctx["splits"][split].reset_index(drop=True).copy()
        table["predicted"] = [" ".join(tags) for tags in tagger.tag_lists(table["tokens"].tolist())]
        ignore = set(cfg.ignore_tags)
        check_scorable(table, ignore, split)
        table["errors"] = errors(table, ignore)
        table["scored"] = [len(tags) for tags in sentences(table, ignore)[2]]  # the tokens token scores read
        return table

    def score(self, ctx, cfg, table):
        from seqpipe.tasks.tagging.scores import metric_names, score_table

        metrics = metric_names(cfg, ctx["labels"], self.task.default_metrics)
        return score_table(table, metrics, set(cfg.ignore_tags), ctx["encoder"])

    def write_report(self, ctx, cfg, split, table):
        """The tags TSV, per-tag report (also MLflow metrics), confusion matrix and, for BIO/IOBES tags, spans."""
        from seqpipe.metrics.tag_scores import span_scheme
        from seqpipe.tasks.tagging.scores import SPAN_METRICS, write_reports

        labels, ignore = ctx["labels"], set(cfg.ignore_tags)
        scheme = span_scheme(labels)
        if scheme:
            ctx.tracker.set_tags({"tagging.span_scheme": scheme})
        elif set(cfg.metrics or ()) & set(SPAN_METRICS):
            ctx.log.warning("evaluate: span scores skipped: the tags are not BIO/IOBES spans (e.g. %s)",
                            ", ".join(labels[:3]))
        missing = sorted(ignore - set(labels))
        if missing:
            ctx.log.warning("evaluate: ignore_tags lists tags that occur nowhere in the data: %s", ", ".join(missing))
        if ignore:
            ctx.log.info("evaluate: token-level scores leave out tokens tagged %s", ", ".join(sorted(ignore)))
        for path in write_reports(ctx, split, table, labels, ignore):
            ctx.tracker.log_artifact(path, "evaluation")

    def export(self, ctx, cfg, path):
        """Save ``serving_default(text) -> {tokens, tags, length}``: whitespace-tokenised sentences in,
        one tag per token out."""
        from seqpipe.export.saved_model import describe, save_signatures

        tagger = Tagger(ctx["trained_model"], ctx["encoder"], ctx["char_encoder"], ctx["labels"])
        save_signatures(path, [tagger.model, tagger.encoder, tagger.char_encoder], {"serving_default": tagger.tag})
        outputs = ("`tokens` and `tags` (string [batch, words], \"\" past each sentence's end), `length` (int32 "
                   "[batch], words per sentence), `known_tokens` (int32 [batch], words in the vocabulary)")
        describe(path, ctx.config, "serving_default", outputs,
                 "Input sentences are split on whitespace, one tag per token "
                 f"({'CRF + Viterbi' if tagger.crf else 'softmax'} output). Tags: {', '.join(tagger.labels)}",
                 example="The quick brown fox jumps .", labels=tagger.labels)
        return path

