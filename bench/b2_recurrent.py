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


def worker(flavour: str) -> None:
    if flavour == "torch":
        import torch

        torch.set_num_threads(2)
    else:
        from seqpipe._quiet import import_tensorflow

        import_tensorflow()
    steps: dict[str, object] = {}

    def handle(request: dict) -> dict:
        config = request["config"]
        name = key(config)
        warm = None
        if name not in steps:
            started = time.perf_counter()
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
