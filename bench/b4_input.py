"""B4: the input pipeline: how batches are made, what share of them is padding, and what that costs in training.

Data: a slice of the bible-en-es training split (``load_splits`` as the translation pipelines split it),
tokenized with the translation smoke pipeline's settings (SentencePiece, 600 pieces per side,
``max_length`` 32; targets ``[START] y`` / ``y [END]``). Four ways to batch the same pairs, 64 pairs a
batch unless said otherwise, shuffled every epoch:

- pad to max: every batch padded to ``max_length`` (32) on both sides;
- padded batches: padded to the batch's longest (``pair_dataset(bucketing=False)``);
- length buckets: seqpipe's ``train.bucketing`` (``pair_dataset(bucketing=True)``: 8 buckets at target
  length quantiles);
- token budget: batches of as many pairs as fit in 64 x 32 = 2,048 padded target tokens, pairs sorted
  by target length (``train.batch_tokens``, i.e. ``pair_dataset(batch_tokens=...)``, when this checkout
  has it; otherwise the benchmark builds the same batches itself and says so).

For each: the padded share of the token slots (source and target, over one epoch), and real
(non-padding) source + target tokens per second through a fixed small model (the translation smoke
model: embeddings 16, BiLSTM 16, LSTM decoder 32 with Bahdanau attention and input feeding, dense
bridge; every variant starts from the same weights), one ``fit`` epoch at a time, interleaved across
variants (order rotating), after a first epoch that is reported separately (it traces). Retraces: the
number of times Keras traced the training step (a Python counter in ``train_step``, which only runs
while tracing).
"""

from __future__ import annotations

import inspect
import sys
import time
from pathlib import Path

from bench._common import load_average, spread_fmt
from bench.suite import main_module

ID, TITLE = "B4", "input pipeline: padding, throughput and retraces by batching strategy"
MAX_LENGTH, BATCH, SEED = 32, 64, 13
BUDGET = BATCH * MAX_LENGTH


def token_budget_fallback(source, target_in, target_out, budget: int, seed: int):
    """Token-budget batches built here (same rule as seqpipe's ``train.batch_tokens``): sorted by target length,
    cut where ``longest x rows`` would pass ``budget``, served in a seeded order per epoch."""
    import numpy as np
    import tensorflow as tf

    from seqpipe.data.batching import EpochData

    lengths = target_out.row_lengths().numpy()
    columns = [c.to_tensor() for c in (source, target_in, target_out)]
    row_lengths = [c.row_lengths() for c in (source, target_in, target_out)]
    ordered = np.sort(lengths)
    splits, rows = [0], 0
    for i, length in enumerate(ordered.tolist()):
        if rows and (rows + 1) * length > budget:
            splits.append(i)
            rows = 0
        rows += 1
    splits.append(len(ordered))

    def rows_of(i):
        s, ti, to = (c[i][: n[i]] for c, n in zip(columns, row_lengths))
        return (s, ti), to

    def epoch(e):
        rng = np.random.default_rng([seed, int(e)])
        order = rng.permutation(len(lengths))
        by_length = order[np.argsort(lengths[order], kind="stable")]  # by length; ties in the epoch's order
        batches = [by_length[a:b] for a, b in zip(splits[:-1], splits[1:])]
        order = rng.permutation(len(batches))
        ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant([batches[k] for k in order]))
        return ds.flat_map(lambda idx: tf.data.Dataset.from_tensor_slices(idx).map(rows_of).padded_batch(budget))

    return EpochData(epoch, len(splits) - 1)


def pad_to_max(source, target_in, target_out, seed: int):
    import tensorflow as tf

    from seqpipe.data.batching import EpochData, epoch_order

    dense = [c.to_tensor(shape=[None, MAX_LENGTH]) for c in (source, target_in, target_out)]
    n = int(source.nrows())

    def epoch(e):
        order = epoch_order(n, seed, e)
        return tf.data.Dataset.from_tensor_slices(order).map(
            lambda i: ((dense[0][i], dense[1][i]), dense[2][i])).batch(BATCH)

    return EpochData(epoch, -(-n // BATCH))


def slots(dataset) -> tuple[int, int, int]:
    """(real tokens, token slots, batches) of one epoch of ``dataset``, source and target together."""
    real = total = batches = 0
    for (s, _), to in dataset:
        batches += 1
        for part in (s.numpy(), to.numpy()):
            real += int((part != 0).sum())
            total += part.size
    return real, total, batches


def run(quick: bool) -> dict:
    from seqpipe._quiet import import_tensorflow

    import_tensorflow()
    import keras

    from bench._common import sentencepiece
    from seqpipe.data import load_splits
    from seqpipe.data.batching import pair_dataset
    from seqpipe.data.config import DataConfig
    from seqpipe.layers.decoder import AttentionDecoder
    from seqpipe.layers.recurrent import recurrent_stack
    from seqpipe.tasks.seq2seq.runtime import target_ids
    from seqpipe.train.losses import MaskedCrossEntropy

    pairs, rounds = (800, 2) if quick else (6000, 3)
    load_start = load_average()
    keras.utils.set_random_seed(SEED)  # before any SentencePiece resource exists (see bench/b5_decoding.py)
    cfg = DataConfig.model_validate({"source": {"recipe": "bible-en-es"},
                                     "split": {"valid": 0.02, "test": 0.02, "stratify": False}})
    train = load_splits(cfg, roles=["source", "target"], seed=SEED, base_dir=Path("."))["train"].head(pairs)
    src_enc = sentencepiece(train["source"].tolist(), "source_encoder", 600, MAX_LENGTH)
    tgt_enc = sentencepiece(train["target"].tolist(), "target_encoder", 600, MAX_LENGTH)
    source = src_enc.tokenize(train["source"].tolist())
    target_in, target_out = target_ids(tgt_enc, train["target"].tolist())

    native_budget = "batch_tokens" in inspect.signature(pair_dataset).parameters
    strategies = {
        "pad to max (32)": pad_to_max(source, target_in, target_out, SEED),
        "padded batches": pair_dataset(source, target_in, target_out, BATCH, shuffle=True, seed=SEED),
        "length buckets (train.bucketing)": pair_dataset(source, target_in, target_out, BATCH, shuffle=True,
                                                         seed=SEED, bucketing=True),
        f"token budget {BUDGET} ({'train.batch_tokens' if native_budget else 'built by the benchmark'})": (
            pair_dataset(source, target_in, target_out, BATCH, shuffle=True, seed=SEED, bucketing=True,
                         batch_tokens=BUDGET) if native_budget
            else token_budget_fallback(source, target_in, target_out, BUDGET, SEED)),
    }

    def build():
        keras.utils.set_random_seed(SEED)
        ids = keras.Input(shape=(None,), dtype="int32")
        x = keras.layers.Embedding(src_enc.vocabulary_size, 16, mask_zero=True)(ids)
        memory, states = recurrent_stack(x, cell="lstm", units=16, layers=1, bidirectional=True, return_state=True)
        decoder = AttentionDecoder(vocab_size=tgt_enc.vocabulary_size, embed_dim=16, cell="lstm", units=32,
                                   layers=1, attention="bahdanau", input_feeding=True, bridge="dense",
                                   memory_dim=memory.shape[-1], encoder_state_dims=[s.shape[-1] for s in states],
                                   dropout=0.2)
        t_in = keras.Input(shape=(None,), dtype="int32")
        mask = keras.layers.Lambda(lambda t: keras.ops.not_equal(t, 0))(ids)
        return keras.Model([ids, t_in], decoder(t_in, memory, mask, states))

    template = build().get_weights()
    models, traces = {}, {}
    for name in strategies:
        model = models[name] = build()
        model.set_weights(template)
        model.compile(keras.optimizers.Adam(2e-3, clipnorm=5.0), loss=MaskedCrossEntropy(0.1))
        traces[name] = 0

        def counted(data, _step=model.train_step, _name=name):
            traces[_name] += 1  # Python runs here only while tf.function traces the step
            return _step(data)

        model.train_step = counted
    padding = {name: slots(data.epoch(0)) for name, data in strategies.items()}
    first, seconds, traces_after_first = {}, {name: [] for name in strategies}, {}
    names = list(strategies)
    for r in range(rounds + 1):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            models[name].fit(strategies[name].epoch(r), epochs=1, verbose=0)
            elapsed = time.perf_counter() - t0
            if r == 0:
                first[name], traces_after_first[name] = elapsed, traces[name]
            else:
                seconds[name].append(elapsed)
        print(f"B4 epoch {r + 1}/{rounds + 1} done", file=sys.stderr, flush=True)

    rows = []
    base = None
    for name in strategies:
        real, total, batches = padding[name]
        rates = [real / s for s in seconds[name]]
        base = base or rates
        rows.append([name, f"{batches}", f"{100 * (1 - real / total):.1f}%", spread_fmt(rates),
                     spread_fmt([a / b for a, b in zip(rates, base)], "{:.2f}"), f"{first[name]:.1f}",
                     f"{traces_after_first[name]} / {traces[name]}"])
    lengths = target_out.row_lengths().numpy()
    return {"tables": [{
        "title": f"{len(train):,} training pairs; real tokens/s median (min-max) over {rounds} epochs per strategy",
        "columns": ["batching", "batches per epoch", "padded share of token slots", "real tokens/s",
                    "ratio to pad to max (same epoch)", "first epoch (s, tracing included)",
                    "training-step traces after the first epoch / at the end"], "rows": rows}],
        "notes": [f"Target lengths ([END] included): median {int(sorted(lengths)[len(lengths) // 2])}, "
                  f"{100 * (lengths >= MAX_LENGTH).mean():.0f}% at the cap of {MAX_LENGTH}; source and target "
                  f"real tokens per epoch: {padding[names[0]][0]:,}.",
                  "Token budget: " + ("seqpipe's train.batch_tokens (pair_dataset(batch_tokens=...))."
                                      if native_budget else "this checkout has no train.batch_tokens in "
                                      "seqpipe.data.batching.pair_dataset, so the benchmark builds the batches "
                                      "itself (bench/b4_input.py: token_budget_fallback)."),
                  "Keras traces its training step with reduce_retracing: after two or three shapes it traces "
                  "one generic-shape step, so a retrace costs only the first epochs.",
                  f"Load average at the start {load_start}, at the end {load_average()}."]}


if __name__ == "__main__":
    main_module(run)
