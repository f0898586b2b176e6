"""Keys a pipeline gives that its components will not read: those of another ``kind`` (a recurrent encoder's
``cell`` under ``encode.kind: transformer``). ``seqpipe validate`` prints them as warnings with their file and
line, and ``seqpipe run`` logs them, so that a setting that changes nothing never goes unnoticed."""

from __future__ import annotations

Finding = tuple[tuple, str]  # (key path with the stage by name, why it is not read)


def unread_keys(config) -> list[Finding]:
    """Every key of ``config`` that the kind chosen in its section does not read."""
    findings: list[Finding] = []
    for stage in config.stage_names():
        cfg = config.stage(stage)
        if hasattr(cfg, "kind_problems") and getattr(cfg, "tree", None) is None:  # encode.tree refuses them itself
            findings += cfg.kind_problems(("stages", stage))
    return findings
