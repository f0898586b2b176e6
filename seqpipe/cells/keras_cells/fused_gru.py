"""``FusedGRU`` (class ``GRU``): ``keras.layers.GRU`` with a faster CPU loop (same weights and results).

The GRU counterpart of :mod:`seqpipe.cells.keras_cells.fused_lstm` (read that module first): Keras's GRU
(``reset_after=True``, gates ``z, r, h``; bias rows: input, recurrent) with the input projection of all
time steps in one matrix product before the loop and a hand-written gradient whose weight gradients are
single products over all steps. It defers to ``keras.layers.GRU`` (cuDNN) where a GPU is visible and for
what the fused loop does not cover (``reset_after=False``, no bias, recurrent dropout, input dropout while
training, ``unroll``, other activations, another backend). Measured at batch 64, length 100, input 256,
units 512 on 2 CPU cores: about 1.1x Keras's training tokens/s in float32, about 1.8x under
``mixed_bfloat16``; about the same as Keras at 128 units. The ``gru`` kind builds it from
:data:`~seqpipe.cells.keras_cells.fused_lstm.MIN_UNITS` units on.
"""

from __future__ import annotations

import keras

from seqpipe.cells.keras_cells.fused_lstm import FusedLoop


def _gru_loop(xz, h0, U, b_rec, mask):
    """The GRU recurrence over time-major input projections ``xz`` (T, B, 3H) (input bias included).

    ``U`` is the recurrent kernel, ``b_rec`` the recurrent bias; ``mask`` a (T, B, 1) boolean tensor or None.
    Returns ``(hs, h_T)``, ``hs`` (T, B, H) the carried ``h`` of every step; differentiable in ``xz``, ``h0``,
    ``U`` and ``b_rec`` through a hand-written backpropagation through time.
    """
    import tensorflow as tf

    masked = mask is not None

    @tf.custom_gradient
    def loop(xz, h0, U, b_rec):
        T = tf.shape(xz)[0]
        dtype = xz.dtype

        def step(t, h, hs, acts, rhs):
            rh = tf.matmul(h, U) + b_rec
            xz_z, xz_r, xz_h = tf.split(xz[t], 3, axis=1)
            rh_z, rh_r, rh_h = tf.split(rh, 3, axis=1)
            z = tf.sigmoid(xz_z + rh_z)
            r = tf.sigmoid(xz_r + rh_r)
            hh = tf.tanh(xz_h + r * rh_h)
            h_new = z * h + (1 - z) * hh
            if masked:
                h_new = tf.where(mask[t], h_new, h)
            return [t + 1, h_new, hs.write(t, h_new), acts.write(t, tf.concat([z, r, hh], 1)), rhs.write(t, rh_h)]

        arrays = [tf.TensorArray(dtype, size=T) for _ in range(3)]
        _, h_T, hs, acts, rhs = tf.while_loop(lambda t, *_: t < T, step, [tf.constant(0), h0] + arrays,
                                              parallel_iterations=1, maximum_iterations=T)
        hs = hs.stack()

        def grad(d_hs, d_hT):
            acts_all, rh_all = acts.stack(), rhs.stack()
            h_prev_all = tf.concat([h0[None], hs[:-1]], 0)
            U_t = tf.transpose(U)
            m_all = tf.cast(mask, dtype) if masked else None

            def back(t, dh, dxs, drs):
                dh = dh + d_hs[t]
                z, r, hh = tf.split(acts_all[t], 3, axis=1)
                dh_new = m_all[t] * dh if masked else dh
                da_h = dh_new * (1 - z) * (1 - hh * hh)
                da_z = dh_new * (h_prev_all[t] - hh) * z * (1 - z)
                da_r = da_h * rh_all[t] * r * (1 - r)
                d_rh = tf.concat([da_z, da_r, da_h * r], 1)  # gradient of h @ U + b_rec
                dh_prev = dh_new * z + tf.matmul(d_rh, U_t)
                if masked:
                    dh_prev += (1 - m_all[t]) * dh
                return t - 1, dh_prev, dxs.write(t, tf.concat([da_z, da_r, da_h], 1)), drs.write(t, d_rh)

            arrays = (tf.TensorArray(dtype, size=T), tf.TensorArray(dtype, size=T))  # eager ones write in place
            _, dh0, dxs, drs = tf.while_loop(lambda t, *_: t >= 0, back, (T - 1, d_hT, *arrays),
                                             parallel_iterations=1, maximum_iterations=T)
            units = U.shape[0]
            d_rh = tf.reshape(drs.stack(), [-1, 3 * units])
            dU = tf.matmul(tf.reshape(h_prev_all, [-1, units]), d_rh, transpose_a=True)
            return dxs.stack(), dh0, dU, tf.reduce_sum(d_rh, 0)

        return (hs, h_T), grad

    return loop(xz, h0, U, b_rec)


@keras.saving.register_keras_serializable(package="seqpipe")
class GRU(FusedLoop, keras.layers.GRU):
    """``keras.layers.GRU`` whose CPU loop projects all inputs at once and has a hand-written gradient.

    Named ``GRU`` so that its weights file under ``layers/gru`` like Keras's (see ``fused_lstm.LSTM``).
    """

    gates = 3

    def _fused(self, training) -> bool:
        return super()._fused(training) and self.cell.reset_after and self.cell.use_bias

    def _input_bias(self):
        return self.cell.bias[0]  # the bias is (2, 3H): input bias, recurrent bias

    def _loop(self, xz, states, U, mask):
        import tensorflow as tf

        hs, h_T = _gru_loop(xz, states[0], U, tf.cast(self.cell.bias[1], xz.dtype), mask)
        return hs, [h_T]


FusedGRU = GRU  # the name seqpipe's code and docs use
