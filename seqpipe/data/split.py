"""Seeded, optionally stratified train / valid / test splits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from seqpipe.errors import DataError


def split_frame(
    df: pd.DataFrame, *, valid: float, test: float, seed: int, stratify_by: str | None
) -> dict[str, pd.DataFrame]:
    """Split ``df`` into ``train``, ``valid`` and ``test`` frames (index reset).

    The valid and test splits get ``round(len(df) * fraction)`` rows each (an empty
    frame for fraction 0); train gets the rest. The result depends only on ``df`` and
    ``seed``. With ``stratify_by``, every split holds each value of that column in the
    same proportion as ``df`` (to within one row per value).
    """
    n = len(df)
    sizes = {"valid": math.floor(n * valid + 0.5), "test": math.floor(n * test + 0.5)}
    for name, fraction in (("valid", valid), ("test", test)):
        if fraction > 0 and sizes[name] == 0:
            raise DataError(
                f"{n} rows are too few for a {name} split of {fraction}: it would get no rows; "
                f"add rows, raise data.split.{name} or set it to 0"
            )
    if sizes["valid"] + sizes["test"] >= n:
        raise DataError(
            f"{n} rows leave no rows for the train split (valid {valid}, test {test}); "
            "add rows or lower data.split.valid / data.split.test"
        )
    order = _order(df, seed, stratify_by)
    cut_test, cut_valid = sizes["test"], sizes["test"] + sizes["valid"]
    parts = {
        "train": order[cut_valid:], "valid": order[cut_test:cut_valid], "test": order[:cut_test]
    }
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
