"""Translation with TensorFlow: source and target encoders, the Translator, training batches, export and serving.
What translation shares with captioning is in :mod:`seqpipe.tasks.seq2seq.runtime`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.tasks.seq2seq.runtime import Generator, Seq2SeqRuntime, target_ids


class Translator(Generator):
    """Raw source strings -> target strings (the source encoder runs inside the graph)."""

    input_spec = tf.TensorSpec([None], tf.string)

    def __init__(self, source_encoder, target_encoder, encoder_model, decoder, max_length: int):
        super().__init__(encoder_model, decoder, target_encoder, max_length)
        self.source_encoder = source_encoder

    @property
    def text_encoders(self):
        return [self.source_encoder, self.target_encoder]

    def encode(self, text):
        ids = self.source_encoder(text)
        memory, *states = self.encoder_model(ids, training=False)
        return memory, ids != 0, states

    def order(self, inputs):
        return np.argsort([len(t) for t in inputs], kind="stable")  # batches of similar length: less padding


class TranslationRuntime(Seq2SeqRuntime):
    """Source text in: the recurrent encoder built by the embed/encode stages, a source and a target vocabulary."""

    signature, input_name, output_name = "translate", "text", "translation"

    def build_encoders(self, ctx, cfg, build, train) -> None:
        """Source and target encoders: separate vocabularies, or one shared by both sides (``tokenize.shared``)."""
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

    def encoder_outputs(self, ctx):
        from seqpipe.layers.masks import NotEqual

        ids = ctx["token_ids"]
        return ids, ctx["encoded"], NotEqual(0, name="source_mask")(ids), ctx["encoder_states"], ctx["target_encoder"]

    def make_generator(self, ctx, encoder_model, decoder, target_encoder):
        return Translator(ctx["encoder"], target_encoder, encoder_model, decoder, target_encoder.max_length)

    def dataset(self, ctx, cfg, split, **kwargs):
        from seqpipe.data.batching import pair_dataset

        frame, translator = ctx["splits"][split], ctx["generator"]
        if not isinstance(frame, pd.DataFrame):  # a streamed training split: tokenized in the tf.data graph
            from seqpipe.data.batching import stream_epochs

            def tokenize(rows):
                target_in, target_out = target_ids(translator.target_encoder, rows["target"])
                return (translator.source_encoder.tokenize(rows["source"]), target_in), target_out

            return stream_epochs(frame, tokenize, lambda x, y: tf.shape(y)[0], cfg.batch_size,
                                 bucketing=cfg.bucketing, batch_tokens=cfg.batch_tokens,
                                 longest=translator.target_encoder.max_length, ctx=ctx)
        source = translator.source_encoder.tokenize(frame["source"].tolist())
        target_in, target_out = target_ids(translator.target_encoder, frame["target"].tolist())
        if kwargs.get("shuffle"):
            kwargs.update(bucketing=cfg.bucketing, batch_tokens=cfg.batch_tokens)
        return pair_dataset(source, target_in, target_out, cfg.batch_size, **kwargs)

    def examples(self, ctx, frame, limit=None):
        frame = frame.head(limit) if limit is not None else frame
        return frame["source"].tolist(), [[t] for t in frame["target"].tolist()], np.arange(len(frame))

    def table_columns(self, rows, references):
        return rows.rename(columns={"target": "reference"})

    def references(self, table):
        return [[t] for t in table["reference"].tolist()]

    def plot_attention(self, ctx, generator, index, example, tokens, attention):
        from seqpipe.tasks.translation.plots import plot_attention

        source = [t.decode("utf-8", "replace") for t in generator.source_encoder.tokens([example]).to_list()[0]]
        target = [generator.target_encoder.vocabulary[t] for t in tokens]
        return plot_attention(attention, source, target, ctx.path("plots", f"attention_{index}.png"))

    def known_tokens(self, generator, x):
        return generator.source_encoder.known_tokens(x)
