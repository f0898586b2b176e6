"""Where seqpipe keeps downloaded and prepared data, and a lock to share it safely."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def cache_dir() -> Path:
    """Return the cache folder, creating it if needed.

    ``$SEQPIPE_CACHE`` when set, else ``$XDG_CACHE_HOME/seqpipe``, else
    ``~/.cache/seqpipe``. Empty variables count as unset.
    """
    if os.environ.get("SEQPIPE_CACHE"):
        path = Path(os.environ["SEQPIPE_CACHE"]).expanduser()
    elif os.environ.get("XDG_CACHE_HOME"):
        path = Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "seqpipe"
    else:
        path = Path.home() / ".cache" / "seqpipe"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` while the block runs.

    Processes that lock the same ``path`` run the block one at a time, so two runs
    preparing the same dataset do not write the same files at once.
    """
    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
