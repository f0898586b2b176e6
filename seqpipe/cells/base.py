"""The :class:`Cell` base class, its options base and the ``CELLS`` registry (no TensorFlow here)."""

from __future__ import annotations

from typing import Any, ClassVar

from seqpipe.registry import Registry
from seqpipe.schema import Schema


class CellOptions(Schema):
    """A cell kind's options: what a pipeline may write next to ``kind`` in ``cell: {kind: ..., ...}``.

    Unknown keys are errors. Every option needs a default, so the bare name (``cell: lstm``) means
    "every option at its default". A kind with options subclasses this as its ``Options``.
    """


class Cell:
    """A recurrent cell kind (subclass it, set ``name``, implement :meth:`cell`, register it in ``CELLS``).

    ``cell(units, ...)`` returns a Keras RNN cell: a layer with ``state_size`` whose
    ``call(x, states, training)`` returns ``(output, new_states)``. :meth:`layer` wraps it in
    ``keras.layers.RNN`` unless the kind has a fused Keras layer (LSTM, GRU) that keeps the
    cuDNN kernel on a GPU.

    A kind's options are the fields of its ``Options`` schema (a :class:`CellOptions`); an
    instance holds them validated in ``self.options``. The schema lives in the kind's own
    TensorFlow-free module, and the Keras code is imported inside :meth:`cell` / :meth:`layer`,
    so validating a pipeline never imports TensorFlow.
    """

    name: ClassVar[str] = ""
    cudnn_kernel: ClassVar[bool] = False  # whether its sequence layer can run Keras's cuDNN kernel (default options)
    Options: ClassVar[type[CellOptions]] = CellOptions

    def __init__(self, **options: Any):
        self.options = self.Options(**options)

    @property
    def spec(self) -> str | dict[str, Any]:
        """The normalised spec: the bare name when every option has its default, else ``{kind, every option}``."""
        values = self.options.model_dump(mode="json")
        if values == self.Options().model_dump(mode="json"):
            return self.name
        return {"kind": self.name, **values}

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


CELLS: Registry[type[Cell]] = Registry("cell", base=Cell)
