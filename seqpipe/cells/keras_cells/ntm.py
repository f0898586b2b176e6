"""A Neural Turing Machine cell (Graves, Wayne & Danihelka 2014, "Neural Turing Machines", section 3), with the
convergence safeguards of Collier & Beel (2018, "Implementing Neural Turing Machines"): a small constant memory
initialisation (1e-6) and head parameters clipped to [-clip, clip].

Every state is a ``(batch, size)`` tensor whose zero value is the machine's initial state, as seqpipe's other
cells (language-model stepping, stateful models and the decoder start from zeros): the memory and the head
weightings are stored as offsets from their initial values ``M_0 = 1e-6`` and ``w_0`` = all focus on row 0.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from seqpipe.cells.keras_cells.base import StepCell
from seqpipe.cells.keras_cells.initializers import ForgetBias

MEMORY_INIT = 1e-6  # every memory entry starts here (Collier & Beel 2018: a small constant converges best)
EPSILON = 1e-8  # in the cosine similarity and the sharpening's normaliser


def head_parameter_sizes(word_size: int, shift_range: int) -> list[int]:
    """Sizes of one head's addressing parameters: key k (W), strength beta, gate g, shift s (2S+1), sharpening gamma."""
    return [word_size, 1, 1, 2 * shift_range + 1, 1]


def circular_shift(weights, shifts, shift_range: int):
    """``w~(i) = sum_j w(j) s(i - j)`` with indices modulo N: ``weights (..., N)``, ``shifts (..., 2S+1)`` (offsets
    -S..S in that order)."""
    out = 0.0
    for k, offset in enumerate(range(-shift_range, shift_range + 1)):
        out = out + shifts[..., k:k + 1] * ops.roll(weights, offset, axis=-1)
    return out


def address(memory, previous, key, beta, gate, shift, gamma, shift_range: int):
    """One step of NTM addressing for every head (float32 math).

    Args:
        memory: ``(batch, N, W)``; previous: the heads' previous weightings ``(batch, H, N)``.
        key ``(batch, H, W)``, beta, gate, gamma ``(batch, H)`` (beta >= 0, gate in [0, 1], gamma >= 1),
        shift ``(batch, H, 2S+1)`` (a distribution over offsets -S..S).

    Returns:
        The weightings ``(batch, H, N)``: content focus ``softmax(beta cos(k, M_i))``, interpolation with the
        previous weighting by ``gate``, circular convolution with ``shift``, sharpening ``w^gamma / sum w^gamma``.
    """
    dot = ops.einsum("bhw,bnw->bhn", key, memory)
    norms = ops.sqrt(ops.sum(key * key, axis=-1))[..., None] * ops.sqrt(ops.sum(memory * memory, axis=-1))[:, None]
    similarity = dot / (norms + EPSILON)
    content = ops.softmax(beta[..., None] * similarity, axis=-1)
    gated = gate[..., None] * content + (1.0 - gate[..., None]) * previous
    shifted = ops.maximum(circular_shift(gated, shift, shift_range), 0.0)  # >= 0 (only garbage states go below)
    sharpened = ops.power(shifted, gamma[..., None])
    return sharpened / (ops.sum(sharpened, axis=-1, keepdims=True) + EPSILON)


@keras.saving.register_keras_serializable(package="seqpipe")
class NTMCell(StepCell):
    """Cell class of a Neural Turing Machine: a controller (LSTM or dense) reads the step's input and the previous
    read vectors, and emits the parameters of ``read_heads`` read heads and ``write_heads`` write heads over a
    memory of ``memory_size`` rows of ``word_size``. Per step (heads address the previous memory ``M_{t-1}``)::

        o_t = controller([x_t ; r_{t-1}])                      (LSTM: also h, c; dense: tanh(W [x; r] + b))
        p_t = clip(W_p o_t + b_p, -clip, clip)                 (the heads' parameters)
        w_t = address(M_{t-1}, w_{t-1}, k, beta, g, s, gamma)  per head (see :func:`address`)
        r_t = w_t^T M_{t-1}                                    per read head
        M_t = M_{t-1} * prod_h (1 - w_h e_h^T) + sum_h w_h a_h^T   (e = sigmoid, a = tanh; per write head)
        y_t = clip(W_y [o_t ; r_t] + b_y, -clip, clip)         (units wide)

    with ``k = tanh``, ``beta = softplus``, ``g = sigmoid``, ``s = softmax``, ``gamma = 1 + softplus`` of the
    head's slice of ``p_t``.

    States (each ``(batch, size)``, zero = the initial state): ``y`` (the output, first, like an LSTM's ``h``),
    the LSTM controller's ``h`` and ``c`` (none for a dense controller), the memory offset ``M - 1e-6`` (N * W,
    row-major), the read vectors (R * W) and the weighting offsets ``w - w_0`` of the read then the write heads
    ((R + write_heads) * N; ``w_0`` puts all focus on row 0, which breaks the symmetry of the constant memory).
    The addressing runs in float32 under mixed precision.

    Args:
        units: positive integer, the output width.
        memory_size, word_size, read_heads, write_heads, shift_range: N, W, R, write heads, S.
        controller: ``"lstm"`` or ``"dense"``; controller_units: its width (None: ``units``).
        clip: bound of the head parameters and the output.
        dropout: fraction of the step's input to drop; recurrent_dropout: fraction of the controller's recurrent
            input to drop (its ``h_{t-1}``, or with a dense controller the previous read vectors).
        seed: random seed for dropout.
    """

    def __init__(self, units, memory_size=128, word_size=20, read_heads=1, write_heads=1, shift_range=1,
                 controller="lstm", controller_units=None, clip=20.0, **kwargs):
        if controller not in ("lstm", "dense"):
            raise ValueError(f"controller must be 'lstm' or 'dense'; got {controller!r}")
        if 2 * shift_range + 1 > memory_size:
            raise ValueError(f"shift_range {shift_range} needs memory_size >= {2 * shift_range + 1}")
        super().__init__(units, **kwargs)
        self.memory_size, self.word_size = int(memory_size), int(word_size)
        self.read_heads, self.write_heads, self.shift_range = int(read_heads), int(write_heads), int(shift_range)
        self.controller = controller
        self.controller_units = None if controller_units is None else int(controller_units)
        self.clip = float(clip)
        self._cu = self.controller_units or self.units
        self.heads = self.read_heads + self.write_heads
        controller_states = [self._cu, self._cu] if controller == "lstm" else []
        self.state_size = [self.units, *controller_states, self.memory_size * self.word_size,
                           self.read_heads * self.word_size, self.heads * self.memory_size]
        self.output_size = self.units
        self.interface_size = (self.heads * sum(head_parameter_sizes(self.word_size, self.shift_range))
                               + 2 * self.write_heads * self.word_size)

    def build(self, input_shape):
        super().build(input_shape)
        reads = self.read_heads * self.word_size
        width = input_shape[-1] + reads
        if self.controller == "lstm":
            self.controller_kernel = self.add_weight(shape=(width, 4 * self._cu), name="controller_kernel",
                                                     initializer="glorot_uniform")
            self.controller_recurrent_kernel = self.add_weight(shape=(self._cu, 4 * self._cu),
                                                               name="controller_recurrent_kernel",
                                                               initializer="orthogonal")
            self.controller_bias = self.add_weight(shape=(4 * self._cu,), name="controller_bias",
                                                   initializer=ForgetBias(1.0))
        else:
            self.controller_kernel = self.add_weight(shape=(width, self._cu), name="controller_kernel",
                                                     initializer="glorot_uniform")
            self.controller_bias = self.add_weight(shape=(self._cu,), name="controller_bias", initializer="zeros")
        self.interface_kernel = self.add_weight(shape=(self._cu, self.interface_size), name="interface_kernel",
                                                initializer="glorot_uniform")
        self.interface_bias = self.add_weight(shape=(self.interface_size,), name="interface_bias",
                                              initializer="zeros")
        self.output_kernel = self.add_weight(shape=(self._cu + reads, self.units), name="output_kernel",
                                             initializer="glorot_uniform")
        self.output_bias = self.add_weight(shape=(self.units,), name="output_bias", initializer="zeros")

    # -- pieces ----------------------------------------------------------------------------
    def initial_weighting(self):
        """``w_0`` of every head, ``(H, N)`` float32: all focus on row 0."""
        w0 = np.zeros((self.heads, self.memory_size), "float32")
        w0[:, 0] = 1.0
        return ops.convert_to_tensor(w0)

    def split_states(self, states):
        """``{y, h, c, memory (batch, N, W), reads (batch, R*W), weights (batch, H, N)}`` (memory and weights as
        their values, not offsets, in float32; h and c absent for a dense controller)."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        out = {"y": states[0]}
        rest = states[1:]
        if self.controller == "lstm":
            out["h"], out["c"], rest = rest[0], rest[1], rest[2:]
        memory, reads, weights = rest
        out["memory"] = ops.reshape(ops.cast(memory, "float32"), (-1, self.memory_size, self.word_size)) + MEMORY_INIT
        out["reads"] = reads
        out["weights"] = (ops.reshape(ops.cast(weights, "float32"), (-1, self.heads, self.memory_size))
                          + self.initial_weighting()[None])
        return out

    def _heads(self, params):
        """The clipped float32 interface -> key, beta, gate, shift, gamma ``(batch, H, ...)``, erase, add
        ``(batch, write_heads, W)``."""
        sizes = head_parameter_sizes(self.word_size, self.shift_range)
        per_head = sum(sizes)
        heads = ops.reshape(params[:, :self.heads * per_head], (-1, self.heads, per_head))
        bounds = np.cumsum([0, *sizes])
        k, beta, g, s, gamma = (heads[..., a:b] for a, b in zip(bounds[:-1], bounds[1:]))
        writes = ops.reshape(params[:, self.heads * per_head:], (-1, self.write_heads, 2 * self.word_size))
        return (ops.tanh(k), ops.softplus(beta[..., 0]), ops.sigmoid(g[..., 0]), ops.softmax(s, axis=-1),
                1.0 + ops.softplus(gamma[..., 0]), ops.sigmoid(writes[..., :self.word_size]),
                ops.tanh(writes[..., self.word_size:]))

    def call(self, inputs, states, training=False):
        was_list = isinstance(states, (list, tuple))
        previous = self.split_states(states)
        # the controller's recurrent input, dropped out: its h_{t-1}, or a dense controller's previous read vectors
        recurrent = previous["h"] if self.controller == "lstm" else previous["reads"]
        inputs, recurrent = self.dropped(inputs, recurrent, training)
        reads_in = previous["reads"] if self.controller == "lstm" else recurrent
        x = ops.concatenate([inputs, ops.cast(reads_in, inputs.dtype)], axis=-1)
        if self.controller == "lstm":
            z = ops.matmul(x, self.controller_kernel) + ops.matmul(recurrent, self.controller_recurrent_kernel)
            z_i, z_f, z_c, z_o = ops.split(z + self.controller_bias, 4, axis=-1)
            c = ops.sigmoid(z_f) * previous["c"] + ops.sigmoid(z_i) * ops.tanh(z_c)
            control = ops.sigmoid(z_o) * ops.tanh(c)
            controller_states = [control, c]
        else:
            control = ops.tanh(ops.matmul(x, self.controller_kernel) + self.controller_bias)
            controller_states = []
        params = ops.clip(ops.cast(ops.matmul(control, self.interface_kernel) + self.interface_bias, "float32"),
                          -self.clip, self.clip)
        key, beta, gate, shift, gamma, erase, add = self._heads(params)
        memory = previous["memory"]
        weights = address(memory, previous["weights"], key, beta, gate, shift, gamma, self.shift_range)
        reads = ops.einsum("bhn,bnw->bhw", weights[:, :self.read_heads], memory)
        reads = ops.reshape(reads, (-1, self.read_heads * self.word_size))
        written = weights[:, self.read_heads:]
        keep = 1.0
        for head in range(self.write_heads):
            keep = keep * (1.0 - written[:, head, :, None] * erase[:, head, None, :])
        memory = memory * keep + ops.einsum("bhn,bhw->bnw", written, add)
        dtype = inputs.dtype
        reads = ops.cast(reads, dtype)
        y = ops.clip(ops.matmul(ops.concatenate([control, reads], axis=-1), self.output_kernel) + self.output_bias,
                     -self.clip, self.clip)
        new = [y, *controller_states,
               ops.cast(ops.reshape(memory - MEMORY_INIT, (-1, self.memory_size * self.word_size)), dtype), reads,
               ops.cast(ops.reshape(weights - self.initial_weighting()[None], (-1, self.heads * self.memory_size)),
                        dtype)]
        return y, (new if was_list else new[0])

    def get_recurrent_dropout_mask(self, step_input):
        """The mask of the controller's recurrent input (its ``h_{t-1}``, or the previous read vectors), one per
        sequence. Keras's RNN layer asks for it with the first state (the output ``y``, ``units`` wide), so the
        width is the cell's own choice here."""
        width = self._cu if self.controller == "lstm" else self.read_heads * self.word_size
        return super().get_recurrent_dropout_mask(ops.zeros((ops.shape(step_input)[0], width), step_input.dtype))

    # -- diagnostics -------------------------------------------------------------------------
    def trace(self, sequence) -> dict[str, np.ndarray]:
        """Run the cell over one sequence ``(time, features)`` from its initial state; per head, its weightings
        over time: ``{"read 1": (time, N), ..., "write 1": (time, N), ...}`` (numpy float32)."""
        x = ops.convert_to_tensor(np.asarray(sequence)[None], dtype=self.compute_dtype)
        states = self.get_initial_state(1)
        steps = []
        for t in range(x.shape[1]):
            _, states = self.call(x[:, t], states)
            steps.append(ops.convert_to_numpy(self.split_states(states)["weights"])[0])
        weights = np.stack(steps, axis=0) if steps else np.zeros((0, self.heads, self.memory_size), "float32")
        names = [f"read {i + 1}" for i in range(self.read_heads)] + [f"write {i + 1}" for i in range(self.write_heads)]
        return {name: weights[:, i] for i, name in enumerate(names)}

    def get_config(self):
        config = {
            "memory_size": self.memory_size,
            "word_size": self.word_size,
            "read_heads": self.read_heads,
            "write_heads": self.write_heads,
            "shift_range": self.shift_range,
            "controller": self.controller,
            "controller_units": self.controller_units,
            "clip": self.clip,
        }
        return {**super().get_config(), **config}
