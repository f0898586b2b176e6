"""Seeded train / valid / test splits: by row (optionally stratified) or by group."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from seqpipe.errors import DataError


def split_frame(
    df: pd.DataFrame, *, valid: float, test: float, seed: int, stratify_by: str | None,
    group_by: str | None = None, source: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Split ``df`` into ``train``, ``valid`` and ``test`` frames (index reset).

    The valid and test splits get ``round(len(df) * fraction)`` rows each (an empty
    frame for fraction 0); train gets the rest. The result depends only on ``df`` and
    ``seed``. With ``stratify_by``, every split holds each value of that column in the
    same proportion as ``df`` (to within one row per value).

    With ``group_by`` (not with ``stratify_by``), the rows sharing a value of that column
    stay together: see :func:`split_groups`.

    ``source`` (the file the rows come from) starts every error message when given.
    """
    if group_by is not None:
        if stratify_by is not None:
            raise ValueError("split_frame takes stratify_by or group_by, not both")
        return split_groups(df, valid=valid, test=test, seed=seed, group_by=group_by, source=source)
    n = len(df)
    prefix = f"{source}: " if source else ""
    sizes = {"valid": math.floor(n * valid + 0.5), "test": math.floor(n * test + 0.5)}
    for name, fraction in (("valid", valid), ("test", test)):
        if fraction > 0 and sizes[name] == 0:
            raise DataError(
                f"{prefix}{n} rows are too few for a {name} split of {fraction}: it would get no rows; "
                f"add rows, raise data.split.{name} or set it to 0"
            )
    if sizes["valid"] + sizes["test"] >= n:
        raise DataError(
            f"{prefix}{n} rows leave no rows for the train split (valid {valid}, test {test}); "
            "add rows or lower data.split.valid / data.split.test"
        )
    order = _order(df, seed, stratify_by)
    cut_test, cut_valid = sizes["test"], sizes["test"] + sizes["valid"]
    parts = {
        "train": order[cut_valid:], "valid": order[cut_test:cut_valid], "test": order[:cut_test]
    }
    return {name: df.iloc[rows].reset_index(drop=True) for name, rows in parts.items()}


def split_groups(
    df: pd.DataFrame, *, valid: float, test: float, seed: int, group_by: str, source: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Split ``df`` into ``train``, ``valid`` and ``test`` so that no group spans two splits.

    The distinct values of column ``group_by`` are shuffled with ``seed``; the valid and
    test splits get ``round(groups * fraction)`` groups each, at least one for a non-zero
    fraction (none for 0), and train the rest. Each split holds its groups' rows, group
    after group in the shuffled order, each group's rows in their order in ``df``. The
    result depends only on ``df`` and ``seed``. ``source`` starts error messages when given.
    """
    prefix = f"{source}: " if source else ""
    if group_by not in df.columns:
        raise DataError(
            f"{prefix}no column '{group_by}' to split by (data.split.group_by); "
            f"the table has: {', '.join(map(str, df.columns))}"
        )
    groups, codes = np.unique(df[group_by].to_numpy(), return_inverse=True)
    n = len(groups)
    sizes = {name: max(1, math.floor(n * fraction + 0.5)) if fraction > 0 else 0
             for name, fraction in (("valid", valid), ("test", test))}
    if sizes["valid"] + sizes["test"] >= n:
        noun, verb = ("group", "is") if n == 1 else ("groups", "are")
        raise DataError(
            f"{prefix}{n} {noun} in column '{group_by}' {verb} too few to split by group: valid {valid} "
            f"and test {test} take {sizes['valid']} + {sizes['test']} and leave none for train; "
            "add groups, or lower data.split.valid / data.split.test or set one to 0"
        )
    rank = np.empty(n, dtype=np.int64)  # each group's place in the shuffle
    rank[np.random.default_rng(seed).permutation(n)] = np.arange(n)
    row_rank = rank[codes.reshape(-1)]
    order = np.lexsort((np.arange(len(df)), row_rank))
    cut_test, cut_valid = sizes["test"], sizes["test"] + sizes["valid"]
    ranks = row_rank[order]
    parts = {"train": order[ranks >= cut_valid],
             "valid": order[(ranks >= cut_test) & (ranks < cut_valid)],
             "test": order[ranks < cut_test]}
    return {name: df.iloc[rows].reset_index(drop=True) for name, rows in parts.items()}


def _order(df: pd.DataFrame, seed: int, stratify_by: str | None) -> np.ndarray:
    """A seeded order of the row positions; stratified, every prefix mirrors the classes.

    Each row of a class of size ``k`` gets the key ``(i + 0.5) / k`` for its place ``i``
    in a shuffle of that class; sorting by key (ties broken at random) interleaves the
    classes in proportion.
    """
    rng = np.random.default_rng(seed)
    if stratify_by is None:
        return rng.permutation(len(df))
    _, codes = np.unique(df[stratify_by].to_numpy(), return_inverse=True)
    key = np.empty(len(df))
    for code in range(codes.max(initial=-1) + 1):
        members = rng.permutation(np.flatnonzero(codes == code))
        key[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.lexsort((rng.random(len(df)), key))


def shuffle_limit(df: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    """Keep the first ``limit`` rows of a seeded shuffle of ``df`` (index reset)."""
    rows = np.random.default_rng(seed).permutation(len(df))[:limit]
    return df.iloc[rows].reset_index(drop=True)
