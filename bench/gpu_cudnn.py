"""Did each recurrent layer run the cuDNN kernel? Read off the traced training step's graph.

On the TensorFlow backend, ``keras.layers.LSTM`` / ``GRU`` (and seqpipe's ``FusedLSTM`` / ``FusedGRU``,
which defer to them where a GPU is visible) call ``backend.lstm`` / ``backend.gru``; those emit a
``CudnnRNNV3`` op (and ``CudnnRNNBackpropV3`` in the gradient) only when ``cudnn_ok`` holds: the layer's
arguments allow the fused kernel (tanh / sigmoid, no recurrent dropout, no unroll, ...) *and* a GPU is
visible. Otherwise they fall back to a ``while`` loop over the step cell. So the graph of a traced
training step says, per layer, which path it took: :func:`ran_cudnn` traces one (forward in training mode
and the gradient) on a batch, without running it, and :func:`verdict` maps the graph's ops to the layers
by their name scopes. :func:`verdict` is pure (names and op types in, booleans out) so it is tested with
made-up graphs as well as with real ones (``tests/unit/test_bench_gpu.py``).
"""

from __future__ import annotations

CUDNN_OP_PREFIX = "CudnnRNN"  # CudnnRNN, CudnnRNNV2, CudnnRNNV3 and their Backprop ops


def recurrent_layers(model) -> list[str]:
    """Names of the layers of ``model`` (nested ones included) that can take the cuDNN path: LSTM and GRU."""
    import keras

    kinds = (keras.layers.LSTM, keras.layers.GRU)
    return [layer.name for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, kinds)]


def graph_ops(graph) -> list[tuple[str, str]]:
    """(name, type) of every op in ``graph`` and in the functions its graph def carries (nested tf.functions).

    An op inside a nested function is named ``<function>/<its name>``, so its layer scopes still show.
    """
    graph_def = graph.as_graph_def()
    ops = [(node.name, node.op) for node in graph_def.node]
    for function in graph_def.library.function:
        ops += [(f"{function.signature.name}/{node.name}", node.op) for node in function.node_def]
    return ops


def verdict(ops: list[tuple[str, str]], layer_names: list[str]) -> dict[str, bool]:
    """For each layer name: whether some ``CudnnRNN*`` op sits in a name scope of that name.

    A scope matches a whole path segment (``encoder/forward_lstm/CudnnRNNV3`` belongs to ``forward_lstm``,
    not to ``lstm``); Keras suffixes repeated scopes (``lstm_1``) only within one graph, so both forms count.
    """
    scopes = [name.split("/")[:-1] for name, kind in ops if kind.startswith(CUDNN_OP_PREFIX)]
    out = {}
    for layer in layer_names:
        out[layer] = any(segment == layer or _dedup(segment) == layer for path in scopes for segment in path)
    return out


def _dedup(segment: str) -> str:
    """``lstm_1`` -> ``lstm`` where TensorFlow suffixed a repeated scope name; else the segment itself."""
    head, _, tail = segment.rpartition("_")
    return head if head and tail.isdigit() else segment


def training_graph(model, batch):
    """The graph of one traced training step of ``model`` on ``batch`` (forward with training=True + gradient).

    ``batch`` is what the model's dataset yields: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``. The step is
    traced, not run, so this costs no device time; its loss is the sum of the float outputs (the gradient
    reaches every layer the outputs depend on, which is all the layer choice needs).
    """
    import keras
    import tensorflow as tf

    x, _, _ = keras.utils.unpack_x_y_sample_weight(batch)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            loss = tf.add_n([tf.reduce_sum(tf.cast(o, tf.float32)) for o in tf.nest.flatten(outputs)
                             if o.dtype.is_floating])
        return tape.gradient(loss, model.trainable_variables)

    return step.get_concrete_function(x).graph


def ran_cudnn(model, batch) -> dict[str, bool]:
    """``{layer name: ran the cuDNN kernel}`` for every LSTM / GRU layer of ``model``, traced on ``batch``."""
    return verdict(graph_ops(training_graph(model, batch)), recurrent_layers(model))
