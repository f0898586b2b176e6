"""``ntm``: a Neural Turing Machine (Graves, Wayne & Danihelka 2014) as a recurrent cell (no TensorFlow here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from seqpipe.cells.base import Cell, CellOptions


class NTMOptions(CellOptions):
    memory_size: int = Field(128, ge=2, description="memory rows N (addressable locations)")
    word_size: int = Field(20, ge=1, description="width W of every memory row")
    read_heads: int = Field(1, ge=1, description="read heads R; the controller sees the R read vectors of the "
                                                 "previous step, the output the R read vectors of this step")
    write_heads: int = Field(1, ge=1, description="write heads; their erases multiply and their adds sum")
    shift_range: int = Field(1, ge=0, description="a head's focus moves by up to this many rows per step "
                                                  "(the shift weighting covers -shift_range..shift_range)")
    controller: Literal["lstm", "dense"] = Field(
        "lstm", description="lstm: a recurrent controller; dense: a feed-forward (tanh) controller whose only "
                            "memory is the NTM memory and the previous read vectors")
    controller_units: int | None = Field(None, ge=1, description="controller width; default: the cell's units")
    clip: float = Field(20.0, gt=0, description="the head parameters and the output are clipped to [-clip, clip] "
                                                "(a safeguard of Collier & Beel 2018)")

    @model_validator(mode="after")
    def _shifts_fit(self):
        if 2 * self.shift_range + 1 > self.memory_size:
            raise ValueError(f"shift_range {self.shift_range} needs memory_size >= {2 * self.shift_range + 1}; "
                             f"got {self.memory_size}")
        return self


class NTM(Cell):
    """Neural Turing Machine: a controller with content- and location-addressed read/write heads over a memory
    matrix; no cuDNN kernel."""

    name = "ntm"
    Options = NTMOptions

    def cell(self, units, *, recurrent_dropout=0.0, name=None):
        from seqpipe.cells.keras_cells.ntm import NTMCell

        return NTMCell(units, **self.options.model_dump(), recurrent_dropout=recurrent_dropout, name=name)
