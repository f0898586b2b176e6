"""``esn``: an echo state network reservoir (Jaeger 2001; Lukosevicius 2012), fixed and random (no TensorFlow here)."""

from __future__ import annotations

from pydantic import Field

from seqpipe.cells.base import Cell, CellOptions


class EchoStateOptions(CellOptions):
    spectral_radius: float = Field(0.9, gt=0, description="largest absolute eigenvalue of the recurrent weights "
                                                          "(< 1 usually gives the echo state property)")
    input_scaling: float = Field(1.0, ge=0, description="input weights are drawn from U(-1, 1) times this")
    bias_scaling: float | None = Field(None, ge=0, description="bias drawn from U(-1, 1) times this; "
                                                               "default: input_scaling (the bias as a constant input)")
    sparsity: float = Field(0.9, ge=0, lt=1, description="share of recurrent weights that are zero")
    leak_rate: float = Field(1.0, gt=0, le=1, description="a in h_t = (1 - a) h_{t-1} + a tanh(...); 1: no leak")
    seed: int | None = Field(None, ge=0, description="seed of the random weights; default: drawn from the "
                                                     "pipeline's seed")


class EchoState(Cell):
    """Echo state network: a fixed random sparse reservoir, not trained (only what reads it is); no cuDNN kernel."""

    name = "esn"
    Options = EchoStateOptions

    def cell(self, units, *, recurrent_dropout=0.0, name=None):
        from seqpipe.cells.keras_cells.echo_state import EchoStateCell

        return EchoStateCell(units, **self.options.model_dump(), recurrent_dropout=recurrent_dropout, name=name)
