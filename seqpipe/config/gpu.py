"""GPU readiness, checked without a GPU: which recurrent parts of a pipeline would lose the fused cuDNN kernel.

Every ``cell`` key of every stage (encoder, decoder, character encoder, ...) is checked with its cell's
rule (:func:`seqpipe.cells.cudnn_eligible`: the kind, its options, the stage's ``recurrent_dropout``
and ``skip_delay``). A stage whose recurrent layers step their cells one at a time by design (an
attention decoder needs each step's state) declares ``steps_cells = True`` and is reported as such:
it never uses the fused kernel, whatever the cell. ``seqpipe validate`` prints these as warnings,
and every run records them in the tags ``cudnn_eligible`` / ``cudnn_reason``.
"""

from __future__ import annotations

from typing import Iterator

from pydantic import BaseModel

Finding = tuple[tuple, str]  # (key path with the stage by name, why the fused kernel is lost)


def _cells(model: BaseModel, path: tuple) -> Iterator[tuple[tuple, BaseModel, object]]:
    """Every ``cell`` field under ``model``: (its path, the model holding it, the cell spec)."""
    unread = model.unread_keys() if hasattr(model, "unread_keys") else ()  # the keys of another kind
    for name in type(model).model_fields:
        if name in unread:
            continue
        value = getattr(model, name)
        if name == "cell" and value is not None:
            yield path + (name,), model, value
        elif isinstance(value, BaseModel):
            yield from _cells(value, path + (name,))


def gpu_findings(config) -> list[Finding]:
    """The recurrent parts of ``config`` that cannot run the fused GPU kernel, one finding each."""
    from seqpipe.cells import cudnn_eligible
    from seqpipe.pipeline.stage import STAGES

    findings = []
    for stage in config.stage_names():
        cfg = config.stage(stage)
        if STAGES.get(stage).steps_cells:
            if any(True for _ in _cells(cfg, ())):  # none in a Transformer decoder (decode.kind: transformer)
                findings.append((("stages", stage), f"stage '{stage}' steps its recurrent cells one at a time, so "
                                                     "it never runs the fused (cuDNN) kernel"))
            continue
        for path, holder, spec in _cells(cfg, ("stages", stage)):
            eligible, why = cudnn_eligible(spec, getattr(holder, "recurrent_dropout", 0.0),
                                           getattr(holder, "skip_delay", 0) or 0)
            if not eligible:
                findings.append((path, f"{why}; this layer loses the fused GPU kernel"))
    return findings
