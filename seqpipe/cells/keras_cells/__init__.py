"""The Keras side of seqpipe's cells: step cells (layers with ``state_size`` and ``call(x, states, training)``),
the Neural Turing Machine, the skip-through-time wrapper, the CPU-fast LSTM and GRU layers, the LSTM forget-bias
initializer and gate diagnostics.

Importing this package registers every one of them with ``keras.saving`` (package ``seqpipe``), so saved
models that hold them load in safe mode. The cell kinds that use them are declared in :mod:`seqpipe.cells`.
"""

from seqpipe.cells.keras_cells.echo_state import EchoStateCell
from seqpipe.cells.keras_cells.fused_gru import FusedGRU
from seqpipe.cells.keras_cells.fused_lstm import FusedLSTM
from seqpipe.cells.keras_cells.gates import gate_activations
from seqpipe.cells.keras_cells.initializers import ForgetBias
from seqpipe.cells.keras_cells.layer_norm_lstm import LayerNormLSTMCell
from seqpipe.cells.keras_cells.leaky_rnn import LeakyRNNCell
from seqpipe.cells.keras_cells.ntm import NTMCell
from seqpipe.cells.keras_cells.peephole_lstm import PeepholeLSTMCell
from seqpipe.cells.keras_cells.skip_delay import SkipDelayCell

__all__ = ["EchoStateCell", "ForgetBias", "FusedGRU", "FusedLSTM", "LayerNormLSTMCell", "LeakyRNNCell", "NTMCell",
           "PeepholeLSTMCell", "SkipDelayCell", "gate_activations"]
