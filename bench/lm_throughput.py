"""Training throughput of seqpipe's char-level language model against a plain Keras script, side by side.

Data: the Shakespeare recipe split as ``pipelines/shakespeare_char_lstm.yaml`` splits it (whole works
held out, seed 13), seqpipe's char tokenizer, ``stream`` and ``window_dataset`` (window 100, batch 64,
shuffled) -- one tf.data pipeline that both models train on.

* seqpipe: the model the pipeline's own ``tokenize``, ``embed``, ``encode`` and ``lm`` stages build
  (run here on a run context with a no-op tracker; Embedding 64 without mask -> ``recurrent_stack``
  LSTM 512 -> Dense(vocab, float32, "lm_logits")), compiled as ``fit_language_model`` compiles it:
  ``make_optimizer`` (Adam 2e-3, clipnorm 5), ``MaskedCrossEntropy`` and the ``token_accuracy`` metric.
* plain Keras: the same architecture written by hand (Embedding 64 -> LSTM 512 return_sequences ->
  Dense(vocab)), ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``, the same optimizer
  and ``SparseCategoricalAccuracy``; it starts from the seqpipe model's initial weights.

Throughput: after warm-up steps, each measurement is one ``fit`` call of a fixed number of steps; the
clock runs from the end of its first step to the end of its last (tracing, iterator start-up and
shuffle-buffer filling excluded). Rounds are interleaved (order alternating per round) in one process,
so machine noise hits both alike; ratios are taken within a round, median over rounds.

Validation curve: a fresh seqpipe model (same seed) trains for a wall-clock budget; every N steps it
is scored on a fixed slice of the held-out works' stream (evenly spaced windows of the valid split's
``window_dataset``), in nats per char, with the evaluation time kept off the training clock.

Run:  python bench/lm_throughput.py      (writes bench/results/lm_throughput.md and lm_val_loss_vs_time.png)
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _machine import cpu_name  # noqa: E402  (bench/ is on sys.path when run as a script)

from seqpipe._quiet import import_tensorflow  # noqa: E402

tf = import_tensorflow()
import keras  # noqa: E402
import numpy as np  # noqa: E402

import seqpipe.stages  # noqa: E402,F401  (registers the built-in stages)
from seqpipe.config.report import load_config  # noqa: E402
from seqpipe.data import load_splits  # noqa: E402
from seqpipe.pipeline.context import RunContext  # noqa: E402
from seqpipe.pipeline.stage import STAGES  # noqa: E402
from seqpipe.tasks import get_task  # noqa: E402
from seqpipe.tasks.language_model.runtime import stream, window_dataset  # noqa: E402
from seqpipe.tracking import NullTracker  # noqa: E402
from seqpipe.train.fit import make_optimizer  # noqa: E402
from seqpipe.train.losses import MaskedCrossEntropy, token_accuracy  # noqa: E402

PIPELINE = Path(__file__).resolve().parent.parent / "pipelines" / "shakespeare_char_lstm.yaml"
RESULTS = Path(__file__).resolve().parent / "results"




def pipeline_context(config):
    """A run context holding the pipeline's splits and the ``tokenize`` stage's encoder."""
    task = get_task(config.task)
    splits = load_splits(config.data, roles=list(task.roles), seed=config.seed, base_dir=PIPELINE.parent)
    ctx = RunContext(config=config, run_dir=Path(tempfile.mkdtemp(prefix="lm_throughput_")), base_dir=PIPELINE.parent,
                     tracker=NullTracker(), log=logging.getLogger("lm_throughput"), task=task, progress=False)
    ctx.put("splits", splits)
    run_stages(ctx, ["tokenize"])
    return ctx


def run_stages(ctx, names):
    for name in names:
        stage = STAGES.get(name)(ctx.config.stage(name))
        stage.run(ctx)


def seqpipe_model(ctx):
    """The model of the pipeline's embed/encode/lm stages, compiled as ``fit_language_model`` does."""
    keras.utils.set_random_seed(ctx.config.seed)
    run_stages(ctx, ["embed", "encode", "lm"])
    model, cfg = ctx["model"], ctx.config.stage("train")
    accuracy = keras.metrics.MeanMetricWrapper(token_accuracy, name="token_accuracy")
    model.compile(optimizer=make_optimizer(cfg.optimizer, cfg.clipnorm, cfg.clipvalue),
                  loss=MaskedCrossEntropy(cfg.label_smoothing), metrics=[accuracy])
    return model


def plain_model(vocab: int, initial_weights):
    """The same architecture and optimizer, hand-written with stock Keras pieces."""
    ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(vocab, 64)(ids)
    x = keras.layers.LSTM(512, return_sequences=True)(x)
    model = keras.Model(ids, keras.layers.Dense(vocab)(x))
    model.set_weights(initial_weights)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=2e-3, clipnorm=5.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


class StepClock(keras.callbacks.Callback):
    """Wall-clock time at the end of every training step."""

    def on_train_begin(self, logs=None):
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def timed_steps(model, dataset, steps: int) -> float:
    """Seconds for ``steps`` steady-state steps (the clock starts when the fit call's first step ends)."""
    clock = StepClock()
    model.fit(dataset, steps_per_epoch=steps + 1, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
    return clock.ends[-1] - clock.ends[0]


def loss_metric_cost(batch, vocab: int, reps: int) -> dict[str, float]:
    """ms per call of loss + gradient w.r.t. the logits + accuracy, for either compile setup, interleaved."""
    y = tf.constant(batch[1])
    logits = tf.random.stateless_normal(list(batch[1].shape) + [vocab], seed=[1, 2])
    plain_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    seq_loss = MaskedCrossEntropy()

    def make(loss_fn, metric_fn):
        @tf.function
        def step(logits):
            with tf.GradientTape() as tape:
                tape.watch(logits)
                value = loss_fn(y, logits)
            return value, tape.gradient(value, logits), metric_fn(y, logits)
        return step

    fns = {"seqpipe": make(seq_loss, token_accuracy),
           "plain": make(plain_loss, keras.metrics.sparse_categorical_accuracy)}
    values = {k: float(f(logits)[0]) for k, f in fns.items()}  # trace + agreement check
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f(logits)[1].numpy()
            times[k].append(time.perf_counter() - t0)
    return {k: 1000 * statistics.median(v) for k, v in times.items()} | {f"{k}_value": v for k, v in values.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (each measures both models)")
    parser.add_argument("--warmup", type=int, default=4, help="untimed steps per model before the rounds")
    parser.add_argument("--curve-seconds", type=float, default=270, help="training wall-clock of the validation curve")
    parser.add_argument("--eval-every", type=int, default=20, help="curve: steps between validation scores")
    parser.add_argument("--val-windows", type=int, default=320, help="curve: windows of the fixed validation slice")
    parser.add_argument("--output", default=str(RESULTS / "lm_throughput.md"))
    args = parser.parse_args()
    started, load_start = time.perf_counter(), os.getloadavg()

    config, _ = load_config(PIPELINE)
    train_cfg = config.stage("train")
    window, batch_size = train_cfg.window, train_cfg.batch_size
    ctx = pipeline_context(config)
    encoder, splits = ctx["encoder"], ctx["splits"]
    vocab = encoder.vocabulary_size
    train_tokens = stream(encoder, splits["train"]["text"].tolist())
    valid_tokens = stream(encoder, splits["valid"]["text"].tolist())
    train = window_dataset(train_tokens, window, batch_size, shuffle=True, seed=config.seed).repeat()
    tokens_per_step = window * batch_size
    print(f"train stream {len(train_tokens):,} chars ({len(splits['train'])} works), valid {len(valid_tokens):,} "
          f"({len(splits['valid'])} works), vocabulary {vocab}", flush=True)

    # -- throughput, interleaved -----------------------------------------------------------------
    models = {"seqpipe": seqpipe_model(ctx)}
    models["plain Keras"] = plain_model(vocab, models["seqpipe"].get_weights())
    first = next(iter(train.take(1)))
    same_loss = {k: float(m.loss(first[1], m(first[0], training=False))) for k, m in models.items()}
    for name, model in models.items():
        model.fit(train, steps_per_epoch=args.warmup, epochs=1, verbose=0, shuffle=False)  # tracing, first-step costs
        print(f"warm-up {name} done", flush=True)
    seconds = {k: [] for k in models}
    ratios = []
    for rnd in range(args.rounds):
        order = list(models) if rnd % 2 == 0 else list(models)[::-1]
        this = {}
        for name in order:
            this[name] = timed_steps(models[name], train, args.steps)
            seconds[name].append(this[name])
            print(f"round {rnd + 1} {name}: {args.steps * tokens_per_step / this[name]:,.0f} tokens/s", flush=True)
        ratios.append(this["plain Keras"] / this["seqpipe"])
    costs = loss_metric_cost((first[0].numpy(), first[1].numpy()), vocab, reps=100)
    throughput_done = time.perf_counter()

    # -- validation loss against wall-clock time --------------------------------------------------
    n_valid = (len(valid_tokens) - 1) // window
    pick = np.linspace(0, n_valid - 1, min(args.val_windows, n_valid)).round().astype(int)
    vx = valid_tokens[: n_valid * window].reshape(n_valid, window)[pick]
    vy = valid_tokens[1 : n_valid * window + 1].reshape(n_valid, window)[pick]
    model = seqpipe_model(ctx)  # fresh, same seed: the initial weights of the pipeline's run

    @tf.function
    def nats_per_char(x, y):
        logp = tf.nn.log_softmax(tf.cast(model(x, training=False), tf.float32))
        nll = -tf.gather(logp, tf.cast(y, tf.int32), batch_dims=2)
        return tf.reduce_sum(nll), tf.cast(tf.size(y), tf.float32)

    def validate() -> float:
        total = count = 0.0
        for i in range(0, len(vx), batch_size):
            s, c = nats_per_char(vx[i:i + batch_size], vy[i:i + batch_size])
            total, count = total + float(s), count + float(c)
        return total / count

    batches_per_epoch = -(-((len(train_tokens) - 1) // window) // batch_size)
    last_batch = ((len(train_tokens) - 1) // window) % batch_size or batch_size

    def chars_after(steps: int) -> int:
        epochs, rest = divmod(steps, batches_per_epoch)
        return epochs * ((batches_per_epoch - 1) * batch_size + last_batch) * window + rest * tokens_per_step

    class Curve(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            t0 = time.perf_counter()
            self.rows = [(0, 0.0, None, validate())]
            self.eval_s = time.perf_counter() - t0
            self.clock = 0.0
            self.epoch_start = time.perf_counter()
            print(f"curve: step 0, val {self.rows[0][3]:.3f} nats/char", flush=True)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.clock += time.perf_counter() - self.epoch_start
            t0 = time.perf_counter()
            step = (epoch + 1) * args.eval_every
            self.rows.append((step, self.clock, float(logs["loss"]), validate()))
            self.eval_s += time.perf_counter() - t0
            print(f"curve: step {step}, {self.clock:.0f}s, train {logs['loss']:.3f}, val {self.rows[-1][3]:.3f}",
                  flush=True)
            if self.clock >= args.curve_seconds:
                self.model.stop_training = True

    curve = Curve()
    model.fit(train, steps_per_epoch=args.eval_every, epochs=10_000, verbose=0, shuffle=False, callbacks=[curve])
    total_s = time.perf_counter() - started
    load_end = os.getloadavg()

    # -- plot ----------------------------------------------------------------------------------------
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot([r[1] for r in curve.rows], [r[3] for r in curve.rows], "o-", label="validation (held-out works)")
    ax.plot([r[1] for r in curve.rows[1:]], [r[2] for r in curve.rows[1:]], "s--", alpha=0.6,
            label=f"training (mean of the last {args.eval_every} steps)")
    ax.set_xlabel("training wall-clock (s, evaluation excluded)")
    ax.set_ylabel("loss (nats/char)")
    ax.set_title("seqpipe char LSTM 512 on Shakespeare (2 CPU cores, shared)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = out.parent / "lm_val_loss_vs_time.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)

    # -- report --------------------------------------------------------------------------------------
    params = {k: m.count_params() for k, m in models.items()}
    lines = [f"# Language-model training throughput: seqpipe vs plain Keras ({date.today()})", "",
             f"Machine: {cpu_name()}, {os.cpu_count()} cores, no GPU; Python {platform.python_version()}, "
             f"TensorFlow {tf.__version__}, Keras {keras.__version__}.",
             f"The machine is shared (load average {load_start[0]:.1f} at the start, "
             f"{load_end[0]:.1f} at the end, with "
             f"{os.cpu_count()} cores): absolute tokens/s are noisy; the ratios come from the two models measured side "
             "by side, interleaved in one process (order alternating per round), ratio taken within each round, "
             "median over rounds.",
             "Command: `python bench/lm_throughput.py`" + f" (ran {total_s / 60:.1f} min)", "",
             f"Data: the Shakespeare recipe split as `pipelines/shakespeare_char_lstm.yaml` splits it "
             "(whole works held "
             f"out, seed {config.seed}): training stream {len(train_tokens):,} chars "
             f"from {len(splits['train'])} works, "
             f"validation stream {len(valid_tokens):,} chars from {len(splits['valid'])} unseen works; seqpipe's char "
             f"tokenizer (vocabulary {vocab}), `stream` and `window_dataset` (window {window}, batch {batch_size}, "
             f"shuffled): {tokens_per_step:,} tokens per step, one tf.data pipeline for both models.",
             f"Models ({params['seqpipe']:,} parameters each): "
             "**seqpipe** = the pipeline's own tokenize/embed/encode/lm "
             "stages (Embedding 64 without mask -> `recurrent_stack` LSTM 512 -> Dense(vocab, float32) `lm_logits`), "
             "compiled as `fit_language_model` does: `make_optimizer` Adam 2e-3 clipnorm 5, `MaskedCrossEntropy`, "
             "`token_accuracy`. **plain Keras** = Embedding 64 -> LSTM 512 (return_sequences) -> Dense(vocab) written "
             "by hand, `SparseCategoricalCrossentropy(from_logits=True)`, Adam 2e-3 clipnorm 5, "
             "`SparseCategoricalAccuracy`, initialised with the seqpipe model's weights. Both float32, "
             "Keras default LSTM kernel (CPU).",
             f"Same loss on the same batch and weights: seqpipe {same_loss['seqpipe']:.5f}, plain "
             f"{same_loss['plain Keras']:.5f} nats/char (the stream has no padding, so the mask never drops a target).",
             "",
             "## Training throughput",
             "",
             f"Each measurement: one `fit` call, {args.steps} steady-state steps timed from the end of its first step "
             f"(after {args.warmup} warm-up steps per model); {args.rounds} interleaved rounds.",
             "",
             "| model | median time per step (ms) | tokens/s (median) | tokens/s per round | "
             "ratio seqpipe / plain (median of rounds) |",
             "|---|---|---|---|---|"]
    ratio = statistics.median(ratios)
    for name in models:
        per_round = ", ".join(f"{args.steps * tokens_per_step / s:,.0f}" for s in seconds[name])
        med = statistics.median(seconds[name])
        shown = f"{ratio:.3f}" if name == "seqpipe" else "1 (reference)"
        lines.append(f"| {name} | {1000 * med / args.steps:.0f} | {args.steps * tokens_per_step / med:,.0f} | "
                     f"{per_round} | {shown} |")
    lines += ["",
              f"Ratio per round (seqpipe tokens/s / plain tokens/s): {', '.join(f'{r:.3f}' for r in ratios)}.",
              "Loss + gradient w.r.t. the logits + accuracy alone, "
              f"on one {batch_size}x{window}x{vocab} batch of logits "
              f"(median of 100 interleaved calls): seqpipe `MaskedCrossEntropy` + `token_accuracy` "
              f"{costs['seqpipe']:.2f} ms, plain `SparseCategoricalCrossentropy` + `sparse_categorical_accuracy` "
              f"{costs['plain']:.2f} ms (same loss value: {costs['seqpipe_value']:.5f} vs {costs['plain_value']:.5f}).",
              "",
              "## Validation loss against wall-clock time (seqpipe model)",
              "",
              f"A fresh seqpipe model (seed {config.seed}, the pipeline run's initial weights) "
              "trained on the same stream "
              f"for about {args.curve_seconds:.0f} s of training wall-clock; "
              f"every {args.eval_every} steps it is scored on "
              f"a fixed slice of the held-out works: {len(vx)} evenly spaced windows of the validation stream's "
              f"`window_dataset` ({vx.size:,} predicted chars, each window from a zero state, as seqpipe's val_loss). "
              f"The clock counts training only (the first segment includes tracing); evaluation took "
              f"{curve.eval_s:.0f} s in all, off the clock. Train loss: mean over the segment's steps.",
              f"Plot: `bench/results/{png.name}`.",
              "",
              "| step | chars seen | training wall-clock (s) | train loss (nats/char) | "
              "val loss (nats/char) | val bits/char |",
              "|---|---|---|---|---|---|"]
    for step, clock, train_loss, val in curve.rows:
        lines.append(f"| {step} | {chars_after(step):,} | {clock:.0f} | "
                     f"{'-' if train_loss is None else f'{train_loss:.3f}'} | {val:.3f} | {val / np.log(2):.3f} |")
    steps_done, clock_done = curve.rows[-1][0], curve.rows[-1][1]
    lines += ["",
              "## Notes",
              "",
              f"- The curve's own rate (seqpipe alone, tracing of its first segment included): "
              f"{chars_after(steps_done) / clock_done:,.0f} tokens/s over {steps_done} steps.",
              "- Both models run the same Keras layers (the LSTM is Keras's own; "
              "seqpipe's `encode` stage builds it with "
              "`return_state=True`, whose extra state outputs the LM graph does not use). What differs is the loss and "
              "metric (measured alone above: "
              f"{costs['seqpipe'] - costs['plain']:+.2f} ms per step for seqpipe, against a "
              f"median step of {1000 * statistics.median(seconds['seqpipe']) / args.steps:.0f} ms) and layer names.",
              f"- Per-round ratios spread from {min(ratios):.3f} to {max(ratios):.3f}: "
              "that is how far the shared machine "
              "moves a single side-by-side measurement; read the median ratio against that spread.",
              f"- Phases: throughput {(throughput_done - started) / 60:.1f} min (data, tokenizer and models included), "
              f"curve {(time.perf_counter() - throughput_done) / 60:.1f} min.",
              ""]
    out.write_text("\n".join(lines), encoding="utf-8")
    shutil.rmtree(ctx.run_dir, ignore_errors=True)  # the tokenize stage's vocabulary file
    print("\n".join(lines))


if __name__ == "__main__":
    main()
