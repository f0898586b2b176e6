"""Data sources for seqpipe: recipes, file readers and splits.

Importing this package stays light (no pandas, no TensorFlow); the readers are
imported when data is actually loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from seqpipe.data.checks import DataReport
    from seqpipe.data.config import DataConfig

HELDOUT = ("valid", "test")
_POSITION = "\x00seqpipe.position"  # a frame's row positions in the file's table, while splitting


def should_stream(cfg: DataConfig, streams: bool, base_dir: Path) -> tuple[bool, str]:
    """Whether to stream the training split (``data.streaming``) and why, for the log: ``true`` streams (the
    validation rules have checked it can), ``false`` does not, ``auto`` streams training files larger than
    ``STREAM_ABOVE_MB`` on disk when the task streams and the data section can be streamed."""
    from seqpipe.data.config import STREAM_ABOVE_MB

    if cfg.streaming is True:
        return True, "data.streaming: true"
    if cfg.streaming is False:
        return False, "data.streaming: false"
    if cfg.source.train is None:
        return False, "data.streaming: auto: the source is not source.train files"
    from seqpipe.data.files import resolve_files

    files = resolve_files(cfg.source.train, Path(base_dir), "data.source.train").files()
    size = sum(path.stat().st_size for path in files if path.is_file()) / 2**20
    if size <= STREAM_ABOVE_MB:
        return False, f"data.streaming: auto: {size:,.1f} MiB of training files, at most {STREAM_ABOVE_MB} MiB"
    refusal = ("the task reads its training split whole" if not streams else cfg.stream_refusal())
    if refusal:
        return False, (f"data.streaming: auto: {size:,.0f} MiB of training files would stream, but {refusal}; "
                       "reading them into memory")
    return True, f"data.streaming: auto: {size:,.0f} MiB of training files, more than {STREAM_ABOVE_MB} MiB"


def streamed_train(cfg: DataConfig, *, roles: list[str], seed: int, base_dir: Path):
    """The training split of ``cfg.source.train`` as a :class:`seqpipe.data.stream.StreamedSplit`."""
    from seqpipe.data.files import resolve_files
    from seqpipe.data.stream import StreamedSplit

    files = resolve_files(cfg.source.train, Path(base_dir), "data.source.train")
    if files.kind == "table":
        from seqpipe.data.files import table_format
        from seqpipe.errors import DataError

        for path in files.files():
            if table_format(path, cfg.source.format) != "tsv":
                raise DataError(f"{path}: a streamed training split reads TSV shards or parallel text files; got "
                                f"{table_format(path, cfg.source.format)} (data.streaming: true)")
    return StreamedSplit(files.kind, files.shards, list(roles), seed, columns=cfg.source.columns,
                         header=cfg.source.header, on_error=cfg.on_error, max_tokens=cfg.max_tokens,
                         shuffle_buffer=cfg.shuffle_buffer)


def load_data(
    cfg: DataConfig, *, roles: list[str], seed: int, base_dir: Path, keep: list[str] = (), stream: bool = False
) -> tuple[dict[str, pd.DataFrame], DataReport]:
    """Read and check the configured source; return its ``train`` / ``valid`` / ``test`` frames and
    a :class:`~seqpipe.data.checks.DataReport` of the rows ``data.on_error: skip`` dropped.

    Sources: a recipe is prepared in the cache (with ``source.options`` for a recipe that takes
    them, e.g. a generated one) and its table (TSV, or JSONL for multi-line texts) read; a ``path``
    or fixed ``train`` / ``valid`` / ``test`` files are taken relative to ``base_dir`` (the pipeline
    file's folder), all read with the same format, columns and header. Each of those may be shards
    (a list or a glob), ``.gz`` files, or line-aligned parallel files, one per role
    (:mod:`seqpipe.data.files`, :mod:`seqpipe.data.layouts`); a parallel file's role must be one of
    ``roles``, ``keep`` or ``split.group_by``.
    A recipe that declares its own splits (``Recipe.splits``) names each row's split in its
    ``split`` column. A split that no file or recipe gives is carved from the train rows (or from
    the one table) by ``data.split``; ``split.group_by`` and ``split.stratify`` apply to that
    carving only. ``source.limit`` keeps a seeded sample of the table before it is carved, or of
    the train split alone when the splits are fixed.

    With ``split.group_by``, whole groups go to one split each; that column is read like a role
    from the table that is carved (``source.columns`` may map it) and dropped afterwards unless it
    is one of ``roles``. Otherwise the carving is stratified by ``label`` when ``split.stratify``
    is on and ``label`` is one of ``roles``. ``source.tagset: universal`` maps the ``tags`` column
    to the universal tagset first (:func:`seqpipe.data.tagsets.map_tags`).

    ``keep`` names columns beyond the roles that stages read (``evaluate.by``): read from every file
    like a role and kept in the frames.

    With ``stream``, the train split is a :class:`seqpipe.data.stream.StreamedSplit` over the training files
    (see :func:`should_stream`), read only as training goes; the valid and test files are read into frames.

    Every file is checked before anything trains (see :mod:`seqpipe.data.readers`): with
    ``data.on_error: fail`` a bad row stops here with one line naming the file and rows; with
    ``skip`` bad rows are dropped and counted in the report. Each frame knows the file and row
    each of its rows came from (:func:`seqpipe.data.checks.origin`), for later messages.
    """
    from seqpipe.data.checks import ORIGIN, DataReport
    from seqpipe.data.files import TABLE, FileSet, resolve_files
    from seqpipe.data.layouts import read_files
    from seqpipe.data.recipes import DATASETS, SPLIT_COLUMN, prepare_recipe
    from seqpipe.data.split import shuffle_limit, split_frame

    source, split = cfg.source, cfg.split
    on_error, max_tokens, group_by, limit = cfg.on_error, cfg.max_tokens, split.group_by, source.limit
    files = {name: getattr(source, name) for name in ("train", *HELDOUT)}
    roles = list(roles)
    keep = [c for c in dict.fromkeys(keep) if c not in roles]
    extra = [group_by] if group_by is not None and group_by not in roles + keep else []
    report = DataReport()

    def read(files, columns: list[str], fmt: str, mapping: dict | None, header: bool) -> pd.DataFrame:
        df = read_files(files, format=fmt, roles=columns, columns=mapping, header=header,
                        on_error=on_error, max_tokens=max_tokens, report=report)
        df[_POSITION] = range(len(df))
        return df

    def own_file(key: str, columns: list[str]) -> pd.DataFrame:
        files = resolve_files(getattr(source, key), Path(base_dir), f"data.source.{key}")
        _known_roles(files, roles + keep + ([group_by] if group_by else []))
        return read(files, columns, source.format, source.columns, source.header)

    fixed: dict[str, pd.DataFrame] = {}
    if source.recipe is not None:
        recipe = DATASETS.get(source.recipe)
        table = (prepare_recipe(source.recipe) if source.options is None
                 else prepare_recipe(source.recipe, source.options))
        recipe_splits = recipe.splits_for(source.options)
        carving = any(name not in recipe_splits for name in HELDOUT)
        columns = roles + keep + (extra if carving else []) + ([SPLIT_COLUMN] if recipe_splits else [])
        pool = read(FileSet(TABLE, ({TABLE: Path(table)},)), columns, recipe.format, None, True)
        pool_file = str(table)
        if recipe_splits:
            fixed = _by_split_column(pool, source.recipe, recipe_splits, SPLIT_COLUMN)
    elif source.path is not None:
        carving = True
        pool = own_file("path", roles + keep + extra)
        pool_file = str(pool.attrs[ORIGIN].file)
    elif stream:
        parts = {"train": streamed_train(cfg, roles=roles, seed=seed, base_dir=base_dir)}
        for name in HELDOUT:
            parts[name] = (_settle(own_file(name, roles + keep), []) if files[name] is not None
                           else _empty(parts, roles + keep))
        return parts, report
    else:
        carving = any(files[name] is None for name in HELDOUT)
        fixed["train"] = own_file("train", roles + keep + (extra if carving else []))
        pool_file = str(fixed["train"].attrs[ORIGIN].file)
        for name in HELDOUT:
            if files[name] is not None:
                fixed[name] = own_file(name, roles + keep)
    frames = fixed or {"pool": pool}
    if source.tagset != "original":
        from seqpipe.data.tagsets import map_tags

        for frame in frames.values():
            if "tags" in frame.columns:
                frame["tags"] = map_tags(frame["tags"].tolist(), source.tagset)
    table_to_carve = fixed.get("train", frames.get("pool"))
    if limit is not None:
        table_to_carve = shuffle_limit(table_to_carve, limit, seed)
    if carving:
        stratify_by = ("label" if split.stratify and "label" in roles and group_by is None
                       else None)
        fractions = {name: 0.0 if name in fixed else getattr(split, name) for name in HELDOUT}
        parts = split_frame(table_to_carve, **fractions, seed=seed, stratify_by=stratify_by,
                            group_by=group_by, source=pool_file)
    else:
        parts = {"train": table_to_carve}
    parts.update({name: fixed[name] for name in HELDOUT if name in fixed})
    return {name: _settle(parts[name], extra) for name in ("train", *HELDOUT)}, report


def load_splits(
    cfg: DataConfig, *, roles: list[str], seed: int, base_dir: Path
) -> dict[str, pd.DataFrame]:
    """The ``train`` / ``valid`` / ``test`` frames of :func:`load_data`, without its report."""
    return load_data(cfg, roles=roles, seed=seed, base_dir=base_dir)[0]


def _known_roles(files, known: list[str]) -> None:
    """Refuse a parallel file for a role that nothing reads (one line naming the roles that are read)."""
    from seqpipe.errors import DataError
    from seqpipe.registry import did_you_mean

    for role in files.roles():
        if role not in known:
            raise DataError(f"{files.where}.{role}: unknown role '{role}'; parallel files are given per role, one "
                            f"of {', '.join(known)}{did_you_mean(role, known)}")


def _by_split_column(
    df: pd.DataFrame, recipe: str, splits: tuple[str, ...], column: str
) -> dict[str, pd.DataFrame]:
    """The rows of a recipe's table by the split named in ``column`` (which is dropped)."""
    from seqpipe.data.checks import locate
    from seqpipe.errors import DataError

    if "train" not in splits:
        raise ValueError(f"recipe {recipe}: Recipe.splits must include train; got {', '.join(splits)}")
    names = df[column]
    unknown = ~names.isin(splits)
    if unknown.any():
        row = int(unknown.to_numpy().nonzero()[0][0])
        file, unit, number = locate(df, "table", row)
        raise DataError(f"{file} {unit} {number}: split {names.iloc[row]!r} in column '{column}'; expected "
                        f"one of {', '.join(splits)} (the splits of recipe {recipe})")
    parts = {}
    for name in splits:
        part = df[names == name].drop(columns=column).reset_index(drop=True)
        if part.empty:
            file = locate(df, "table", 0)[0]
            raise DataError(f"{file}: no rows of the {name} split in column '{column}'; expected rows for "
                            f"each of {', '.join(splits)} (the splits of recipe {recipe})")
        parts[name] = part
    return parts


def _empty(parts: dict, columns: list[str]) -> pd.DataFrame:
    """A held-out split with no rows (data.split gives it 0 and no file does), with the split's columns."""
    import pandas as pd

    return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})


def _settle(frame: pd.DataFrame, extra: list[str]) -> pd.DataFrame:
    """``frame`` without the helper columns, its index reset, knowing the file row of each row."""
    from seqpipe.data.checks import ORIGIN, Origin

    positions = frame[_POSITION].tolist()
    frame = frame.drop(columns=[_POSITION, *[c for c in extra if c in frame.columns]]).reset_index(drop=True)
    known = frame.attrs.get(ORIGIN)
    if isinstance(known, Origin):
        frame.attrs[ORIGIN] = known.take(positions)
    return frame
