"""Stage caching: a stage whose inputs have not changed reuses what an earlier run computed.

Every stage gets a key: the hash of its resolved config, chained with the keys of the stages before
it (so it covers everything upstream), what a stage reads beyond its config (``Stage.cache_inputs``: the
name, size and time of a pretrained vectors file), the data's content hash, the seed, the runtime settings and
seqpipe itself (its version and the hash of its source). Stages that can be cached implement
``Stage.cache_save(ctx, folder)`` and ``Stage.cache_load(ctx, folder)``; today tokenize (the
vocabularies) and train (the trained weights and history). Changing only evaluation, decoding or
export settings therefore reuses the trained model. Entries live in ``$SEQPIPE_STAGE_CACHE``, else
``<seqpipe cache>/stages`` (``$SEQPIPE_CACHE`` or ``~/.cache/seqpipe``); an entry that fails to load is
recomputed, never fatal. ``seqpipe run --no-cache`` turns it off.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

ENTRY = "entry.json"  # written last: an entry without it is incomplete and ignored


def cache_root() -> Path:
    if os.environ.get("SEQPIPE_STAGE_CACHE"):
        path = Path(os.environ["SEQPIPE_STAGE_CACHE"]).expanduser()
    else:
        from seqpipe.data.cache import cache_dir

        path = cache_dir() / "stages"
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.cache
def code_digest() -> str:
    """seqpipe's version and a hash of its source files: any code change makes new keys."""
    from seqpipe._version import __version__

    package = Path(__file__).resolve().parents[1]  # the seqpipe package folder
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def data_digest(splits: dict) -> str:
    """A content hash of the split frames (values, columns and which split each row is in)."""
    import pandas as pd

    digest = hashlib.sha256()
    for name in sorted(splits):
        frame = splits[name]
        if not isinstance(frame, pd.DataFrame):  # a streamed split: its files' names, sizes and times
            digest.update(f"{name}:stream:{frame.digest()}".encode())
            continue
        digest.update(f"{name}:{len(frame)}:{list(frame.columns)}".encode())
        if len(frame):
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


class StageCache:
    """Keys, looks up and stores stage outputs for one run."""

    def __init__(self, config, resolved: dict, splits: dict, enabled: bool = True):
        self.enabled = enabled
        self.root = cache_root() if enabled else None
        settings = {k: resolved.get(k) for k in ("task", "seed", "runtime")}
        self.chain = _hash(code_digest(), settings, resolved.get("data"), data_digest(splits)) if enabled else ""
        self.stage_configs = {name: cfg for entry in resolved["stages"] for name, cfg in entry.items()}
        self.report: dict[str, str] = {}

    def advance(self, stage: str, inputs: Any = None) -> str:
        """The key of ``stage`` (call in stage order): it covers this stage's config, what else it reads
        (``inputs``: :meth:`seqpipe.pipeline.stage.Stage.cache_inputs`) and everything before it."""
        parts = (self.chain, stage, self.stage_configs.get(stage)) + ((inputs,) if inputs is not None else ())
        self.chain = _hash(*parts)
        return self.chain

    def folder(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def lookup(self, stage: str, key: str) -> dict | None:
        """The entry's metadata (run id and folder that computed it) when there is a complete one."""
        if not self.enabled:
            return None
        meta = self.folder(stage, key) / ENTRY
        try:
            return json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else None
        except (OSError, ValueError):
            return None

    def store(self, stage: str, key: str, write, meta: dict) -> None:
        """``write(folder)`` fills a fresh folder; it becomes the entry at once (a concurrent writer may win)."""
        if not self.enabled:
            return
        target = self.folder(stage, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
        try:
            write(staging)
            (staging / ENTRY).write_text(json.dumps({**meta, "stage": stage, "created": time.time()}),
                                         encoding="utf-8")
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def forget(self, stage: str, key: str) -> None:
        shutil.rmtree(self.folder(stage, key), ignore_errors=True)
