"""``FusedLSTM`` (class ``LSTM``): ``keras.layers.LSTM`` with a faster CPU loop (same weights and results).

On a CPU, Keras runs its LSTM as ``LSTMCell`` inside a ``tf.while_loop`` and lets TensorFlow differentiate
the loop: every step multiplies that step's input by the kernel, and the backward loop adds each step's
weight gradient on its own. :class:`FusedLSTM` keeps the Keras layer (its cell, its variables and their
names, ``get_config``, masking, ``go_backwards``, states) and replaces only the loop, on the TensorFlow
backend when no GPU is visible:

- the input projection ``x @ W + b`` of all time steps is one matrix product before the loop; inside it
  only ``h @ U`` and the gates;
- the loop has a hand-written gradient (backpropagation through time over the gates saved by the forward
  loop): the backward loop does one ``dz @ U^T`` per step and keeps the gates' gradients, and the weight
  gradients ``H^T dZ`` (recurrent kernel), ``X^T dZ`` (kernel) and ``sum dZ`` (bias) are single products
  over all time steps after it.

Where a GPU is visible (or with recurrent dropout, input dropout while training, ``unroll``, other
activations or another backend) it defers to ``keras.layers.LSTM`` itself, so the cuDNN kernel stays.
Outputs and gradients equal Keras's within float round-off (``tests/unit/cells/test_fused_lstm.py``).
Measured at the B2 shape (batch 64, length 100, input 256, units 512, 2 CPU cores): about 1.15x the
training tokens/s of ``keras.layers.LSTM`` in float32 and about 1.7x under ``mixed_bfloat16``; at
units 128-256 the per-step overhead of the two loops makes it slower than Keras's, so the ``lstm`` cell
kind builds it only from :data:`MIN_UNITS` units on (see :meth:`FusedLoop.where_faster`; the ``gru``
kind likewise builds :class:`seqpipe.cells.keras_cells.fused_gru.FusedGRU`).
"""

from __future__ import annotations

import keras

MIN_UNITS = 512  # below this width Keras's own loop was as fast or faster on the benchmark CPU


def gpu_visible() -> bool:
    """Whether TensorFlow sees a GPU (where Keras's LSTM runs the cuDNN kernel)."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _lstm_loop(xz, h0, c0, U, mask):
    """Run the LSTM recurrence over the time-major input projections ``xz`` (T, B, 4H), bias included.

    ``mask`` is a (T, B, 1) boolean tensor or None; a masked step carries ``h`` and ``c`` through. Returns
    ``(hs, h_T, c_T)`` with ``hs`` (T, B, H) the carried ``h`` of every step; differentiable in ``xz``,
    ``h0``, ``c0`` and ``U`` through a hand-written backpropagation through time.
    """
    import tensorflow as tf

    masked = mask is not None

    @tf.custom_gradient
    def loop(xz, h0, c0, U):
        T = tf.shape(xz)[0]
        dtype = xz.dtype

        def step(t, h, c, hs, gates, tanh_cs, cs):
            z = xz[t] + tf.matmul(h, U)
            zi, zf, zg, zo = tf.split(z, 4, axis=1)
            i, f, g, o = tf.sigmoid(zi), tf.sigmoid(zf), tf.tanh(zg), tf.sigmoid(zo)
            c_new = f * c + i * g
            tanh_c = tf.tanh(c_new)
            h_new = o * tanh_c
            if masked:
                c_new = tf.where(mask[t], c_new, c)
                h_new = tf.where(mask[t], h_new, h)
            return [t + 1, h_new, c_new, hs.write(t, h_new), gates.write(t, tf.concat([i, f, g, o], 1)),
                    tanh_cs.write(t, tanh_c), cs.write(t, c_new)]

        arrays = [tf.TensorArray(dtype, size=T) for _ in range(4)]
        _, h_T, c_T, hs, gates, tanh_cs, cs = tf.while_loop(
            lambda t, *_: t < T, step, [tf.constant(0), h0, c0] + arrays, parallel_iterations=1,
            maximum_iterations=T)
        hs = hs.stack()

        def grad(d_hs, d_hT, d_cT):
            gates_all, tanh_c_all = gates.stack(), tanh_cs.stack()
            c_prev_all = tf.concat([c0[None], cs.stack()[:-1]], 0)
            U_t = tf.transpose(U)
            m_all = tf.cast(mask, dtype) if masked else None

            def back(t, dh, dc, dzs):
                dh = dh + d_hs[t]
                i, f, g, o = tf.split(gates_all[t], 4, axis=1)
                tanh_c = tanh_c_all[t]
                if masked:
                    m = m_all[t]
                    dh_new, dc_in = m * dh, m * dc
                else:
                    dh_new, dc_in = dh, dc
                dc_new = dc_in + dh_new * o * (1 - tanh_c * tanh_c)
                dz = tf.concat([dc_new * g * i * (1 - i), dc_new * c_prev_all[t] * f * (1 - f),
                                dc_new * i * (1 - g * g), dh_new * tanh_c * o * (1 - o)], 1)
                dh_prev = tf.matmul(dz, U_t)
                dc_prev = dc_new * f
                if masked:
                    dh_prev += (1 - m) * dh
                    dc_prev += (1 - m) * dc
                return t - 1, dh_prev, dc_prev, dzs.write(t, dz)

            _, dh0, dc0, dzs = tf.while_loop(
                lambda t, *_: t >= 0, back, (T - 1, d_hT, d_cT, tf.TensorArray(dtype, size=T)),
                parallel_iterations=1, maximum_iterations=T)
            dz = dzs.stack()
            units = U.shape[0]
            h_prev = tf.concat([h0[None], hs[:-1]], 0)
            dU = tf.matmul(tf.reshape(h_prev, [-1, units]), tf.reshape(dz, [-1, 4 * units]), transpose_a=True)
            return dz, dh0, dc0, dU

        return (hs, h_T, c_T), grad

    return loop(xz, h0, c0, U)


class FusedLoop:
    """What :class:`LSTM` and :class:`~seqpipe.cells.keras_cells.fused_gru.GRU` add to the Keras layer they extend
    (listed after this class): when the fused loop runs (:meth:`_fused`, which a layer narrows to the cell options
    its loop covers), the input projection of all time steps before it and Keras's masked outputs after it. A layer
    sets ``gates`` (weight columns per unit) and gives ``_input_bias()``, the bias added to the input projection
    (None: none), and ``_loop(xz, states, U, mask)``, its recurrence over the time-major projections ``xz`` with the
    recurrent kernel ``U``, which returns ``hs`` and the final states."""

    gates: int

    @classmethod
    def where_faster(cls, units, recurrent_dropout=0.0, **kwargs):
        """This layer from :data:`MIN_UNITS` units on where no GPU is visible and without recurrent dropout,
        else the Keras layer it extends (its cuDNN kernel on a GPU)."""
        fused = units >= MIN_UNITS and not recurrent_dropout and not gpu_visible()
        return (cls if fused else cls.__bases__[-1])(units, recurrent_dropout=recurrent_dropout, **kwargs)

    def _fused(self, training) -> bool:
        cell = self.cell
        return (keras.backend.backend() == "tensorflow" and not gpu_visible() and not self.unroll
                and not self.recurrent_dropout and not (training and self.dropout)
                and cell.activation is keras.activations.tanh
                and cell.recurrent_activation is keras.activations.sigmoid)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not self._fused(training):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        import tensorflow as tf

        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        dtype = sequences.dtype
        x = tf.transpose(sequences, [1, 0, 2])  # time-major
        if mask is not None:
            mask = tf.transpose(tf.cast(mask, tf.bool), [1, 0])[:, :, None]
        if self.go_backwards:
            x = tf.reverse(x, [0])
            mask = None if mask is None else tf.reverse(mask, [0])
        steps, batch = tf.shape(x)[0], tf.shape(x)[1]
        xz = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), tf.cast(self.cell.kernel, dtype))
        bias = self._input_bias()
        if bias is not None:
            xz = xz + tf.cast(bias, dtype)
        xz = tf.reshape(xz, [steps, batch, self.gates * self.units])
        states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
        hs, states = self._loop(xz, [tf.cast(s, dtype) for s in states], tf.cast(self.cell.recurrent_kernel, dtype),
                                mask)
        hs = tf.ensure_shape(hs, [x.shape[0], sequences.shape[0], self.units])  # the static shape Keras keeps
        # Keras's masked outputs: the previous step's output (zeros before the first unmasked step), or
        # zeros at every masked step with ``zero_output_for_mask`` (what Bidirectional asks for)
        if mask is not None:
            keep = mask if self.zero_output_for_mask else tf.math.cumsum(tf.cast(mask, tf.int32), axis=0) > 0
            hs = tf.where(keep, hs, tf.zeros_like(hs))
        last = hs[-1]
        outputs = tf.transpose(hs, [1, 0, 2]) if self.return_sequences else last[:, None]
        return last, outputs, states


@keras.saving.register_keras_serializable(package="seqpipe")
class LSTM(FusedLoop, keras.layers.LSTM):
    """``keras.layers.LSTM`` whose CPU loop projects all inputs at once and has a hand-written gradient.

    The class is named ``LSTM`` on purpose: Keras files a layer's weights under its class name in snake case
    (``layers/lstm/cell/vars``), so a checkpoint of ``keras.layers.LSTM`` loads into this layer and back; the
    name Keras gives it by default is that of its LSTM (``lstm``, ``lstm_1``, ...).
    """

    gates = 4

    def _input_bias(self):
        return self.cell.bias if self.cell.use_bias else None

    def _loop(self, xz, states, U, mask):
        hs, h_T, c_T = _lstm_loop(xz, *states, U, mask)
        return hs, [h_T, c_T]


FusedLSTM = LSTM  # the name seqpipe's code and docs use (the class keeps Keras's, see its docstring)
