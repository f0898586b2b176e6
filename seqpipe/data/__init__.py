"""Data sources for seqpipe: recipes, file readers and splits.

Importing this package stays light (no pandas, no TensorFlow); the readers are
imported when data is actually loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from seqpipe.data.config import DataConfig


def load_splits(
    cfg: DataConfig, *, roles: list[str], seed: int, base_dir: Path
) -> dict[str, pd.DataFrame]:
    """Read the configured source and return its ``train`` / ``valid`` / ``test`` frames.

    A recipe is prepared in the cache and its table (TSV, or JSONL for multi-line texts)
    read; a ``path`` is taken relative to ``base_dir`` (the pipeline file's folder).
    ``source.limit`` keeps a seeded sample. With ``split.group_by``, whole groups go to
    one split each; that column is read like a role (``source.columns`` may map it) and
    dropped afterwards unless it is one of ``roles``. Otherwise the split is stratified
    by ``label`` when ``split.stratify`` is on and ``label`` is one of ``roles``.
    ``source.tagset: universal`` maps the ``tags`` column to the universal tagset first
    (:func:`seqpipe.data.tagsets.map_tags`).
    """
    from seqpipe.data.readers import read_table
    from seqpipe.data.recipes import DATASETS, prepare_recipe
    from seqpipe.data.split import shuffle_limit, split_frame

    source, split = cfg.source, cfg.split
    group_by = split.group_by
    columns = list(roles) + ([group_by] if group_by is not None and group_by not in roles else [])
    if source.recipe is not None:
        df = read_table(prepare_recipe(source.recipe), format=DATASETS.get(source.recipe).format,
                        roles=columns)
    else:
        path = Path(base_dir) / Path(source.path).expanduser()
        df = read_table(path, format=source.format, roles=columns, columns=source.columns,
                        header=source.header)
    if source.tagset != "original" and "tags" in df.columns:
        from seqpipe.data.tagsets import map_tags

        df["tags"] = map_tags(df["tags"].tolist(), source.tagset)
    if source.limit is not None:
        df = shuffle_limit(df, source.limit, seed)
    stratify_by = ("label" if split.stratify and "label" in roles and group_by is None
                   else None)
    parts = split_frame(df, valid=split.valid, test=split.test, seed=seed,
                        stratify_by=stratify_by, group_by=group_by)
    if len(columns) > len(roles):
        parts = {name: part.drop(columns=group_by) for name, part in parts.items()}
    return parts
