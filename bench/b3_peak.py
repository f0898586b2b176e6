"""B3: how much of the machine the recurrent stack uses: its training FLOP/s over the measured matmul FLOP/s.

One process measures, round after round: fp32 matmul GFLOP/s of a 2048 x 2048 by 2048 x 2048
product with numpy (``a @ b``) and with ``tf.matmul`` (eager, result fetched), 2 n^3 FLOPs each; then the
training throughput of seqpipe's encoder stack (``recurrent_stack``, one layer; the same training step
as B2: batch 64 x length 100, MSE against a random target, SGD, ``train_on_batch``).

The stack's useful FLOPs per token and layer and direction: forward 8h(x+h) for an LSTM (four gates,
each an (x+h) x h matrix-vector product at 2 FLOPs per multiply-add) and 6h(x+h) for a GRU, times 3 for
training (the backward pass costs about twice the forward). Element-wise work is not counted, so the
fraction is a lower bound of the arithmetic done. The fraction is taken within a round (same process,
matmuls measured in the same round), median (min-max) over rounds.
"""

from __future__ import annotations

import sys
import time

from bench._common import load_average, median, ratios, spread_fmt
from bench.suite import main_module, spread

ID, TITLE = "B3", "fraction of peak: recurrent training FLOP/s over measured matmul FLOP/s"
N = 2048


def flops_per_step(config: dict, batch: int, length: int) -> float:
    per_token = (8 if config["cell"] == "lstm" else 6) * config["units"] * (config["input"] + config["units"])
    return 3 * per_token * batch * length * (2 if config["bidirectional"] else 1)


def matmuls(reps: int) -> dict[str, float]:
    """GFLOP/s of numpy and tf.matmul, the median of ``reps`` products each (one untimed first)."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((N, N), dtype="float32"), rng.standard_normal((N, N), dtype="float32")
    ta, tb = tf.constant(a), tf.constant(b)
    out = {}
    for name, fn in (("numpy", lambda: a @ b), ("tf.matmul", lambda: tf.matmul(ta, tb).numpy())):
        fn()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[name] = 2 * N ** 3 / median(times) / 1e9
    return out


def run(quick: bool) -> dict:
    from seqpipe._quiet import import_tensorflow

    tf = import_tensorflow()
    import numpy as np

    from bench.b2_recurrent import BATCH, INPUTS, LENGTH, keras_model, key

    rounds, steps, reps = (2, 2, 3) if quick else (3, 3, 5)
    plan = [{"cell": cell, "bidirectional": bi, "units": units, "input": INPUTS[units], "precision": "float32"}
            for cell in ("lstm", "gru") for units, bi in ((128, False), (512, False), (512, True))]
    if quick:
        plan = [c for c in plan if c["cell"] == "lstm" and not c["bidirectional"]]
    load_start = load_average()
    models = {}
    for config in plan:  # build and warm up (tracing) before any timing
        models[key(config)] = keras_model(config, "seqpipe")
        for _ in range(3):
            models[key(config)]()
    peak = {"numpy": [], "tf.matmul": []}
    achieved = {key(c): [] for c in plan}
    for r in range(rounds):
        for name, value in matmuls(reps).items():
            peak[name].append(value)
        for config in plan:
            times = []
            for _ in range(steps):
                t0 = time.perf_counter()
                models[key(config)]()
                times.append(time.perf_counter() - t0)
            achieved[key(config)].append(flops_per_step(config, BATCH, LENGTH) / median(times) / 1e9)
        print(f"B3 round {r + 1}/{rounds} done", file=sys.stderr, flush=True)

    rows = []
    for config in plan:
        values = achieved[key(config)]
        rows.append([key(config), f"{flops_per_step(config, BATCH, LENGTH) / 1e9:.1f}", spread_fmt(values, "{:.1f}"),
                     spread(ratios(values, peak["numpy"]), 2), spread(ratios(values, peak["tf.matmul"]), 2)])
    threading = tf.config.threading
    threads = (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads())
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {}).get("name", "?")
    return {"tables": [
        {"title": f"fp32 matmul {N} x {N} (GFLOP/s, median (min-max) over {rounds} rounds of {reps} products)",
         "columns": ["implementation", "GFLOP/s"],
         "rows": [[name, spread_fmt(values, "{:.1f}")] for name, values in peak.items()]},
        {"title": f"seqpipe recurrent stack, training (batch {BATCH} x length {LENGTH}, float32; {steps} steps per "
                  "round)",
         "columns": ["layer", "GFLOP per step", "GFLOP/s", "fraction of numpy matmul", "fraction of tf.matmul"],
         "rows": rows}],
        "notes": [f"numpy's BLAS: {blas}; TensorFlow intra-/inter-op threads: {threads[0]}/{threads[1]} "
                  "(0 = TensorFlow's default: all cores).",
                  "FLOPs counted: 3 x 8h(x+h) (LSTM) or 3 x 6h(x+h) (GRU) per token, layer and direction; "
                  "element-wise gate work, the loss and the SGD update are not counted.",
                  f"Load average at the start {load_start}, at the end {load_average()}."]}


if __name__ == "__main__":
    main_module(run)
