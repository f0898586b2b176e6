"""Gradient diagnostics: how the training signal flows back through time (``train.diagnostics``).

Every ``every`` training steps, on one fixed batch (the first validation batch, else the first training
batch), the callback records:

- ``dLoss/dh_t``: the norm of the loss gradient with respect to the first recurrent layer's output at
  each time step t (averaged over the batch's rows that reach t). Vanishing gradients show as a curve
  falling toward early steps; the metric ``diag_grad_ratio`` is the last step's norm over the first's.
  The curves are written to ``diagnostics/grad_through_time.csv`` and drawn, one PNG per epoch
  (``diagnostics/grad_through_time_epoch_NN.png``, log scale, one line per recording).
- the gradient norm of each layer's weights (``diag_grad_norm/<layer>``), and how often clipping fired on
  the recorded batches (``diag_clip_rate``: by :meth:`seqpipe.train.clipping.Clipping.clips`, the test
  the optimizer's clipping follows: the global norm above ``train.clipnorm``, or with
  ``train.clip_scope: per_variable`` any variable's norm above it, or any element above ``train.clipvalue``);
- for gated cells, gate saturation: the share of each gate's activations below 0.1 or above 0.9
  (``diag_gate_saturation/<gate>``), from the cell's own weights (:func:`seqpipe.cells.gate_activations`).

Nothing is computed when ``train.diagnostics`` is null.
"""

from __future__ import annotations

import csv
import math

import keras
import numpy as np
import tensorflow as tf


def first_recurrent_layer(model):
    """The first ``keras.layers.RNN`` (or Bidirectional wrapper of one) in the model, or None."""
    for layer in model.layers:
        if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
            return layer
    return None


def _sequence(output):
    return output[0] if isinstance(output, (list, tuple)) else output


class GradientDiagnostics(keras.callbacks.Callback):
    """Record gradient flow through time, per-layer gradient norms, clipping and gate saturation."""

    def __init__(self, ctx, sample, every: int, clipnorm: float | None = None, clipvalue: float | None = None,
                 clip_scope: str | None = None):
        from seqpipe.train.clipping import Clipping

        super().__init__()
        self.ctx, self.every = ctx, int(every)
        self.clipping = Clipping(clipnorm, clipvalue, clip_scope)  # the optimizer's own test (make_optimizer)
        self.x, self.y = sample
        self.step = 0
        self.epoch = 0
        self.curves: list[tuple[int, np.ndarray]] = []  # (global step, norm per t) of the current epoch
        self.clipped = 0
        self.recorded = 0
        self.csv = ctx.path("diagnostics", "grad_through_time.csv")
        self.probe = None

    def on_train_begin(self, logs=None):
        layer = first_recurrent_layer(self.model)
        if layer is None or getattr(layer, "stateful", False) or getattr(getattr(layer, "forward_layer", None),
                                                                         "stateful", False):
            self.ctx.log.warning("train.diagnostics: no (stateless) recurrent layer to watch; diagnostics off")
            self.every = 0
            return
        self.layer = layer
        self.probe = keras.Model(self.model.input, [_sequence(layer.output), self.model.output])
        self.inputs_probe = keras.Model(self.model.input, _sequence(layer.input))
        if not self.csv.exists():
            self.csv.write_text("step,epoch,t,grad_norm\n", encoding="utf-8")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.curves = epoch, []

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.every and self.step % self.every == 0:
            self.record()

    def on_epoch_end(self, epoch, logs=None):
        if self.curves:
            self.plot(epoch)

    # ------------------------------------------------------------------------------------------
    def record(self) -> None:
        variables = self.model.trainable_variables
        h = self.probe(self.x, training=False)[0]
        eps, restore = self._perturb(h)
        try:
            with tf.GradientTape() as tape:
                tape.watch(eps)
                y_pred = self.model(self.x, training=False)
                loss = self.model.compute_loss(x=self.x, y=self.y, y_pred=y_pred, training=False)
            grads = tape.gradient(loss, [*eps, *variables])
        finally:
            restore()
        grads_h = [tf.zeros_like(e) if g is None else g for g, e in zip(grads[: len(eps)], eps)]
        grads_w = grads[len(eps):]
        curve = self._per_step(grads_h)
        metrics = {"diag_grad_ratio": float(curve[-1] / max(curve[0], 1e-30))} if len(curve) else {}
        metrics.update(self._layer_norms(variables, grads_w))
        metrics.update(self._gates(h))
        self.recorded += 1
        self.clipped += int(self._clips(grads_w))
        metrics["diag_clip_rate"] = self.clipped / self.recorded
        self.ctx.tracker.log_metrics(metrics, step=self.step)
        self.curves.append((self.step, curve))
        with open(self.csv, "a", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows([(self.step, self.epoch + 1, t, f"{v:.6g}") for t, v in enumerate(curve)])

    def _cell(self):
        layer = self.layer.forward_layer if isinstance(self.layer, keras.layers.Bidirectional) else self.layer
        return layer.cell

    def _perturb(self, h):
        """Zero tensors added to the watched cell's state (and output) at every step, and a function that undoes it.

        The gradient of the loss with respect to the one added at step t is dLoss/dh_t through the recurrence
        (the layer's output tensor alone would miss the paths through later steps). Keras's RNN loop runs its
        Python step function once more before the loop, to infer shapes; that call is left alone.
        """
        cell = self._cell()
        sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
        batch, steps = int(h.shape[0]), int(h.shape[1])
        eps = [tf.zeros((batch, int(sizes[0])), dtype=cell.compute_dtype) for _ in range(steps)]
        counter = [-1]
        original = cell.call

        def perturbed(inputs, states, *args, **kwargs):
            output, new = original(inputs, states, *args, **kwargs)
            t = counter[0]
            counter[0] += 1
            if not 0 <= t < steps:
                return output, new
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            new[0] = new[0] + eps[t]
            return output + eps[t] if output.shape[-1] == eps[t].shape[-1] else output, new

        cell.call = perturbed
        # seqpipe's fused CPU LSTM/GRU loops never call the cell step by step: take Keras's loop while recording
        sequence_layer = self.layer.forward_layer if isinstance(self.layer, keras.layers.Bidirectional) else self.layer
        fused = hasattr(sequence_layer, "_fused")
        if fused:
            sequence_layer._fused = lambda training=False: False

        def restore():
            del cell.call
            if fused:
                del sequence_layer._fused

        return eps, restore

    def _per_step(self, grads_h) -> np.ndarray:
        """Mean over the rows that reach step t of ||dLoss/dh_t|| (padding steps excluded)."""
        norms = np.stack([tf.norm(tf.cast(g, tf.float32), axis=-1).numpy() for g in grads_h], axis=1)
        real = self._real_steps(norms.shape)
        counts = real.sum(axis=0)
        keep = counts > 0
        return (np.where(real, norms, 0.0).sum(axis=0)[keep] / counts[keep]).astype("float64")

    def _real_steps(self, shape) -> np.ndarray:
        ids = self.x if not isinstance(self.x, dict) else self.x.get("token_ids", next(iter(self.x.values())))
        ids = np.asarray(ids[0] if isinstance(ids, (list, tuple)) else ids)
        if ids.ndim == 2 and ids.shape == shape and np.issubdtype(ids.dtype, np.integer):
            return ids != 0
        return np.ones(shape, bool)

    def _layer_norms(self, variables, grads) -> dict[str, float]:
        sums: dict[str, float] = {}
        for variable, grad in zip(variables, grads):
            if grad is None:
                continue
            layer = variable.path.split("/")[0]
            sums[layer] = sums.get(layer, 0.0) + float(tf.reduce_sum(tf.square(tf.cast(grad, tf.float32))))
        return {f"diag_grad_norm/{layer}": math.sqrt(total) for layer, total in sums.items()}

    def _clips(self, grads) -> bool:
        return self.clipping.clips([None if g is None else tf.convert_to_tensor(g).numpy() for g in grads])

    def _gates(self, h) -> dict[str, float]:
        """Gate saturation of the watched layer's cell (its forward direction), where the cell has gates."""
        from seqpipe.cells import gate_activations

        layer = self.layer.forward_layer if isinstance(self.layer, keras.layers.Bidirectional) else self.layer
        cell = getattr(layer, "cell", None)
        x = tf.cast(self.inputs_probe(self.x, training=False), tf.float32)
        units = int(np.prod(cell.state_size[0] if isinstance(cell.state_size, (list, tuple)) else cell.state_size))
        h = tf.cast(h, tf.float32)[..., :units]
        previous = tf.concat([tf.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
        steps = tf.shape(x)[1]
        flat_x = tf.reshape(x, [-1, x.shape[-1]])
        flat_h = tf.reshape(previous, [-1, units])
        sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
        states = [flat_h] + [tf.zeros([tf.shape(flat_h)[0], int(s)]) for s in sizes[1:]]
        try:
            gates = gate_activations(cell, flat_x, states)
        except TypeError:  # a cell without gates (Elman, leaky, echo state)
            return {}
        real = tf.reshape(tf.cast(self._real_steps((x.shape[0], int(steps))), tf.bool), [-1])
        out = {}
        for name, values in gates.items():
            values = tf.boolean_mask(tf.cast(values, tf.float32), real)
            saturated = tf.logical_or(values < 0.1, values > 0.9)
            out[f"diag_gate_saturation/{name}"] = float(tf.reduce_mean(tf.cast(saturated, tf.float32)))
        return out

    def plot(self, epoch: int) -> None:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 3.8))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        colours = matplotlib.colormaps["viridis"]
        for i, (step, curve) in enumerate(self.curves):
            colour = colours(i / max(len(self.curves) - 1, 1))
            ax.plot(np.arange(1, len(curve) + 1), curve, color=colour, label=f"step {step}")
        ax.set_yscale("log")
        ax.set_xlabel("time step t")
        ax.set_ylabel("||dLoss / dh_t||")
        ax.set_title(f"{self.layer.name}: gradient through time, epoch {epoch + 1}")
        ax.grid(alpha=0.3, which="both")
        if len(self.curves) <= 8:
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = self.ctx.path("diagnostics", f"grad_through_time_epoch_{epoch + 1:02d}.png")
        fig.savefig(path, dpi=100)
        self.ctx.tracker.log_artifact(path, "diagnostics")
        self.ctx.tracker.log_artifact(self.csv, "diagnostics")
