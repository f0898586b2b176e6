"""``leaky_rnn``: leaky-integrator units with fixed or learned time constants (no TensorFlow here)."""

from __future__ import annotations

from pydantic import Field, field_validator

from seqpipe.cells.base import Cell, CellOptions


class LeakyRNNOptions(CellOptions):
    time_constants: float | list[float] = Field(
        10.0, description="time constant tau >= 1 of every unit (tau = 1 is the Elman RNN; larger remembers longer), "
                          "or a list: the units are split into as many groups, one time scale each")
    learn_time_constants: bool = Field(False, description="learn each unit's tau (kept >= 1 by a softplus), starting "
                                                          "from time_constants")

    @field_validator("time_constants")
    @classmethod
    def _at_least_one(cls, value):
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError("needs at least one time constant")
        if any(v < 1 for v in values):
            raise ValueError(f"time constants must be >= 1; got {value}")
        return values[0] if len(values) == 1 else values


class LeakyRNN(Cell):
    """Leaky-integrator RNN: h_t = (1 - 1/tau) h_{t-1} + (1/tau) tanh(W x_t + U h_{t-1} + b); no cuDNN kernel."""

    name = "leaky_rnn"
    Options = LeakyRNNOptions

    def cell(self, units, *, recurrent_dropout=0.0, name=None):
        from seqpipe.cells.keras_cells.leaky_rnn import LeakyRNNCell

        return LeakyRNNCell(units, time_constants=self.options.time_constants,
                            learn_time_constants=self.options.learn_time_constants,
                            recurrent_dropout=recurrent_dropout, name=name)
