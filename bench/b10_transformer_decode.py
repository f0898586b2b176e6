"""B10: Transformer decoding speed at output length 20 and 80: seqpipe's key/value-cached step against rerunning
the whole prefix at every step, same model, same compiled search.

The model is the width of ``configs/models/transformer.yaml``'s decoder (width 128, 3 blocks, 4 heads, feed-forward
512) over a 4,000-token vocabulary, with random weights (speed does not depend on them) and a random memory of 30
source positions. Both variants run seqpipe's greedy ``decode`` (one ``tf.while_loop`` inside a ``tf.function``,
traced before timing) for exactly L tokens (the end token is never produced):

* cached: :meth:`TransformerDecoderStack.step`, one position written into each block's self-attention cache and
  the memory's keys/values projected once;
* prefix rerun: a step that keeps the tokens so far in its state and calls the teacher-forced decoder on the
  whole prefix, keeping the last position's logits (what a decoder without a cache does).

Figures are target tokens/s (batch x L / seconds), median (min-max) over repeats, interleaved so that machine
noise hits both alike; the ratio is taken within a repeat.
"""

from __future__ import annotations

import time

from bench.suite import main_module, spread

ID = "B10"
TITLE = "Transformer decoding: key/value cache vs rerunning the prefix (tokens/s)"
SETTINGS = {False: {"batch": 32, "repeats": 5, "lengths": (20, 80)}, True: {"batch": 8, "repeats": 2,
                                                                           "lengths": (20, 80)}}
VOCAB, SOURCE, START = 4000, 30, 2


def run(quick: bool) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from seqpipe.decoding import decode
    from seqpipe.layers.transformer import TransformerDecoderStack

    s = SETTINGS[quick]
    keras.utils.set_random_seed(0)
    rows = []
    for length in s["lengths"]:
        decoder = TransformerDecoderStack(VOCAB, 128, units=128, layers=3, heads=4, ff_dim=512, max_length=length,
                                          memory_dim=256)
        memory = tf.random.normal((s["batch"], SOURCE, 256))
        mask = tf.ones((s["batch"], SOURCE), tf.bool)
        decoder(tf.fill([s["batch"], 1], START), memory, mask)

        def rerun_step(tokens, state):
            index = state["index"][0]
            prefix = tf.tensor_scatter_nd_update(state["tokens"], tf.stack(
                [tf.range(tf.shape(tokens)[0]), tf.fill(tf.shape(tokens), index)], 1), tokens)
            logits = decoder(prefix[:, : index + 1], state["memory"], state["mask"])[:, -1]
            return logits, {**state, "tokens": prefix, "index": state["index"] + 1}, None

        def rerun_state():
            return {"tokens": tf.zeros((s["batch"], length), tf.int32), "memory": memory, "mask": mask,
                    "index": tf.zeros((s["batch"],), tf.int32)}

        search = {"cached": tf.function(lambda: decode(decoder.step, decoder.initial_state(memory, mask),
                                                       start_id=START, end_id=VOCAB + 1, max_length=length,
                                                       strategy="greedy")["tokens"]),
                  "prefix rerun": tf.function(lambda: decode(rerun_step, rerun_state(), start_id=START,
                                                             end_id=VOCAB + 1, max_length=length,
                                                             strategy="greedy")["tokens"])}
        outputs = {name: fn().numpy() for name, fn in search.items()}  # traced here, before timing
        assert np.array_equal(outputs["cached"], outputs["prefix rerun"]), "the two searches disagree"
        speeds = {name: [] for name in search}
        for repeat in range(s["repeats"]):
            for name in (list(search) if repeat % 2 == 0 else list(reversed(search))):
                t0 = time.perf_counter()
                search[name]().numpy()
                speeds[name].append(s["batch"] * length / (time.perf_counter() - t0))
        ratios = [c / r for c, r in zip(speeds["cached"], speeds["prefix rerun"])]
        rows.append([length, spread(speeds["cached"]), spread(speeds["prefix rerun"]), spread(ratios)])
    return {"tables": [{"title": f"{TITLE}, batch {s['batch']}, greedy",
                        "columns": ["output length", "cached (tokens/s)", "prefix rerun (tokens/s)",
                                    "cached / rerun"], "rows": rows}],
            "notes": ["Both searches produce the same tokens (checked). The cache has max_length positions, so a "
                      "cached step attends over L masked positions: its cost does not grow with the prefix, but "
                      "does with the output limit."]}


if __name__ == "__main__":
    main_module(run)
