"""Sequence labelling: tag ids, batches, the loss, and tagging raw whitespace-tokenised text.

Tag ids in the training targets are ``1..K`` (``labels[i]`` is stored as ``i + 1``) so that
0 marks padding; the model's outputs have K columns, one per label.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.data.batching import bucketed
from seqpipe.errors import DataError, SeqpipeError


def truncate(sentences: list[str], max_length: int) -> list[str]:
    """Keep the first ``max_length`` whitespace-separated items of each sentence (training only)."""
    return [" ".join(s.split()[:max_length]) for s in sentences]


def tag_ids(frame: pd.DataFrame, labels: list[str], split: str, max_length: int | None = None) -> list[list[int]]:
    """Tags as ids ``1..K``; a tag unseen in training is an error naming the row and the token."""
    index = {label: i + 1 for i, label in enumerate(labels)}
    out = []
    for row, tags in enumerate(frame["tags"].tolist()):
        ids = []
        for position, tag in enumerate(tags.split()[:max_length]):
            if tag not in index:
                raise DataError(f"{split} split row {row + 1}, token {position + 1}: tag {tag!r} does not occur in the "
                                f"training split; known tags: {', '.join(labels)}")
            ids.append(index[tag])
        out.append(ids)
    return out


def model_inputs(encoder, char_encoder, strings) -> dict:
    """The model's inputs for a batch of raw sentences (no truncation)."""
    ids = encoder.tokenize(strings, truncate=False)
    # an all-empty batch keeps one (masked) step
    longest = tf.maximum(tf.cast(tf.reduce_max(ids.row_lengths()), tf.int32), 1)
    inputs = {"token_ids": tf.cast(ids.to_tensor(0, shape=tf.stack([tf.cast(ids.nrows(), tf.int32), longest])),
                                   tf.int32)}
    if char_encoder is not None:
        chars = char_encoder(strings)
        shape = tf.shape(chars)
        inputs["char_ids"] = tf.pad(chars, [[0, 0], [0, longest - shape[1]], [0, tf.maximum(1 - shape[2], 0)]])
    return inputs


def tagging_dataset(encoder, char_encoder, sentences: list[str], tags: list[list[int]], batch_size: int, *,
                    shuffle: bool = False, seed: int = 0, bucketing: bool = False, batch_tokens: int | None = None):
    """Batches of ``({token_ids, char_ids}, tag ids)``, right-padded; tokenized per batch in the graph.

    With ``shuffle``, an :class:`seqpipe.data.batching.EpochData` (the order seeded by epoch); with
    ``batch_tokens`` too, token-budget batches (:func:`seqpipe.data.batching.token_budget_epochs`, words counted).
    """
    from seqpipe.data.batching import EpochData, bucket_count, by_epoch, token_budget_epochs

    lengths = np.array([len(t) for t in tags], dtype="int64")
    # from flat values: tf.ragged.constant takes minutes on long sentences (256 s for 18,000 x 221 tags)
    flat = np.fromiter((tag for sentence in tags for tag in sentence), dtype="int32", count=int(lengths.sum()))
    ragged = tf.RaggedTensor.from_row_lengths(flat, lengths) if tags else tf.ragged.constant([[]], tf.int32)
    strings, padded, lengths_t = tf.constant(sentences, tf.string), ragged.to_tensor(0), tf.constant(lengths)

    def rows(i):
        return strings[i], padded[i][: lengths_t[i]]

    def features(strings, y):
        inputs = model_inputs(encoder, char_encoder, strings)
        return inputs, tf.pad(y, [[0, 0], [0, tf.shape(inputs["token_ids"])[1] - tf.shape(y)[1]]])

    def batch(ds):
        if bucketing:
            ds = bucketed(ds, lengths, batch_size, lambda s, y: tf.shape(y)[0])
        else:
            ds = ds.padded_batch(batch_size)
        return ds.map(features, num_parallel_calls=tf.data.AUTOTUNE)

    if shuffle and batch_tokens is not None:
        return token_budget_epochs(rows, lengths, batch_tokens, seed=seed, finish=features)
    if shuffle:
        steps = bucket_count(lengths, batch_size) if bucketing else -(-len(sentences) // batch_size)
        return EpochData(by_epoch(rows, len(sentences), batch, seed=seed), steps)
    return batch(tf.data.Dataset.range(len(sentences)).map(rows)).prefetch(tf.data.AUTOTUNE)


@keras.saving.register_keras_serializable(package="seqpipe")
class TagCrossEntropy(keras.losses.Loss):
    """Softmax cross-entropy averaged over the real tokens (target 0 is padding; tag i is i + 1).

    ``call`` gives each token its share of the batch mean (0 at padding) and the reduction
    sums them, so the value is the same whether or not Keras also applies the output's mask
    (a softmax tagger's scores carry the embedding's mask; 0/1 weights leave the sum alone).
    """

    def __init__(self, name="tag_cross_entropy", **kwargs):
        kwargs.setdefault("reduction", "sum")  # kept in get_config, so from_config passes it back
        super().__init__(name=name, **kwargs)

    def call(self, y_true, logits):
        y_true = tf.cast(y_true, tf.int32)
        mask = tf.cast(y_true > 0, tf.float32)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        nll = -tf.gather(log_probs, tf.maximum(y_true - 1, 0), batch_dims=2)
        return nll * mask / tf.maximum(tf.reduce_sum(mask), 1.0)


def tag_accuracy(y_true, outputs, ignore_ids=()):
    """Share of real tokens whose highest-scoring tag is right (for a CRF: per-token, before Viterbi).

    Tokens whose target id is in ``ignore_ids`` (tag ids ``1..K``) do not count.
    """
    hits, real = _hits(y_true, outputs, ignore_ids)
    return tf.reduce_sum(hits) / tf.maximum(tf.reduce_sum(real), 1.0)


def _hits(y_true, outputs, ignore_ids=()):
    y_true = tf.cast(y_true, tf.int32)
    counted = y_true > 0
    for tag_id in ignore_ids:
        counted = tf.logical_and(counted, tf.not_equal(y_true, int(tag_id)))
    real = tf.cast(counted, tf.float32)
    hit = tf.cast(tf.equal(tf.argmax(outputs, axis=-1, output_type=tf.int32) + 1, y_true), tf.float32)
    return hit * real, real


@keras.saving.register_keras_serializable(package="seqpipe")
class TagAccuracy(keras.metrics.Metric):
    """:func:`tag_accuracy` accumulated over batches token by token (padding never counts).

    Its own padding test (target 0) replaces the Keras output mask, which marks the same steps.
    Targets whose tag id is in ``ignore_ids`` do not count either (``train.ignore_tags``: e.g. the
    blanks of the copy problem, so that the metric is the accuracy on the steps that matter).
    """

    def __init__(self, name="token_accuracy", ignore_ids=(), **kwargs):
        super().__init__(name=name, **kwargs)
        self.ignore_ids = tuple(int(i) for i in ignore_ids)
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.tokens = self.add_variable(shape=(), initializer="zeros", name="tokens")

    def update_state(self, y_true, y_pred, sample_weight=None):
        hits, real = _hits(y_true, y_pred, self.ignore_ids)
        self.hits.assign_add(tf.reduce_sum(hits))
        self.tokens.assign_add(tf.reduce_sum(real))

    def result(self):
        return self.hits / tf.maximum(self.tokens, 1.0)

    def get_config(self):
        return {**super().get_config(), "ignore_ids": list(self.ignore_ids)}


def ignored_tag_ids(labels: list[str], ignore_tags) -> list[int]:
    """The target ids (``1..K``) of the tags in ``ignore_tags`` that occur in ``labels``."""
    return [labels.index(tag) + 1 for tag in dict.fromkeys(ignore_tags or ()) if tag in labels]


def scored_positions(gold: list[list[str]], ignore: set[str]) -> list[list[int]]:
    """Per sentence, the positions whose gold tag is not in ``ignore`` (all of them when it is empty)."""
    return [[i for i, tag in enumerate(tags) if tag not in ignore] for tags in gold]


def take(sentences, positions: list[list[int]]) -> list[list]:
    """The items of each sentence at ``positions``."""
    return [[items[i] for i in where] for items, where in zip(sentences, positions)]


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
        return {"tokens": words.to_tensor(""), "tags": tags, "length": length}

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


SPAN_METRICS = ["span_precision", "span_recall", "span_f1"]
CONFUSION_TAGS = 30  # the confusion matrix PNG shows the most frequent tags; the rest are pooled


def add_char_features(ctx, chars, embedded):
    """The embed stage's tagging part: join a character-level word encoder when ``embed.chars`` is set.

    Always publishes ``char_ids`` (the model input, or None) and ``char_encoder`` (the in-graph encoder, or None).
    """
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


def build_head(ctx, cfg) -> None:
    """The tag stage: per-token scores over every split's tags, optionally through a CRF."""
    # The tag set comes from every split: a tag that only held-out data has then counts as an error
    # (it is never predicted) instead of stopping the run.
    seen = {split: {tag for tags in frame["tags"] for tag in tags.split()} for split, frame in ctx["splits"].items()}
    labels = sorted(set().union(*seen.values()))
    unseen = sorted(set(labels) - seen["train"])
    if unseen:
        ctx.log.warning("tags that occur only in held-out data (never predicted): %s", ", ".join(unseen))
    x = ctx["encoded"]
    if cfg.hidden_units:
        x = keras.layers.Dense(cfg.hidden_units, activation="relu", name="hidden")(x)
    if cfg.dropout:
        x = keras.layers.Dropout(cfg.dropout, name="output_dropout")(x)
    scores = keras.layers.Dense(len(labels), dtype="float32", name="tag_scores")(x)
    if cfg.output == "crf":
        from seqpipe.layers.crf import CRF

        scores = CRF(len(labels), name="crf")(scores)
    inputs = {"token_ids": ctx["token_ids"]}
    if ctx["char_ids"] is not None:
        inputs["char_ids"] = ctx["char_ids"]
    model = keras.Model(inputs, scores, name=ctx.config.name.replace("-", "_"))
    ctx.log.info("model: %s parameters, %d tags (%s output)", f"{model.count_params():,}", len(labels), cfg.output)
    ctx.tracker.log_metrics({"parameters": model.count_params(), "tags": len(labels)})
    ctx.put("labels", labels)
    ctx.put("model", model)


def fit(ctx, cfg):
    """Softmax or CRF tagger on batches tokenized in the graph; training sentences cut to tokenize.max_length."""
    from seqpipe.layers.crf import CRFLoss
    from seqpipe.train.fit import fit_model, make_optimizer

    model, splits, labels = ctx["model"], ctx["splits"], ctx["labels"]
    encoder, char_encoder = ctx["encoder"], ctx["char_encoder"]
    crf = crf_layer(model)

    def dataset(split, **kwargs):
        frame = splits[split]
        limit = encoder.max_length if split == "train" else None
        sentences = truncate(frame["tokens"].tolist(), limit) if limit else frame["tokens"].tolist()
        return tagging_dataset(encoder, char_encoder, sentences, tag_ids(frame, labels, split, limit), cfg.batch_size,
                               **kwargs)

    train = dataset("train", shuffle=True, seed=ctx.config.seed, bucketing=cfg.bucketing,
                    batch_tokens=cfg.batch_tokens)
    valid = dataset("valid") if len(splits["valid"]) else None
    ignore_ids = ignored_tag_ids(labels, cfg.ignore_tags)
    if cfg.ignore_tags:
        ctx.log.info("train: token_accuracy leaves out tokens tagged %s", ", ".join(cfg.ignore_tags))
    model.compile(optimizer=make_optimizer(cfg.optimizer, cfg.clipnorm, cfg.clipvalue),
                  loss=CRFLoss(crf) if crf is not None else TagCrossEntropy(),
                  metrics=[TagAccuracy(ignore_ids=ignore_ids)])
    return fit_model(ctx, cfg, model, train, valid, [])


def evaluate(ctx, cfg):
    """Token accuracy, per-tag report, confusion matrix and (for BIO/IOBES tags) span scores; padding never counts."""
    from seqpipe.metrics import METRICS
    from seqpipe.metrics import tag_scores as tm
    from seqpipe.metrics.label_scores import plot_confusion_matrix
    from seqpipe.metrics.per_label import log_per_label, with_metric_keys
    from seqpipe.tasks.tagging import Tagging

    labels = ctx["labels"]
    ignore = set(cfg.ignore_tags)
    scored = [label for label in labels if label not in ignore]  # the tags of the per-tag report
    missing = sorted(ignore - set(labels))
    if missing:
        ctx.log.warning("evaluate: ignore_tags lists tags that occur nowhere in the data: %s", ", ".join(missing))
    if ignore:
        ctx.log.info("evaluate: token-level scores leave out tokens tagged %s", ", ".join(sorted(ignore)))
    tagger = Tagger(ctx["trained_model"], ctx["encoder"], ctx["char_encoder"], labels)
    scheme = tm.span_scheme(labels)
    metrics = list(cfg.metrics or list(Tagging.default_metrics) + (SPAN_METRICS if scheme else []))
    if scheme:
        ctx.tracker.set_tags({"tagging.span_scheme": scheme})
    elif set(metrics) & set(SPAN_METRICS):
        ctx.log.warning("evaluate: span scores skipped: the tags are not BIO/IOBES spans (e.g. %s)",
                        ", ".join(labels[:3]))
        metrics = [m for m in metrics if m not in SPAN_METRICS]
    predictions = {}
    for split in cfg.splits:
        frame = ctx["splits"][split]
        if not len(frame):
            ctx.log.warning("evaluate: the %s split is empty; skipped", split)
            continue
        all_gold = [tags.split() for tags in frame["tags"]]
        all_pred = tagger.tag_lists(frame["tokens"].tolist())
        # evaluate.ignore_tags: token-level scores read only the tokens whose gold tag is not ignored
        positions = scored_positions(all_gold, ignore)
        if not any(positions):
            raise SeqpipeError(f"evaluate: every token of the {split} split has a tag listed in "
                               f"stages.evaluate.ignore_tags ({', '.join(sorted(ignore))}); nothing is left to score")
        gold, pred = (take(all_gold, positions), take(all_pred, positions)) if ignore else (all_gold, all_pred)
        words = take([s.split() for s in frame["tokens"]], positions) if ignore else None

        def score(name):
            if name in SPAN_METRICS:  # spans read whole sentences
                return METRICS.get(name)(all_gold, all_pred)
            if name == "tag_macro_f1" and ignore:
                return macro_f1_without(gold, pred, ignore)
            return METRICS.get(name)(gold, pred)

        ctx.add_metrics({f"{split}_{m}": score(m) for m in metrics})
        ctx.add_metrics(unknown_words(ctx["encoder"], [" ".join(w) for w in words] if ignore
                                      else frame["tokens"].tolist(), gold, pred, split))
        outputs = [tag_table(ctx, split, frame, all_gold, all_pred, positions)]
        report = with_metric_keys(tm.tag_report(gold, pred, scored), split, scored)
        outputs.append(ctx.path("evaluation", f"{split}_tag_report.csv"))
        report.to_csv(outputs[-1])
        log_per_label(ctx, split, report, scored)
        shown = list(report.drop(index=["micro avg", "macro avg", "weighted avg"])["support"]
                     .sort_values(ascending=False, kind="stable").index[:CONFUSION_TAGS])
        names = shown + (["(other)"] if len(shown) < len(labels) else [])
        keep = set(shown)

        def pooled(sentences):
            return [[t if t in keep else "(other)" for t in s] for s in sentences]

        cm = tm.tag_confusion(pooled(gold), pooled(pred), names)
        outputs.append(plot_confusion_matrix(cm, names, ctx.path("evaluation", f"{split}_confusion_matrix.png"),
                                             title=f"{ctx.config.name}: {split} split (tokens)"))
        if scheme:
            spans = tm.span_scores(all_gold, all_pred)
            outputs.append(ctx.path("evaluation", f"{split}_span_report.csv"))
            spans["per_type"].to_csv(outputs[-1])
        for path in outputs:
            ctx.tracker.log_artifact(path, "evaluation")
        predictions[split] = all_pred
        ctx.log.info("%s: %s", split, ", ".join(f"{k}={v:.4f}" for k, v in ctx.metrics.items() if k.startswith(split)))
    return predictions


def unknown_words(encoder, sentences, gold, pred, split) -> dict[str, float]:
    """Share of tokens missing from the word vocabulary ([UNK]) and the accuracy on just those."""
    vocabulary = set(encoder.vocabulary)
    hits = [g == p for sentence, gs, ps in zip(sentences, gold, pred)
            for word, g, p in zip(sentence.split(), gs, ps)
            if (word.lower() if encoder.lowercase else word) not in vocabulary]
    total = sum(len(gs) for gs in gold)
    scores = {f"{split}_unknown_word_share": len(hits) / total if total else 0.0}
    if hits:
        scores[f"{split}_unknown_word_accuracy"] = sum(hits) / len(hits)
    return scores


def macro_f1_without(gold, pred, ignore: set[str]) -> float:
    """tag_macro_f1 over the tags found in gold or predicted tags, less the ignored ones (which have no gold
    support among the scored tokens; predicting one there is an error of the gold tag's recall)."""
    from sklearn.metrics import f1_score

    y_true = [t for sentence in gold for t in sentence]
    y_pred = [t for sentence in pred for t in sentence]
    tags = sorted((set(y_true) | set(y_pred)) - ignore)
    return float(f1_score(y_true, y_pred, labels=tags, average="macro", zero_division=0))


def tag_table(ctx, split, frame, gold, pred, positions=None):
    """TSV of every sentence with its gold and predicted tags and the number of wrong tokens (among the scored
    ``positions`` when given: those whose gold tag evaluate.ignore_tags does not list)."""
    if positions is None:
        positions = [range(len(g)) for g in gold]
    errors = [sum(gs[i] != ps[i] for i in where) for gs, ps, where in zip(gold, pred, positions)]
    table = pd.DataFrame({"tokens": frame["tokens"].tolist(), "tags": frame["tags"].tolist(),
                          "predicted": [" ".join(p) for p in pred], "errors": errors})
    out = ctx.path("evaluation", f"{split}_tags.tsv")
    table.to_csv(out, sep="\t", index=False)
    return out


def export(ctx, path):
    """Save ``serving_default(text) -> {tokens, tags, length}``: whitespace-tokenised sentences in,
    one tag per token out."""
    from seqpipe.export.saved_model import describe

    tagger = Tagger(ctx["trained_model"], ctx["encoder"], ctx["char_encoder"], ctx["labels"])
    archive = keras.export.ExportArchive()
    for layer in (tagger.model, tagger.encoder, tagger.char_encoder):
        if layer is not None:
            if isinstance(layer, keras.layers.Layer) and not layer.built:
                layer(tf.constant(["build"]))
            archive.track(layer)
    archive.add_endpoint("serving_default", tagger.tag, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.write_out(str(path), verbose=False)
    outputs = ("`tokens` and `tags` (string [batch, words], \"\" past each sentence's end), `length` (int32 [batch], "
               "words per sentence)")
    describe(path, ctx.config, "serving_default", outputs,
             "Input sentences are split on whitespace, one tag per token "
             f"({'CRF + Viterbi' if tagger.crf else 'softmax'} output). Tags: {', '.join(tagger.labels)}",
             example="The quick brown fox jumps .", labels=tagger.labels)
    return path


def predict_table(model, texts: list[str]) -> pd.DataFrame:
    """The whitespace-separated tokens of each text and their tags (space-joined)."""
    out = model.signatures["serving_default"](text=tf.constant(texts))
    lengths = out["length"].numpy()

    def joined(key):
        return [" ".join(b.decode("utf-8") for b in row[:n]) for row, n in zip(out[key].numpy(), lengths)]

    return pd.DataFrame({"text": texts, "tokens": joined("tokens"), "tags": joined("tags")})
