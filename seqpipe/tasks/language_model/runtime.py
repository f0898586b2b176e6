"""Recurrent language models: token streams, training windows, scoring and generation.

A text becomes ``[START] tokens...``; the texts of a split are concatenated into one
stream, cut into fixed windows for truncated backpropagation through time. Scoring a
sentence conditions its first token on ``[START]``. Generation primes the recurrent state
with ``[START] + prompt`` and continues with a strategy from ``seqpipe.decoding``.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.tasks.base import TaskRuntime
from seqpipe.tasks.language_model.model import LanguageModel
from seqpipe.tasks.language_model.transformer_lm import language_model
from seqpipe.text import START_ID


def stream(encoder, texts: list[str]) -> np.ndarray:
    """One int32 stream: ``[START] + ids(text)`` for every text, untruncated."""
    return stream_and_lengths(encoder, texts)[0]


def stream_and_lengths(encoder, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`stream` and each text's share of it (``1 + its token count``)."""
    ids = encoder.tokenize(tf.constant(texts), truncate=False)
    starts = tf.fill([ids.nrows(), 1], tf.constant(START_ID, tf.int64))
    joined = tf.concat([starts, ids], axis=1)
    return joined.flat_values.numpy().astype("int32"), joined.row_lengths().numpy()


def window_dataset(tokens: np.ndarray, window: int, batch_size: int, *, shuffle: bool = False, seed: int = 0):
    """``(x, y)`` windows of ``window`` tokens, y shifted by one (the last partial window dropped).

    With ``shuffle``, an :class:`seqpipe.data.batching.EpochData` whose window order is seeded by epoch.
    """
    from seqpipe.data.batching import EpochData, by_epoch

    n = (len(tokens) - 1) // window
    x = tf.constant(tokens[: n * window].reshape(n, window))
    y = tf.constant(tokens[1 : n * window + 1].reshape(n, window))
    if shuffle:
        return EpochData(by_epoch(lambda i: (x[i], y[i]), n, lambda ds: ds.batch(batch_size), seed=seed),
                         -(-n // batch_size))
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def stateful_windows(tokens: np.ndarray, window: int, batch_size: int):
    """Batches whose row b continues row b of the previous batch: ``batch_size`` contiguous streams."""
    per_stream = (len(tokens) - 1) // batch_size
    steps = per_stream // window
    if steps == 0:
        raise ValueError(f"{len(tokens)} tokens are too few for {batch_size} streams of {window}-token windows")
    starts = np.arange(batch_size) * per_stream
    x = np.stack([tokens[s : s + steps * window] for s in starts]).reshape(batch_size, steps, window)
    y = np.stack([tokens[s + 1 : s + 1 + steps * window] for s in starts]).reshape(batch_size, steps, window)
    return tf.data.Dataset.from_tensor_slices((x.transpose(1, 0, 2), y.transpose(1, 0, 2))).prefetch(tf.data.AUTOTUNE)


def stateful_copy(model: keras.Model, batch_size: int, window: int) -> keras.Model:
    """The same network with stateful recurrent layers and a fixed batch shape (weights copied)."""
    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.RNN):
            config["stateful"] = True
        return layer.__class__.from_config(config)

    ids = keras.Input(batch_shape=(batch_size, window), dtype="int32", name="token_ids")
    copy = keras.models.clone_model(model, input_tensors=ids, clone_function=clone)
    copy_weights(model, copy)
    return copy


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Assign every trainable weight of ``source`` to the same-named layer of ``target``."""
    for layer in source.layers:
        for src, dst in zip(layer.trainable_weights, target.get_layer(layer.name).trainable_weights):
            dst.assign(src)


class ResetStates(keras.callbacks.Callback):
    """Zero the recurrent state at the start of every epoch and of every validation pass."""

    def _reset(self, *args):
        for layer in self.model.layers:
            if isinstance(layer, keras.layers.RNN):
                layer.reset_state()

    on_epoch_begin = on_test_begin = _reset


def write_samples(lm: LanguageModel, cfg, path: Path) -> Path:
    """Continue ``cfg.prompts`` with ``cfg.decoding`` and write them, one block per prompt."""
    fn = lm.function("generate", decoding=cfg.decoding.model_dump(), max_length=cfg.max_length)
    texts = fn(tf.constant(cfg.prompts))["text"].numpy()
    path.write_text("\n\n----\n\n".join(t.decode("utf-8", "replace") for t in texts) + "\n", encoding="utf-8")
    return path


def shuffled_pairs(texts: list[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    """Up to ``n`` lines of 4+ words from ``texts`` and a word-shuffled copy of each (never identical)."""
    rng = np.random.default_rng(seed)
    lines = [line.strip() for text in texts for line in text.splitlines() if len(line.split()) >= 4]
    if len(lines) > n:
        lines = [lines[i] for i in sorted(rng.choice(len(lines), n, replace=False))]
    real, shuffled = [], []
    for line in lines:
        words = line.split()
        for _ in range(10):
            order = rng.permutation(len(words))
            if (order != np.arange(len(words))).any() and [words[i] for i in order] != words:
                real.append(line)
                shuffled.append(" ".join(words[i] for i in order))
                break
    return real, shuffled


class LanguageModelEpoch(keras.callbacks.Callback):
    """Adds perplexity and bits per token to the logs; writes a text sample after each epoch."""

    def __init__(self, ctx, samples, stateless_model=None):
        super().__init__()
        self.ctx, self.samples, self.stateless_model = ctx, samples, stateless_model
        self.lm = ctx["language_model"]

    def on_epoch_end(self, epoch, logs=None):
        if self.stateless_model is not None:  # training runs on a stateful copy
            copy_weights(self.model, self.stateless_model)
        for prefix in ("", "val_"):
            if logs is not None and f"{prefix}loss" in logs:
                logs[f"{prefix}perplexity"] = float(np.exp(logs[f"{prefix}loss"]))
                logs[f"{prefix}bits_per_token"] = float(logs[f"{prefix}loss"] / np.log(2))
        if self.samples is not None:
            path = write_samples(self.lm, self.samples, self.ctx.path("samples", f"epoch_{epoch + 1:02d}.txt"))
            self.ctx.tracker.log_artifact(path, "samples")


def token_log_probs(model, encoder, texts: list[str], window: int, batch_size: int = 64) -> tuple[np.ndarray, ...]:
    """Each text's log-probability (nats) and token count, read as training reads: one stream of
    ``[START] + tokens`` for all the texts, in windows of ``window`` tokens that each start from a zero state
    (the last window is padded; its padding is not scored). A token counts for the text it belongs to."""
    tokens, lengths = stream_and_lengths(encoder, texts)
    rows = np.repeat(np.arange(len(texts)), lengths)[1:]  # the text of every predicted token
    n = len(tokens) - 1
    size = -(-n // window) * window
    x, y = np.zeros(size, "int32"), np.zeros(size, "int32")
    x[:n], y[:n] = tokens[:-1], tokens[1:]
    score = tf.function(lambda x, y: tf.gather(tf.nn.log_softmax(tf.cast(model(x, training=False), tf.float32)), y,
                                               batch_dims=2))
    ds = tf.data.Dataset.from_tensor_slices((x.reshape(-1, window), y.reshape(-1, window))).batch(batch_size)
    flat = np.concatenate([score(xb, yb).numpy().reshape(-1) for xb, yb in ds])[:n].astype("float64")
    return np.bincount(rows, weights=flat, minlength=len(texts)), np.bincount(rows, minlength=len(texts))


class LanguageModelRuntime(TaskRuntime):
    """Windows of a token stream for training; perplexity and bits per token; score and generate signatures."""

    def build_head(self, ctx, cfg) -> None:
        """The lm stage: next-token logits at every position, and the stepping LanguageModel around them."""
        x = ctx["encoded"]
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, name="lm_dropout")(x)
        logits = keras.layers.Dense(ctx["encoder"].vocabulary_size, dtype="float32", name="lm_logits")(x)
        model = keras.Model(ctx["token_ids"], logits, name=ctx.config.name.replace("-", "_"))
        ctx.log.info("model: %s parameters", f"{model.count_params():,}")
        ctx.tracker.log_metrics({"parameters": model.count_params()})
        ctx.put("model", model)
        ctx.put("language_model", language_model(model, ctx["encoder"]))

    def write_samples(self, ctx, cfg) -> Path:
        """The sample stage: continue the prompts and write them to ``samples/final.txt``."""
        path = write_samples(ctx["language_model"], cfg, ctx.path("samples", "final.txt"))
        ctx.tracker.log_artifact(path, "samples")
        ctx.log.info("samples:\n%s", path.read_text(encoding="utf-8"))
        return path

    def fit(self, ctx, cfg):
        """Windows of a token stream; with ``cfg.stateful`` a stateful copy carries state across windows."""
        from seqpipe.train.fit import fit_model
        from seqpipe.train.losses import compile_token_model

        model, splits, encoder = ctx["model"], ctx["splits"], ctx["encoder"]
        streams = {split: stream(encoder, splits[split]["text"].tolist()) for split in ("train", "valid")
                   if len(splits[split])}
        if cfg.stateful:
            trained = stateful_copy(model, cfg.batch_size, cfg.window)
            train = stateful_windows(streams["train"], cfg.window, cfg.batch_size)
            valid = stateful_windows(streams["valid"], cfg.window, cfg.batch_size) if "valid" in streams else None
            first = [ResetStates(), LanguageModelEpoch(ctx, cfg.samples, stateless_model=model)]
        else:
            trained = model
            train = window_dataset(streams["train"], cfg.window, cfg.batch_size, shuffle=True, seed=ctx.config.seed)
            valid = window_dataset(streams["valid"], cfg.window, cfg.batch_size) if "valid" in streams else None
            first = [LanguageModelEpoch(ctx, cfg.samples)]
        for m in {id(trained): trained, id(model): model}.values():  # the stateless model is evaluated later
            compile_token_model(m, cfg, cfg.label_smoothing)
        trained, history = fit_model(ctx, cfg, trained, train, valid, first)
        if trained is not model:
            copy_weights(trained, model)  # the best epoch's weights, into the stateless model
        return model, history

    def evaluation_table(self, ctx, cfg, split):
        """The split's texts with ``num_tokens`` and ``log_prob`` (nats), scored in windows of evaluate.window."""
        lm = ctx["language_model"]
        table = ctx["splits"][split].reset_index(drop=True).copy()
        log_prob, count = token_log_probs(lm.model, lm.encoder, table["text"].tolist(), cfg.window)
        table["num_tokens"], table["log_prob"] = count, log_prob
        return table

    def score(self, ctx, cfg, table):
        """Loss (mean nats per token), perplexity and bits per token (per char with a char tokenizer)."""
        tokens = int(table["num_tokens"].sum())
        if not tokens:
            return {}
        loss = float(-table["log_prob"].sum() / tokens)
        unit = "char" if ctx["language_model"].encoder.kind == "char" else "token"
        return {"loss": loss, "perplexity": float(np.exp(loss)), f"bits_per_{unit}": loss / float(np.log(2))}

    def write_report(self, ctx, cfg, split, table):
        """Per-text scores, and ``real_over_shuffled``: how often a held-out line outscores a word-shuffled copy."""
        out = ctx.path("evaluation", self.task.evaluation_file.format(split=split))
        table.to_csv(out, sep="\t", index=False)
        ctx.tracker.log_artifact(out, "evaluation")
        if not cfg.shuffled_pairs:
            return
        lm = ctx["language_model"]
        real, shuffled = shuffled_pairs(table["text"].tolist(), cfg.shuffled_pairs, ctx.config.seed)
        score = lm.function("score")
        lp_real = np.concatenate([score(tf.constant(real[i:i + 128]))["log_prob"].numpy()
                                  for i in range(0, len(real), 128)] or [np.zeros(0)])
        lp_shuf = np.concatenate([score(tf.constant(shuffled[i:i + 128]))["log_prob"].numpy()
                                  for i in range(0, len(real), 128)] or [np.zeros(0)])
        if len(real):
            ctx.add_metrics({f"{split}_real_over_shuffled": float(np.mean(lp_real > lp_shuf))})
        out = ctx.path("evaluation", f"{split}_real_vs_shuffled.tsv")
        pd.DataFrame({"line": real, "shuffled": shuffled, "log_prob": lp_real, "log_prob_shuffled": lp_shuf}
                     ).to_csv(out, sep="\t", index=False)
        ctx.tracker.log_artifact(out, "evaluation")

    def export(self, ctx, cfg, path):
        """Save ``score(text)`` and ``generate(text)`` signatures on raw strings (also serving_default = score).

        ``text_encoder.json`` beside the SavedModel lets ``seqpipe generate`` rebuild the model with any settings.
        """
        from seqpipe.export.saved_model import describe, save_signatures

        lm, decoding, max_length = ctx["language_model"], cfg.decoding.model_dump(), cfg.max_length
        save_signatures(path, [lm.model, lm.encoder], {
            "score": lambda text: lm.score(text),
            "generate": lambda text: lm.generate(text, decoding, max_length),
            "serving_default": lambda text: lm.score(text)})
        outputs = ("`score`: `log_prob` (float32 [batch], nats), `num_tokens` (int32), `token_log_probs` (float32 "
                   "[batch, tokens], 0 past the end); `generate`: `text` (prompt + continuation), `continuation`, "
                   "`log_prob`")
        describe(path, ctx.config, "score", outputs,
                 f"`generate` continues each prompt by {max_length} tokens with {json.dumps(decoding)}.",
                 decoding=decoding, max_length=max_length)
        (path.parent / "text_encoder.json").write_text(json.dumps(lm.encoder.get_config()), encoding="utf-8")
        return path
