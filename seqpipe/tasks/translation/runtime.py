"""Translation with TensorFlow: target ids, the decoder, training with val_bleu, decoding, scoring, export."""

from __future__ import annotations

import json
import time

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.decoding import decode
from seqpipe.text import END_ID, START_ID


def target_ids(encoder, texts: list[str]) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """``([START] y, y [END])`` with y truncated so both fit ``encoder.max_length``."""
    ids = encoder.tokenize(tf.constant(texts))[:, : encoder.max_length - 1]
    rows = ids.nrows()
    start = tf.fill([rows, 1], tf.constant(START_ID, tf.int64))
    end = tf.fill([rows, 1], tf.constant(END_ID, tf.int64))
    return tf.concat([start, ids], axis=1), tf.concat([ids, end], axis=1)


class Translator:
    """Raw source strings -> target strings with a decoding strategy, compiled with tf.function.

    ``encoder_model`` maps source ids to ``[memory, *final_states]``; ``decoder`` is the
    :class:`seqpipe.layers.decoder.AttentionDecoder` whose ``step`` drives the search.
    """

    def __init__(self, source_encoder, target_encoder, encoder_model, decoder, max_length: int):
        self.source_encoder, self.target_encoder = source_encoder, target_encoder
        self.encoder_model, self.decoder, self.max_length = encoder_model, decoder, int(max_length)
        self._compiled: dict = {}

    def search(self, text: tf.Tensor, decoding: dict) -> dict:
        """Graph-mode search on a string batch; returns decode()'s dict plus ``translations``."""
        ids = self.source_encoder(text)
        memory, *states = self.encoder_model(ids, training=False)
        state = self.decoder.initial_state(memory, ids != 0, states)
        out = decode(self.decoder.step, state, start_id=START_ID, end_id=END_ID,
                     max_length=self.max_length, **decoding)
        out["translations"] = self.target_encoder.detokenize(out["tokens"][:, 0])
        out["source_ids"] = ids
        return out

    def function(self, decoding: dict):
        """A tf.function over string batches for this decoding config (cached)."""
        key = tuple(sorted(decoding.items()))
        if key not in self._compiled:
            self._compiled[key] = tf.function(lambda text: self.search(text, decoding),
                                              input_signature=[tf.TensorSpec([None], tf.string)])
        return self._compiled[key]

    def translate(self, texts: list[str], decoding: dict, batch_size: int = 64) -> dict[str, list]:
        """Translate in batches (sorted by length for less padding); results in input order."""
        order = np.argsort([len(t) for t in texts], kind="stable")
        fn = self.function(decoding)
        results: dict[str, list] = {"translations": [None] * len(texts), "scores": [None] * len(texts),
                                    "attention": [None] * len(texts), "tokens": [None] * len(texts)}
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            out = fn(tf.constant([texts[i] for i in idx]))
            lengths = out["lengths"][:, 0].numpy()
            src_len = (out["source_ids"].numpy() != 0).sum(axis=1)
            for j, i in enumerate(idx):
                results["translations"][i] = out["translations"][j].numpy().decode("utf-8")
                results["scores"][i] = float(out["scores"][j, 0])
                results["tokens"][i] = out["tokens"][j, 0, : lengths[j]].numpy()
                results["attention"][i] = out["attention"][j, : lengths[j], : src_len[j]].numpy()
        return results


def build_encoders(ctx, cfg, build) -> None:
    """Source and target encoders: separate vocabularies, or one shared by both sides (``tokenize.shared``)."""
    train = ctx["splits"]["train"]
    side = cfg.side()
    target = {**side, **{k: v for k, v in cfg.target.model_dump().items() if v is not None}}
    if cfg.shared:
        source = build(side, train["source"].tolist() + train["target"].tolist(), "vocab")
        target_encoder = source.__class__.from_config({**source.get_config(), "max_length": target["max_length"],
                                                       "name": "target_encoder"})
    else:
        source = build(side, train["source"].tolist(), "source_vocab")
        target_encoder = build(target, train["target"].tolist(), "target_vocab")
    ctx.put("encoder", source)
    ctx.put("target_encoder", target_encoder)


def build_decoder(ctx, cfg) -> None:
    """The decode stage: the attention decoder over the encoder, the training model and the Translator."""
    from seqpipe.layers.decoder import AttentionDecoder

    ids, memory, states = ctx["token_ids"], ctx["encoded"], ctx["encoder_states"]
    target_encoder = ctx["target_encoder"]
    decoder = AttentionDecoder(
        vocab_size=target_encoder.vocabulary_size, embed_dim=cfg.embed_dim,
        cell=cfg.cell, units=cfg.units, layers=cfg.layers, attention=cfg.attention,
        attention_units=cfg.attention_units, input_feeding=cfg.input_feeding, bridge=cfg.bridge,
        memory_dim=memory.shape[-1], encoder_state_dims=[s.shape[-1] for s in states], dropout=cfg.dropout,
        residual=cfg.residual, name="decoder")
    target_in = keras.Input(shape=(None,), dtype="int32", name="target_in")
    from seqpipe.layers.masks import NotEqual

    mask = NotEqual(0, name="source_mask")(ids)
    logits = decoder(target_in, memory, mask, states)
    model = keras.Model([ids, target_in], logits, name=ctx.config.name.replace("-", "_"))
    encoder_model = keras.Model(ids, [memory, *states], name="encoder")
    ctx.log.info("model: %s parameters", f"{model.count_params():,}")
    ctx.tracker.log_metrics({"parameters": model.count_params()})
    ctx.put("model", model)
    ctx.put("translator", Translator(ctx["encoder"], target_encoder, encoder_model, decoder, target_encoder.max_length))


class ValidationBleu(keras.callbacks.Callback):
    """After each epoch, decode a fixed validation subset and add ``val_bleu`` to the logs.

    It runs before the tracker, checkpoint and early-stopping callbacks, so they all see it.
    """

    def __init__(self, translator, sources: list[str], references: list[str], decoding: dict):
        super().__init__()
        self.translator, self.sources, self.references, self.decoding = translator, sources, references, decoding

    def on_epoch_end(self, epoch, logs=None):
        from seqpipe.metrics import METRICS

        hypotheses = self.translator.translate(self.sources, self.decoding)["translations"]
        if logs is not None:
            logs["val_bleu"] = METRICS.get("bleu")(hypotheses, self.references)


def fit(ctx, cfg):
    """Teacher forcing (or scheduled sampling, ``train.scheduled_sampling``) with the masked token
    cross-entropy; val_bleu on a fixed validation subset."""
    from seqpipe.data.batching import pair_dataset
    from seqpipe.train.fit import fit_model
    from seqpipe.train.losses import compile_token_model

    model, splits, translator = ctx["model"], ctx["splits"], ctx["translator"]

    def dataset(split, **kwargs):
        frame = splits[split]
        source = translator.source_encoder.tokenize(frame["source"].tolist())
        target_in, target_out = target_ids(translator.target_encoder, frame["target"].tolist())
        return pair_dataset(source, target_in, target_out, cfg.batch_size, **kwargs)

    train = dataset("train", shuffle=True, seed=ctx.config.seed, bucketing=cfg.bucketing,
                    batch_tokens=cfg.batch_tokens)
    valid = dataset("valid") if len(splits["valid"]) else None
    compile_token_model(model, cfg, cfg.label_smoothing)
    first = []
    if cfg.validation_subset and len(splits["valid"]):
        subset = splits["valid"].head(cfg.validation_subset)
        first.append(ValidationBleu(translator, subset["source"].tolist(), subset["target"].tolist(),
                                    cfg.decoding.model_dump()))
    from seqpipe.layers.scheduled_sampling import scheduled_sampling_callbacks

    first += scheduled_sampling_callbacks(ctx, cfg, translator.decoder)
    return fit_model(ctx, cfg, model, train, valid, first)


def generate(ctx, cfg) -> dict:
    """The generate stage: decode the chosen splits (and greedily, side by side); attention heatmaps."""
    from seqpipe.tasks.translation.plots import plot_attention

    translator, splits = ctx["translator"], ctx["splits"]
    strategies = {"": cfg.decoding.model_dump()}
    if cfg.compare_greedy and cfg.decoding.strategy != "greedy":
        strategies["_greedy"] = {"strategy": "greedy"}
    hypotheses = {}
    for split in cfg.splits:
        sources = splits[split]["source"].tolist()
        for suffix, decoding in strategies.items():
            t0 = time.perf_counter()
            out = translator.translate(sources, decoding)
            seconds = time.perf_counter() - t0
            tokens = sum(len(t) for t in out["tokens"])
            ctx.tracker.log_metrics({f"{split}_decode_tokens_per_s{suffix}": tokens / seconds})
            ctx.log.info("%s: decoded %d sentences (%s) in %.1f s, %.0f target tokens/s", split, len(sources),
                         decoding["strategy"], seconds, tokens / seconds)
            hypotheses[f"{split}{suffix}"] = out
    if cfg.heatmaps and len(splits["valid"]):
        sources = splits["valid"]["source"].tolist()[: cfg.heatmaps]
        out = translator.translate(sources, strategies[""])
        for i, (source, attention) in enumerate(zip(sources, out["attention"])):
            src_tokens = [t.decode("utf-8", "replace") for t in translator.source_encoder.tokens([source]).to_list()[0]]
            tgt_tokens = [translator.target_encoder.vocabulary[t] for t in out["tokens"][i]]
            png = plot_attention(attention, src_tokens, tgt_tokens, ctx.path("plots", f"attention_{i}.png"))
            ctx.tracker.log_artifact(png, "plots")
    return hypotheses


def evaluate(ctx, cfg, metrics: list[str]):
    """Corpus scores per split and strategy, a TSV of per-sentence scores, signatures as tags."""
    from seqpipe.metrics import METRICS, text_scores

    hypotheses = ctx["hypotheses"]
    for split in cfg.splits:
        frame = ctx["splits"][split]
        references = frame["target"].tolist()
        table = pd.DataFrame({"source": frame["source"].tolist(), "reference": references})
        for key in [k for k in hypotheses if k == split or k.startswith(f"{split}_")]:
            suffix = key[len(split):]
            hyps = hypotheses[key]["translations"]
            ctx.add_metrics({f"{split}_{m}{suffix}": METRICS.get(m)(hyps, references) for m in metrics})
            table[f"hypothesis{suffix}"] = hyps
            scores = text_scores.sentence_scores(hyps, references)
            for column in scores.columns:
                table[f"{column}{suffix}"] = scores[column].to_numpy()
        out = ctx.path("evaluation", f"{split}_translations.tsv")
        table.to_csv(out, sep="\t", index=False)
        ctx.tracker.log_artifact(out, "evaluation")
        ctx.log.info("%s: %s", split, ", ".join(f"{k}={v:.2f}" for k, v in ctx.metrics.items() if k.startswith(split)))
    tags = {f"sacrebleu.{name}": sig for name, sig in text_scores.signatures().items() if name in metrics}
    if "meteor" in metrics:
        tags["meteor.backend"] = text_scores.meteor_backend()
    ctx.tracker.set_tags(tags)
    return hypotheses


def export(ctx, cfg, path):
    """Save ``translate(text) -> {translation, score}`` (also as serving_default), search in-graph."""
    from seqpipe.export.saved_model import describe

    translator, decoding = ctx["translator"], cfg.decoding.model_dump()
    for text_encoder in (translator.source_encoder, translator.target_encoder):
        text_encoder(tf.constant(["build"]))  # Keras layers must be built before tracking
    archive = keras.export.ExportArchive()
    for layer in (translator.encoder_model, translator.decoder, translator.source_encoder, translator.target_encoder):
        archive.track(layer)

    def translate(text):
        out = translator.search(text, decoding)
        return {"translation": out["translations"], "score": out["scores"][:, 0]}

    spec = [tf.TensorSpec([None], tf.string, name="text")]
    archive.add_endpoint("translate", translate, input_signature=spec)
    archive.add_endpoint("serving_default", translate, input_signature=spec)
    archive.write_out(str(path), verbose=False)
    outputs = "`translation` (string [batch]), `score` (float32 [batch], the search's ranking score)"
    describe(path, ctx.config, "translate", outputs,
             f"Decoding: {json.dumps(decoding)} (beam search runs inside the graph).", decoding=decoding)
    return path


def predict_table(model, texts: list[str]) -> pd.DataFrame:
    out = model.signatures["translate"](text=tf.constant(texts))
    return pd.DataFrame({"text": texts, "translation": [b.decode("utf-8") for b in out["translation"].numpy()],
                         "score": out["score"].numpy()})
