"""Recurrent cells: each kind is declared once and works wherever a cell is accepted.

A :class:`Cell` gives the sequence layer (encoders, taggers, classifiers, language models,
the character word encoder), the single-step cell (the attention decoder and the stepping
language model), and its cuDNN rule. The state structure is the step cell's ``state_size``.
Importing this package does not import TensorFlow: cells are registered by ``module:Class``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from seqpipe.registry import Registry


class Cell:
    """A recurrent cell kind (subclass it, set ``name``, implement :meth:`cell`, register it in ``CELLS``).

    ``cell(units, ...)`` returns a Keras RNN cell: a layer with ``state_size`` whose
    ``call(x, states, training)`` returns ``(output, new_states)``. :meth:`layer` wraps it in
    ``keras.layers.RNN`` unless the kind has a fused Keras layer (LSTM, GRU) that keeps the
    cuDNN kernel on a GPU.
    """

    name: ClassVar[str] = ""
    cudnn_kernel: ClassVar[bool] = False  # whether its sequence layer can run Keras's cuDNN kernel

    def cell(self, units: int, *, recurrent_dropout: float = 0.0, name: str | None = None) -> Any:
        raise NotImplementedError

    def layer(self, units: int, *, return_sequences: bool = True, return_state: bool = False,
              recurrent_dropout: float = 0.0, name: str | None = None) -> Any:
        import keras

        return keras.layers.RNN(self.cell(units, recurrent_dropout=recurrent_dropout,
                                          name=f"{name}_cell" if name else None),
                                return_sequences=return_sequences, return_state=return_state, name=name)

    def cudnn_eligible(self, recurrent_dropout: float = 0.0) -> tuple[bool, str]:
        """Whether Keras can use the cuDNN kernel for this cell's sequence layer on a GPU, and why not."""
        if not self.cudnn_kernel:
            return False, f"cell '{self.name}' has no cuDNN kernel"
        if recurrent_dropout > 0:
            return False, "recurrent_dropout > 0 disables the cuDNN kernel"
        return True, "tanh/sigmoid, no recurrent dropout, right padding"


CELLS: Registry[type[Cell]] = Registry("cell", base=Cell)
CELLS.register("rnn", "seqpipe.cells.keras_cells:SimpleRNN", description="Elman RNN (keras SimpleRNN); no cuDNN kernel")
CELLS.register("lstm", "seqpipe.cells.keras_cells:LSTM",
               description="LSTM (Hochreiter & Schmidhuber); cuDNN kernel with the defaults")
CELLS.register("gru", "seqpipe.cells.keras_cells:GRU",
               description="GRU (Cho et al., reset_after=True); cuDNN kernel with the defaults")


def get_cell(name: str) -> Cell:
    """An instance of the registered cell kind ``name``."""
    return CELLS.get(name)()


def state_sizes(cell) -> list[int]:
    """A Keras cell's state sizes as a list (``[h]`` or ``[h, c]``)."""
    size = cell.state_size
    return [int(s) for s in size] if isinstance(size, (list, tuple)) else [int(size)]
