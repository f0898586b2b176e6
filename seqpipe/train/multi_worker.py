"""Two workarounds that let Keras 3's ``fit`` run under ``MultiWorkerMirroredStrategy`` on TensorFlow 2.x.

Both are no-ops under every other strategy, and tested by tests/integration/test_distribute.py (two worker
processes on 127.0.0.1 give the loss curve of one device):

1. ``fit`` first reduces one distributed batch across the workers to build the model symbolically, which fails
   (a PerReplica value is converted to a tensor). We build from one local batch and skip that step.
2. Each step's scalar logs (loss, metrics) are reduced with ``strategy.reduce("MEAN", v, axis=0)``, which fails
   on a scalar. We reduce scalars over replicas only (``axis=None``), which is what that call means.
"""

from __future__ import annotations


def prepare_multi_worker(model, dataset) -> None:
    """Under MultiWorkerMirroredStrategy: build ``model`` (loss, metrics, optimizer) from one batch of
    ``dataset`` and patch the scalar log reduction; otherwise nothing."""
    import tensorflow as tf

    if not isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return
    _patch_scalar_reduction()
    model._symbolic_build(data_batch=next(iter(dataset)))
    model._maybe_symbolic_build = lambda *args, **kwargs: None


def _patch_scalar_reduction() -> None:
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "seqpipe_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        import tensorflow as tf

        if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            def reduce(v):
                if getattr(v, "shape", None) is not None and v.shape.rank == 0 or _scalar_per_replica(strategy, v):
                    return strategy.reduce("MEAN", v, axis=None)
                return original(v, strategy, reduction)

            from keras.src import tree

            return tree.map_structure(reduce, values)
        return original(values, strategy, reduction)

    reduce_per_replica.seqpipe_patched = True
    trainer.reduce_per_replica = reduce_per_replica


def _scalar_per_replica(strategy, value) -> bool:
    import tensorflow as tf

    if not isinstance(value, tf.distribute.DistributedValues):
        return False
    return all(t.shape.rank == 0 for t in strategy.experimental_local_results(value))
