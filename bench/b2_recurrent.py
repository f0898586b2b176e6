"""B2: recurrent training throughput: stock Keras layers, seqpipe's encoder stack and PyTorch, side by side.

LSTM and GRU, one layer, uni- and bidirectional, h = 128 (input 64) and h = 512 (input 256, the
README's larger size), batch 64, sequence length 100, float32. One training step: forward over the
whole sequence (the sequence output), mean squared error against a fixed random target, backward,
an SGD update. Three implementations, each in its own long-lived worker process, so that neither
framework's thread pools ever share a process with the other's:

- (a) ``keras``: ``keras.layers.LSTM/GRU`` (wrapped in ``Bidirectional``), compiled with Keras's
  defaults (no XLA on a CPU) and stepped with ``train_on_batch``;
- (b) ``seqpipe``: ``seqpipe.layers.recurrent.recurrent_stack`` (the ``encode`` stage's builder), same
  compile and stepping; on a machine without a GPU its LSTMs of >= 512 units are
  ``seqpipe.cells.keras_cells.fused_lstm.FusedLSTM`` (the Keras layer with one input projection for all
  steps and a hand-written gradient), narrower ones and GRUs are the Keras layers themselves;
- (c) ``torch``: ``torch.nn.LSTM/GRU(batch_first=True, bidirectional=...)`` with
  ``torch.set_num_threads(2)``; PyTorch 2.13.0 (CPU build) is installed for the benchmark only when the
  running Python lacks it (see ``bench._common.torch_site``), and the PyTorch columns are skipped with a
  note when it cannot be installed.

Each model is built and stepped (warm-up, untimed) the first time it is asked for. Then, in every
round, every configuration asks every worker in turn (the order rotating) for a few timed steps; only one
worker runs at a time. A round's figure is the median step of its steps; tokens/s = 64 x 100 / step;
the ratio to PyTorch is taken within the round. An extra row runs the Keras and seqpipe LSTM(512) under
``mixed_bfloat16`` (this CPU has AVX512_BF16 / AMX-BF16).

The profile of the LSTM(512) gap (``floor``): in every round, the TensorFlow worker and the PyTorch worker
also time the matrix products alone that one training step of that LSTM cannot avoid, at its shapes:
the input projection of all steps (6400 x 256 by 256 x 2048), 100 sequential recurrent products
(64 x 512 by 512 x 2048) forward and 100 backward (64 x 2048 by 2048 x 512), and the three weight and
input gradients as whole-sequence products (256 x 6400 by 6400 x 2048, 512 x 6400 by 6400 x 2048,
6400 x 2048 by 2048 x 256); the sequential products are chained (each takes the previous one's output,
sliced or tiled to shape), as in the real recurrence. The floor over a framework's real step says how
much of the step is matrix products, and the two floors side by side say how fast each framework's
matrix kernels are at these shapes.
"""

from __future__ import annotations

import json
import os
import sys
import time

from bench._common import Worker, load_average, median, quiet_env, ratios, rotate, serve, spread_fmt, torch_site
from bench.suite import main_module, spread

ID, TITLE = "B2", "recurrent training throughput vs PyTorch"
BATCH, LENGTH = 64, 100
INPUTS = {128: 64, 512: 256}  # units -> input width


def configs(quick: bool) -> list[dict]:
    out = [{"cell": cell, "bidirectional": bi, "units": units, "input": INPUTS[units], "precision": "float32"}
           for units in (128, 512) for cell in ("lstm", "gru") for bi in (False, True)]
    bf16 = {"cell": "lstm", "bidirectional": False, "units": 512, "input": 256, "precision": "mixed_bfloat16"}
    if quick:  # a check of the code: h = 128 only (the bfloat16 row too)
        out = [c for c in out if c["units"] == 128 and (c["cell"] == "lstm") != c["bidirectional"]]
        bf16 = dict(bf16, units=128, input=64)
    return out + [bf16]


def key(config: dict) -> str:
    return (f"{'Bi' if config['bidirectional'] else ''}{config['cell'].upper()}({config['units']}), input "
            f"{config['input']}" + ("" if config["precision"] == "float32" else f", {config['precision']}"))


# -- workers --------------------------------------------------------------------------------------
def keras_model(config: dict, flavour: str):
    import keras

    keras.mixed_precision.set_global_policy(config["precision"])
    try:
        keras.utils.set_random_seed(0)
        x = keras.Input((LENGTH, config["input"]))
        if flavour == "seqpipe":
            from seqpipe.layers.recurrent import recurrent_stack

            y = recurrent_stack(x, cell=config["cell"], units=config["units"], layers=1,
                                bidirectional=config["bidirectional"])
        else:
            layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[config["cell"]](config["units"],
                                                                                       return_sequences=True)
            y = keras.layers.Bidirectional(layer)(x) if config["bidirectional"] else layer(x)
        model = keras.Model(x, y)
        model.compile(keras.optimizers.SGD(1e-3), "mse")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    import numpy as np

    rng = np.random.default_rng(0)
    data = (rng.standard_normal((BATCH, LENGTH, config["input"]), dtype="float32"),
            rng.standard_normal((BATCH, LENGTH, config["units"] * (2 if config["bidirectional"] else 1)),
                                dtype="float32"))

    def step():
        model.train_on_batch(*data)

    return step


def torch_model(config: dict):
    import torch

    torch.manual_seed(0)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[config["cell"]]
    model = cls(config["input"], config["units"], batch_first=True, bidirectional=config["bidirectional"])
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(BATCH, LENGTH, config["input"])
    target = torch.randn(BATCH, LENGTH, config["units"] * (2 if config["bidirectional"] else 1))

    def step():
        optimizer.zero_grad(set_to_none=True)
        y, _ = model(x)
        torch.nn.functional.mse_loss(y, target).backward()
        optimizer.step()

    return step


def floor_step(flavour: str, units: int = 512, inputs: int = 256):
    """The matrix products alone of one LSTM training step (see the module docstring), as a callable."""
    gates = 4 * units
    if flavour == "torch":
        import torch

        torch.manual_seed(0)
        lib, randn = torch, (lambda *shape: torch.randn(*shape))
        mm, transpose, tile = torch.mm, (lambda a: a.t().contiguous()), (lambda a, k: a.repeat(1, k))
        mm_t = lambda a, b: torch.mm(a.t(), b)  # noqa: E731  a^T b without a copy
    else:
        import numpy as np
        import tensorflow as tf

        rng = np.random.default_rng(0)
        lib, randn = tf, (lambda *shape: tf.constant(rng.standard_normal(shape, dtype="float32")))
        mm, transpose, tile = tf.matmul, tf.transpose, (lambda a, k: tf.tile(a, [1, k]))
        mm_t = lambda a, b: tf.matmul(a, b, transpose_a=True)  # noqa: E731
    xs, w = randn(BATCH * LENGTH, inputs), randn(inputs, gates) / inputs ** 0.5
    u = randn(units, gates) / units ** 0.5
    ut, wt, hs = transpose(u), transpose(w), randn(BATCH * LENGTH, units)
    dgates, h0 = randn(BATCH * LENGTH, gates), randn(BATCH, units)

    def products():
        projected = mm(xs, w)
        h = h0
        for _ in range(LENGTH):
            h = mm(h, u)[:, :units]
        d = h
        for _ in range(LENGTH):
            d = mm(tile(d, 4), ut) * 0.25
        return (projected, h, d, mm_t(xs, dgates), mm_t(hs, dgates), mm(dgates, wt))

    if flavour == "torch":
        def step():
            with lib.no_grad():
                products()
        return step
    return lib.function(products)  # on a CPU its call returns when the products are done


def worker(flavour: str) -> None:
    if flavour == "torch":
        import torch

        torch.set_num_threads(2)
    else:
        from seqpipe._quiet import import_tensorflow

        import_tensorflow()
    steps: dict[str, object] = {}

    def handle(request: dict) -> dict:
        config, floor = request["config"], request.get("floor", False)
        name = ("floor " if floor else "") + key(config)
        warm = None
        if name not in steps:
            started = time.perf_counter()
            if floor:
                steps[name] = floor_step(flavour, config["units"], config["input"])
            else:
                steps[name] = torch_model(config) if flavour == "torch" else keras_model(config, flavour)
            for _ in range(request.get("warmup", 3)):
                steps[name]()
            warm = time.perf_counter() - started
        times = []
        for _ in range(request["steps"]):
            t0 = time.perf_counter()
            steps[name]()
            times.append(time.perf_counter() - t0)
        return {"times": times, "warmup_s": warm}

    if flavour == "torch":
        import torch

        versions = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                    "mkldnn": torch.backends.mkldnn.is_available()}
    else:
        import keras
        import tensorflow as tf

        versions = {"tensorflow": tf.__version__, "keras": keras.__version__,
                    "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}
    sys.stdout.write(json.dumps(versions) + "\n")
    sys.stdout.flush()
    serve(handle)


def floor_table(config: dict, floors: dict, times: dict) -> dict:
    """The matmul floor of ``config``'s LSTM step beside the real steps (ms), per round, and what they say."""
    name = key(config)
    ms = {flavour: [1000 * t for t in values] for flavour, values in floors.items()}
    rows = []
    for flavour, step_of in (("keras", "seqpipe"), ("keras", "keras"), ("torch", "torch")):
        if flavour not in ms or (name, step_of) not in times:
            continue
        step = [1000 * t for t in times[(name, step_of)]]
        label = "TensorFlow" if flavour == "keras" else "PyTorch"
        rows.append([f"{label} matmuls / {step_of} step", spread_fmt(ms[flavour]), spread_fmt(step),
                     spread([f / t for f, t in zip(ms[flavour], step)])])
    if "keras" in ms and "torch" in ms:
        rows.append(["PyTorch matmuls / TensorFlow matmuls", spread_fmt(ms["torch"]), spread_fmt(ms["keras"]),
                     spread([t / k for t, k in zip(ms["torch"], ms["keras"])])])
        if (name, "torch") in times:
            rows.append(["PyTorch step / TensorFlow matmuls", spread_fmt([1000 * t for t in times[(name, "torch")]]),
                         spread_fmt(ms["keras"]), spread([1000 * t / k for t, k in
                                                          zip(times[(name, "torch")], ms["keras"])])])
    return {"title": f"profile of the {name} training step: its matrix products alone (the floor; see "
                     "bench/b2_recurrent.py) against whole steps, ms, median (min-max) over rounds; ratio within "
                     "each round (< 1 in the last row: PyTorch's whole step is faster than TensorFlow's products "
                     "alone)",
            "columns": ["comparison", "first (ms)", "second (ms)", "first / second"], "rows": rows}


# -- the benchmark ---------------------------------------------------------------------------------
def start_workers() -> tuple[dict, list[str]]:
    notes = []
    site, how = torch_site()
    workers = {}
    for flavour in ("keras", "seqpipe", "torch"):
        if flavour == "torch" and site is None:
            notes.append(f"PyTorch columns skipped: {how}.")
            continue
        env = quiet_env()
        if flavour == "torch" and site:
            env["PYTHONPATH"] = os.pathsep.join([site, env["PYTHONPATH"]])
        workers[flavour] = Worker("bench.b2_recurrent", [flavour], env=env)
        line = workers[flavour].proc.stdout.readline()
        workers[flavour].info = json.loads(line) if line.strip() else {}
    if "torch" in workers:
        notes.append(f"PyTorch: {how}; {workers['torch'].info}. PyTorch's OpenMP threads spin while they wait for "
                     "each other, so when other processes compete for the 2 cores its step times spread far more "
                     "than TensorFlow's: read its column with the load average below.")
    return workers, notes


def run(quick: bool) -> dict:
    rounds, per_call = (2, 2) if quick else (3, 2)
    load_start = load_average()
    workers, notes = start_workers()
    plan = configs(quick)
    times: dict[tuple[str, str], list[float]] = {}  # (config, flavour) -> median step per round
    warmup: dict[tuple[str, str], float] = {}
    floors: dict[str, list[float]] = {}  # flavour -> the floor's median time per round
    floor_config = next(c for c in plan if c["cell"] == "lstm" and not c["bidirectional"]
                        and c["precision"] == "float32" and c["units"] == max(x["units"] for x in plan))
    turn = 0
    try:
        for r in range(rounds):
            for config in plan:
                flavours = [f for f in workers if config["precision"] == "float32" or f != "torch"]
                if config["precision"] != "float32" and "torch" in workers:
                    flavours.append("torch")  # the float32 PyTorch model of the same shape is the reference
                for flavour in rotate(flavours, turn):
                    ask = dict(config, precision="float32") if flavour == "torch" else config
                    answer = workers[flavour].ask({"config": ask, "steps": per_call})
                    times.setdefault((key(config), flavour), []).append(median(answer["times"]))
                    if answer["warmup_s"] is not None:
                        warmup[(key(config), flavour)] = answer["warmup_s"]
                turn += 1
            for flavour in rotate([f for f in ("keras", "torch") if f in workers], r):  # the matmul floor
                answer = workers[flavour].ask({"config": floor_config, "floor": True, "steps": per_call})
                floors.setdefault(flavour, []).append(median(answer["times"]))
            print(f"B2 round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    finally:
        rss = {f: w.close()["rss_mib"] for f, w in workers.items()}

    tokens = BATCH * LENGTH
    has_torch = "torch" in workers
    rows = []
    for config in plan:
        name = key(config)
        row = [name]
        for flavour in ("keras", "seqpipe", "torch"):
            values = times.get((name, flavour))
            row.append(spread_fmt([tokens / t for t in values]) if values else "-")
        for flavour in ("keras", "seqpipe"):
            a, b = times.get((name, flavour)), times.get((name, "torch"))
            row.append(spread(ratios(b, a)) if a and b else "-")
        a, b = times.get((name, "seqpipe")), times.get((name, "keras"))
        row.append(spread(ratios(b, a)) if a and b else "-")
        if config["precision"] != "float32":
            row[0] += " (PyTorch column: float32)"
        rows.append(row)
    tables = [{"title": f"training tokens/s (batch {BATCH} x length {LENGTH}; median (min-max) over {rounds} rounds "
                        f"of {per_call} steps), ratios to PyTorch (> 1: faster than PyTorch) and seqpipe's to Keras's",
               "columns": ["layer", "Keras tokens/s", "seqpipe stack tokens/s", "PyTorch tokens/s",
                           "Keras / PyTorch", "seqpipe / PyTorch", "seqpipe / Keras"], "rows": rows}]
    tables.append(floor_table(floor_config, floors, times))
    bf16 = [c for c in plan if c["precision"] != "float32"]
    for config in bf16:
        fp32 = key(dict(config, precision="float32"))
        for flavour in ("keras", "seqpipe"):
            if (fp32, "keras") in times and (key(config), flavour) in times:
                notes.append(f"{key(config)}, {flavour}: "
                             f"{spread(ratios(times[(fp32, 'keras')], times[(key(config), flavour)]))}x "
                             "the float32 Keras LSTM's tokens/s (ratio within each round).")
    notes += ["Warm-up (build, tracing, 3 untimed steps) per model, seconds: "
              + ", ".join(f"{f} {spread([v for (c, g), v in warmup.items() if g == f])}" for f in workers) + ".",
              "Peak RSS of the workers (MiB): " + ", ".join(f"{f} {v:.0f}" for f, v in rss.items()) + ".",
              f"Load average at the start {load_start}, at the end {load_average()}."]
    if not has_torch:
        notes.append("No PyTorch: the ratio columns are empty.")
    if quick:
        notes.append("Quick run (a check of the code): LSTM(128), BiGRU(128) and the bfloat16 row at h = 128, "
                     "2 rounds of 2 steps.")
    return {"tables": tables, "notes": notes}


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker(sys.argv[sys.argv.index("--worker") + 1])
    else:
        main_module(run)
