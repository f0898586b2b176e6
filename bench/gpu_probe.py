"""Child of ``python -m bench --gpu``: a seqpipe run under bench._probe that also checks the cuDNN path.

``python -m bench.gpu_probe CUDNN.json -- <bench._probe arguments>`` wraps ``keras.Model.fit`` so that its
first call, before training starts, traces one training step of the model on the first batch of its
dataset and writes :func:`bench.gpu_cudnn.ran_cudnn`'s ``{layer: ran cuDNN}`` to CUDNN.json; then it
hands over to :mod:`bench._probe` (step clock, token count, ``--stop-after``) unchanged.
"""

from __future__ import annotations

import json
import sys


def install(out: str) -> None:
    import keras

    original = keras.Model.fit

    def fit(self, x=None, *args, **kwargs):
        if not getattr(fit, "done", False):
            fit.done = True
            from bench.gpu_cudnn import ran_cudnn

            try:
                result = {"layers": ran_cudnn(self, next(iter(x)))}
            except Exception as exc:  # noqa: BLE001 -- reported in the results, the run goes on
                result = {"layers": {}, "error": f"{type(exc).__name__}: {exc}"}
            with open(out, "w", encoding="utf-8") as handle:
                json.dump(result, handle)
        return original(self, x, *args, **kwargs)

    keras.Model.fit = fit


def main() -> int:
    out, rest = sys.argv[1], sys.argv[3:]  # argv[2] is the "--"
    install(out)
    import bench._probe as probe

    sys.argv = [probe.__file__, *rest]
    return probe.main()


if __name__ == "__main__":
    sys.exit(main())
