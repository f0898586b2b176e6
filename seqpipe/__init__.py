"""seqpipe: declarative YAML pipelines for recurrent sequence models on Keras 3."""

from seqpipe._version import __version__

__all__ = ["__version__", "run"]


def run(pipeline, overrides=(), **kwargs):
    """Run a pipeline file (or a dict, with ``base_dir=``); see :func:`seqpipe.api.run`."""
    from seqpipe.api import run as _run

    return _run(pipeline, overrides, **kwargs)
