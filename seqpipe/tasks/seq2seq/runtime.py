"""The sequence-to-sequence core with TensorFlow: the decoder over any encoder, training with val_bleu and
scheduled sampling, compiled decoding, the evaluation table and scores, the string-in string-out export.

A decoder task's runtime derives from :class:`Seq2SeqRuntime` and gives what differs: its encoder's outputs
(:meth:`~Seq2SeqRuntime.encoder_outputs`), its :class:`Generator`, its training batches, its examples and
references, its attention plots and its export's names. The decoder is an
:class:`seqpipe.layers.decoder.AttentionDecoder`; any decoder with the same ``initial_state``/``step`` interface
plugs in here.
"""

from __future__ import annotations

import time
from typing import ClassVar

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.decoding import decode
from seqpipe.errors import SeqpipeError
from seqpipe.tasks.base import TaskRuntime
from seqpipe.tasks.seq2seq.scores import REFERENCE_SEPARATOR, corpus_score, sentence_scores, signatures
from seqpipe.text import END_ID, START_ID


def target_ids(encoder, texts: list[str]) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """``([START] y, y [END])`` with y truncated so both fit ``encoder.max_length``."""
    ids = encoder.tokenize(texts)[:, : encoder.max_length - 1]
    rows = ids.nrows()
    start = tf.fill([rows, 1], tf.constant(START_ID, tf.int64))
    end = tf.fill([rows, 1], tf.constant(END_ID, tf.int64))
    return tf.concat([start, ids], axis=1), tf.concat([ids, end], axis=1)


class Generator:
    """A task's inputs -> target texts with a decoding strategy, compiled with tf.function.

    ``encoder_model`` maps a batch of inputs to ``[memory, *final_states]``; ``decoder`` drives the search
    through ``initial_state(memory, mask, states)`` and ``step``; ``target_encoder`` detokenizes. Subclasses
    give :meth:`encode` (memory, its mask or None, the final states), ``input_spec`` and, optionally,
    :meth:`order` (the batching order).
    """

    input_spec: tf.TensorSpec

    def __init__(self, encoder_model, decoder, target_encoder, max_length: int):
        self.encoder_model, self.decoder, self.target_encoder = encoder_model, decoder, target_encoder
        self.max_length = int(max_length)
        self._compiled: dict = {}

    @property
    def text_encoders(self) -> list:
        """The tokenizer layers an export tracks."""
        return [self.target_encoder]

    def encode(self, inputs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor | None, list[tf.Tensor]]:
        raise NotImplementedError

    def order(self, inputs) -> np.ndarray:
        """The order in which to batch ``inputs`` (results come back in input order)."""
        return np.arange(len(inputs))

    def search(self, inputs: tf.Tensor, decoding: dict) -> dict:
        """Graph-mode search on a batch; decode()'s dict plus ``texts`` (string [B], the best), ``nbest_texts``
        (string [B, n], every returned hypothesis, best first) and ``memory_lengths``."""
        memory, mask, states = self.encode(inputs)
        state = self.decoder.initial_state(memory, mask, states)
        out = decode(self.decoder.step, state, start_id=START_ID, end_id=END_ID, max_length=self.max_length,
                     **decoding)
        tokens = out["tokens"]  # [B, n, T]
        flat = self.target_encoder.detokenize(tf.reshape(tokens, [-1, tf.shape(tokens)[2]]))
        out["nbest_texts"] = tf.reshape(flat, tf.shape(tokens)[:2])
        out["texts"] = out["nbest_texts"][:, 0]
        steps = tf.shape(memory)[1]
        out["memory_lengths"] = (tf.reduce_sum(tf.cast(mask, tf.int32), axis=1) if mask is not None
                                 else tf.fill([tf.shape(memory)[0]], steps))
        return out

    def function(self, decoding: dict):
        """A tf.function over input batches for this decoding config (cached)."""
        key = tuple(sorted(decoding.items()))
        if key not in self._compiled:
            self._compiled[key] = tf.function(lambda x: self.search(x, decoding), input_signature=[self.input_spec])
        return self._compiled[key]

    def run(self, inputs, decoding: dict, batch_size: int = 64) -> dict[str, list]:
        """Decode in batches; lists in input order: ``texts`` and ``scores`` (the best hypothesis and its search
        score), ``nbest`` and ``nbest_scores`` (a list per input of the strategy's ``n_best`` hypotheses and
        scores, best first), ``tokens`` (the best's ids, the end token included) and ``attention`` (steps x
        memory positions)."""
        order, fn, data = self.order(inputs), self.function(decoding), np.asarray(inputs)
        keys = ("texts", "scores", "nbest", "nbest_scores", "tokens", "attention")
        results: dict[str, list] = {key: [None] * len(inputs) for key in keys}
        for start in range(0, len(inputs), batch_size):
            idx = order[start : start + batch_size]
            out = fn(tf.constant(data[idx]))
            lengths, memory = out["lengths"][:, 0].numpy(), out["memory_lengths"].numpy()
            nbest, scores = out["nbest_texts"].numpy(), out["scores"].numpy()
            for j, i in enumerate(idx):
                results["nbest"][i] = [t.decode("utf-8") for t in nbest[j]]
                results["nbest_scores"][i] = [float(s) for s in scores[j]]
                results["texts"][i] = results["nbest"][i][0]
                results["scores"][i] = results["nbest_scores"][i][0]
                results["tokens"][i] = out["tokens"][j, 0, : lengths[j]].numpy()
                results["attention"][i] = out["attention"][j, : lengths[j], : memory[j]].numpy()
        return results


def recurrent_decoder(cfg, target_encoder, memory, states):
    """``kind: recurrent``: the attention decoder over the memory, initialised from the final states."""
    from seqpipe.layers.decoder import AttentionDecoder

    return AttentionDecoder(
        vocab_size=target_encoder.vocabulary_size, embed_dim=cfg.embed_dim, cell=cfg.cell, units=cfg.units,
        layers=cfg.layers, attention=cfg.attention, attention_units=cfg.attention_units,
        input_feeding=cfg.input_feeding, bridge=cfg.bridge, memory_dim=memory.shape[-1],
        encoder_state_dims=[s.shape[-1] for s in states], dropout=cfg.dropout, residual=cfg.residual, name="decoder")


def transformer_decoder(cfg, target_encoder, memory, states):
    """``kind: transformer``: keras-hub decoder blocks over the memory; the cache holds the target's length."""
    from seqpipe.layers.transformer import TransformerDecoderStack

    return TransformerDecoderStack(
        vocab_size=target_encoder.vocabulary_size, embed_dim=cfg.embed_dim or cfg.units, units=cfg.units,
        layers=cfg.layers, heads=cfg.heads, ff_dim=cfg.ff_dim, dropout=cfg.dropout,
        normalize_first=cfg.normalize_first, max_length=target_encoder.max_length, memory_dim=memory.shape[-1],
        name="decoder")


DECODER_KINDS = {"recurrent": recurrent_decoder, "transformer": transformer_decoder}  # decode.kind -> builder


class ValidationBleu(keras.callbacks.Callback):
    """After each epoch, decode a fixed validation subset and add ``val_bleu`` to the logs (against every
    reference of each example). It runs before the tracker, checkpoint and early-stopping callbacks."""

    def __init__(self, generator: Generator, inputs, references: list[list[str]], decoding: dict):
        super().__init__()
        self.generator, self.inputs, self.references, self.decoding = generator, inputs, references, decoding

    def on_epoch_end(self, epoch, logs=None):
        hypotheses = self.generator.run(self.inputs, self.decoding)["texts"]
        if logs is not None:
            logs["val_bleu"] = corpus_score("bleu", hypotheses, self.references)


class Seq2SeqRuntime(TaskRuntime):
    """Everything a decoder task does once its encoder exists; see the module docstring for what a task adds."""

    signature: ClassVar[str] = "generate"  # the export's signature (also serving_default)
    input_name: ClassVar[str] = "text"  # its input
    output_name: ClassVar[str] = "text"  # its text output (beside `score`)
    target_input: ClassVar[str] = "target_in"  # the training model's decoder input
    encoder_model_name: ClassVar[str] = "encoder"

    # -- what a task gives ----------------------------------------------------------------------------------------
    def encoder_outputs(self, ctx) -> tuple:
        """``(model input, memory, memory mask or None, [final states])`` as Keras tensors, and the target
        TextEncoder: ``(inputs, memory, mask, states, target_encoder)``."""
        raise NotImplementedError

    def make_generator(self, ctx, encoder_model, decoder, target_encoder) -> Generator:
        raise NotImplementedError

    def dataset(self, ctx, cfg, split: str, **kwargs):
        """Training batches ``((inputs, target_in), target_out)`` of ``split`` (``shuffle``/``seed`` for training)."""
        raise NotImplementedError

    def examples(self, ctx, frame: pd.DataFrame, limit: int | None = None) -> tuple:
        """``(inputs, references, rows)``: what the generator reads for each distinct example of ``frame``, each
        example's references, and the position in ``frame`` of its first row."""
        raise NotImplementedError

    def table_columns(self, rows: pd.DataFrame, references: list[list[str]]) -> pd.DataFrame:
        """The evaluation table's example columns from each example's first data row."""
        raise NotImplementedError

    def references(self, table: pd.DataFrame) -> list[list[str]]:
        """Each row's references."""
        raise NotImplementedError

    def plot_attention(self, ctx, generator, index: int, example, tokens, attention):
        """Draw one example's attention to ``plots/attention_<index>.png``; return the path."""
        raise NotImplementedError

    def describe_export(self, ctx, path, outputs: str, extra: str, decoding: dict) -> None:
        """The export's README.md and seqpipe.json (:func:`seqpipe.export.saved_model.describe`; ``n_best``: the
        hypotheses per input its signature returns)."""
        from seqpipe.export.saved_model import describe

        describe(path, ctx.config, self.signature, outputs, extra, decoding=decoding,
                 n_best=int(decoding.get("n_best", 1)))

    def serving_inputs(self, generator, x):
        """The export's input tensor as the generator reads it."""
        return x

    def known_tokens(self, generator, x):
        """int32 ``[batch]``: the input tokens the model knows (an output ``known_tokens``; where 0 the output is
        "" with score NaN: docs/serving.md#empty-and-unknown-input), or None for inputs that are not text."""
        return None

    # -- the decoder stage ----------------------------------------------------------------------------------------
    def build_decoder(self, ctx, cfg) -> None:
        """The decoder of ``cfg.kind`` over the task's encoder, the training model and the :class:`Generator`."""
        inputs, memory, mask, states, target_encoder = self.encoder_outputs(ctx)
        decoder = DECODER_KINDS[cfg.kind](cfg, target_encoder, memory, states)
        target_in = keras.Input(shape=(None,), dtype="int32", name=self.target_input)
        logits = decoder(target_in, memory, memory_mask=mask, encoder_states=states)
        model = keras.Model([inputs, target_in], logits, name=ctx.config.name.replace("-", "_"))
        encoder_model = keras.Model(inputs, [memory, *states], name=self.encoder_model_name)
        ctx.log.info("model: %s parameters", f"{model.count_params():,}")
        ctx.tracker.log_metrics({"parameters": model.count_params()})
        ctx.put("model", model)
        ctx.put("generator", self.make_generator(ctx, encoder_model, decoder, target_encoder))

    # -- train ----------------------------------------------------------------------------------------------------
    def fit(self, ctx, cfg):
        """Teacher forcing (or scheduled sampling, ``train.scheduled_sampling``) with the masked token
        cross-entropy; val_bleu on a fixed validation subset."""
        from seqpipe.layers.scheduled_sampling import scheduled_sampling_callbacks
        from seqpipe.train.fit import fit_model
        from seqpipe.train.losses import compile_token_model

        model, splits, generator = ctx["model"], ctx["splits"], ctx["generator"]
        train = self.dataset(ctx, cfg, "train", shuffle=True, seed=ctx.config.seed)
        valid = self.dataset(ctx, cfg, "valid") if len(splits["valid"]) else None
        compile_token_model(model, cfg, cfg.label_smoothing)
        first = []
        if cfg.validation_subset and len(splits["valid"]):
            inputs, references, _ = self.examples(ctx, splits["valid"], limit=cfg.validation_subset)
            first.append(ValidationBleu(generator, inputs, references, cfg.decoding.model_dump()))
        first += scheduled_sampling_callbacks(ctx, cfg, generator.decoder)
        return fit_model(ctx, cfg, model, train, valid, first)

    # -- the decoding stage ---------------------------------------------------------------------------------------
    def decode_splits(self, ctx, cfg) -> dict:
        """Decode the chosen splits (and greedily, side by side); attention plots of the first validation examples.

        Returns ``{split: {"rows", "references", "outputs": {suffix: Generator.run's lists}}}``, suffix ``""`` for
        the chosen strategy and ``"_greedy"`` for the comparison.
        """
        generator, splits = ctx["generator"], ctx["splits"]
        strategies = {"": cfg.decoding.model_dump()}
        if cfg.compare_greedy and cfg.decoding.strategy != "greedy":
            strategies["_greedy"] = {"strategy": "greedy"}
        hypotheses = {}
        for split in cfg.splits:
            inputs, references, rows = self.examples(ctx, splits[split])
            outputs = {}
            for suffix, decoding in strategies.items():
                t0 = time.perf_counter()
                outputs[suffix] = out = generator.run(inputs, decoding)
                seconds = time.perf_counter() - t0
                tokens = sum(len(t) for t in out["tokens"])
                ctx.tracker.log_metrics({f"{split}_decode_tokens_per_s{suffix}": tokens / seconds})
                ctx.log.info("%s: decoded %d examples (%s) in %.1f s, %.0f target tokens/s", split, len(inputs),
                             decoding["strategy"], seconds, tokens / seconds)
            hypotheses[split] = {"rows": rows, "references": references, "outputs": outputs}
        if cfg.attention_plots() and len(splits["valid"]):
            inputs, _, _ = self.examples(ctx, splits["valid"], limit=cfg.attention_plots())
            out = generator.run(inputs, strategies[""])
            for i, (tokens, attention) in enumerate(zip(out["tokens"], out["attention"])):
                png = self.plot_attention(ctx, generator, i, inputs[i], tokens, attention)
                ctx.tracker.log_artifact(png, "plots")
        return hypotheses

    # -- evaluate -------------------------------------------------------------------------------------------------
    def evaluation_table(self, ctx, cfg, split):
        """One row per example: its columns, then per strategy suffix ``hypothesis`` (the best), its sentence
        ``bleu``/``chrf`` and ``score`` (its search score); with ``n_best`` K > 1, the chosen strategy's other
        hypotheses last, best first: ``nbest_2``, ``nbest_score_2``, ..., ``nbest_K``, ``nbest_score_K``."""
        decoded = ctx["hypotheses"][split]
        rows = ctx["splits"][split].iloc[decoded["rows"]].reset_index(drop=True)
        table = self.table_columns(rows, decoded["references"])
        for suffix, out in decoded["outputs"].items():
            table[f"hypothesis{suffix}"] = out["texts"]
            scores = sentence_scores(out["texts"], decoded["references"])
            for column in scores.columns:
                table[f"{column}{suffix}"] = scores[column].to_numpy()
            table[f"score{suffix}"] = np.asarray(out["scores"], dtype=float)
        chosen = decoded["outputs"][""]
        for rank in range(2, max(map(len, chosen["nbest"]), default=1) + 1):
            table[f"nbest_{rank}"] = [texts[rank - 1] for texts in chosen["nbest"]]
            table[f"nbest_score_{rank}"] = [scores[rank - 1] for scores in chosen["nbest_scores"]]
        return table

    def score(self, ctx, cfg, table):
        """Corpus scores of every strategy's hypotheses against the rows' references, in ``evaluate.language``
        (resolved from ``tokenize.language``)."""
        metrics, references = list(cfg.metrics or self.task.default_metrics), self.references(table)
        suffixes = [c[len("hypothesis"):] for c in table.columns if c.startswith("hypothesis")]
        return {f"{m}{suffix}": corpus_score(m, table[f"hypothesis{suffix}"].tolist(), references, cfg.language)
                for suffix in suffixes for m in metrics}

    def write_report(self, ctx, cfg, split, table):
        """The table as a TSV (several references joined by `` | ``); as run tags, sacrebleu's signatures, how
        ``meteor`` matched words (``meteor.backend``) and the jar's arguments (``meteor_1.5.command``)."""
        from seqpipe.metrics import meteor_jar, text_scores

        out = ctx.path("evaluation", self.task.evaluation_file.format(split=split))
        written = table.copy()
        for column in written.columns:
            if len(written) and isinstance(written[column].iloc[0], list):
                written[column] = [REFERENCE_SEPARATOR.join(refs) for refs in written[column]]
        written.to_csv(out, sep="\t", index=False)
        ctx.tracker.log_artifact(out, "evaluation")
        metrics = list(cfg.metrics or self.task.default_metrics)
        tags = signatures(metrics, self.references(table))
        if "meteor" in metrics:
            tags["meteor.backend"] = text_scores.meteor_backend(cfg.language)
        if "meteor_1.5" in metrics:
            tags["meteor_1.5.command"] = meteor_jar.command(cfg.language)
        ctx.tracker.set_tags(tags)

    # -- export ---------------------------------------------------------------------------------------------------
    def export(self, ctx, cfg, path):
        """Save ``<signature>(<input>) -> {<output>, score}`` (also as serving_default), the search in the graph;
        with the decoding's ``n_best`` K > 1 also ``n_best`` (string [batch, K]) and ``n_best_scores``."""
        import json

        from seqpipe.export.saved_model import save_signatures

        generator, decoding = ctx["generator"], cfg.decoding.model_dump()
        n_best = int(decoding.get("n_best", 1))

        def endpoint(x):
            out = generator.search(self.serving_inputs(generator, x), decoding)
            outputs = {self.output_name: out["texts"], "score": out["scores"][:, 0]}
            if n_best > 1:
                outputs.update(n_best=out["nbest_texts"], n_best_scores=out["scores"])
            known = self.known_tokens(generator, x)
            if known is not None:
                answered = known > 0
                for name, value in outputs.items():
                    where = answered if value.shape.rank == 1 else answered[:, None]
                    outputs[name] = tf.where(where, value, "" if value.dtype == tf.string else float("nan"))
                outputs["known_tokens"] = known
            return outputs

        save_signatures(path, [generator.encoder_model, generator.decoder, *generator.text_encoders],
                        {self.signature: endpoint, "serving_default": endpoint}, input_name=self.input_name)
        outputs = f"`{self.output_name}` (string [batch]), `score` (float32 [batch], the search's ranking score)"
        if self.known_tokens(generator, tf.constant([""])) is not None:
            outputs += (", `known_tokens` (int32 [batch]; an input with none gets \"\" and NaN scores, not a "
                        "guess)")
        if n_best > 1:
            outputs += (f", `n_best` (string [batch, {n_best}], the {n_best} best hypotheses, best first) and "
                        f"`n_best_scores` (float32 [batch, {n_best}], their scores)")
        self.describe_export(ctx, path, outputs, f"Decoding: {json.dumps(decoding)} (beam search runs inside the "
                                                 "graph).", decoding)
        return path

    # -- seqpipe predict ------------------------------------------------------------------------------------------
    def predict_table(self, saved_model, inputs, meta, params=None):
        """The served table without its n-best lists (``--n-best K`` shows them one per row)."""
        table = super().predict_table(saved_model, inputs, meta, params)
        return table.drop(columns=[c for c in self.serving_module().LISTS if c in table])

    def predict_nbest(self, saved_model, inputs, meta, n_best):
        kept = int(meta.get("n_best", 1))
        if n_best > kept:
            stage = self.task.decoding_stage
            raise SeqpipeError(f"--n-best {n_best}: this export keeps {kept} per input (n_best: {kept}); export again "
                               f"with export.decoding.n_best: {n_best} or more (beam search, beam_width >= n_best; "
                               f"unset, export.decoding is {stage}.decoding, so {stage}.decoding.n_best sets it)")
        table = super().predict_table(saved_model, inputs, meta)
        texts, scores = ((table["n_best"], table["n_best_scores"]) if "n_best" in table
                         else (table[self.output_name].map(lambda t: [t]), table["score"].map(lambda s: [s])))
        rows = [(x, rank + 1, texts[i][rank], float(scores[i][rank]))
                for i, x in enumerate(table[self.input_name]) for rank in range(n_best)]
        return pd.DataFrame(rows, columns=[self.input_name, "rank", self.output_name, "score"])
