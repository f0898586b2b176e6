"""The captioning data checks: every image is found, readable and in a format the model decodes.

Runs after the table is read and split (``Task.check_data``), without TensorFlow. A relative image path
is taken from the folder of the data file its row came from (a recipe's table holds absolute paths into
the cache). A missing, unreadable or undecodable image is a bad row (:class:`RowProblem`, named by the
data file and row): ``data.on_error: fail`` stops with one line, ``skip`` drops and counts it. The image
column then holds absolute paths, and a column ``image_digest`` (a hash of each file's bytes) makes the
stage cache see changed images. An image in the train split and a held-out split would be scored on
what the model was trained on: that stops the run (or, with ``skip``, drops the held-out rows).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from seqpipe.data.checks import ORIGIN, RowProblem, locate, origin, problem_message, where
from seqpipe.errors import DataError

FORMATS = ("PNG", "JPEG", "GIF", "BMP")  # what tf.io.decode_image reads
DIGEST = "image_digest"
HELDOUT = ("valid", "test")


def image_problem(path: Path) -> tuple[str, str] | None:
    """``(what, kind)`` when ``path`` is not an image the model can read, else None."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        return f"image {path} not found; expected an image file", "image not found; expected an image file"
    try:
        with Image.open(path) as image:
            kind = image.format
            image.verify()
    except UnidentifiedImageError:
        return (f"{path} is not an image; expected a PNG, JPEG, GIF or BMP file",
                "not an image; expected a PNG, JPEG, GIF or BMP file")
    except (OSError, SyntaxError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return f"image {path} cannot be read ({reason})", "image cannot be read"
    if kind not in FORMATS:
        return (f"{path} is a {kind} image; expected PNG, JPEG, GIF or BMP",
                f"{kind} image; expected PNG, JPEG, GIF or BMP")
    return None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _keep(frame, rows: list[int]):
    known = origin(frame)
    kept = frame.iloc[rows].reset_index(drop=True)
    if known is not None:
        kept.attrs[ORIGIN] = known.take(rows)
    return kept


def check_images(splits: dict, on_error: str, report) -> dict:
    """``splits`` with absolute image paths and their digests; bad rows fail or are skipped (see the module)."""
    checked: dict[str, tuple[str | None, str | None]] = {}  # path -> (problem, its kind) or (None, digest)
    out = {}
    for split, frame in splits.items():
        known = origin(frame)
        problems, keep, resolved, digests = [], [], [], []
        for row, value in enumerate(frame["image"].tolist()):
            folder = Path(known.file_of(row)).parent if known is not None and known.file else Path(".")
            path = Path(str(value)).expanduser()
            path = (path if path.is_absolute() else folder / path).resolve()
            if str(path) not in checked:
                problem = image_problem(path)
                checked[str(path)] = problem if problem is not None else (None, _digest(path))
            what, extra = checked[str(path)]
            if what is not None:
                file, unit, number = locate(frame, split, row)
                problems.append(RowProblem(file, unit, number, what, extra))
                continue
            keep.append(row)
            resolved.append(str(path))
            digests.append(extra)
        if problems:
            problems.sort(key=lambda p: (p.file, p.number))  # file order (a carved split is shuffled)
            if on_error != "skip":
                raise DataError(problem_message(problems))
            report.add(problems)
        kept = _keep(frame, keep)
        kept["image"] = resolved
        kept[DIGEST] = digests
        out[split] = kept
    return _no_shared_images(out, on_error, report)


def _no_shared_images(splits: dict, on_error: str, report) -> dict:
    """Held-out rows whose image is also a training image: an error, or dropped with ``skip``."""
    train = set(splits["train"]["image"].tolist())
    shared = {split: [row for row, image in enumerate(splits[split]["image"].tolist()) if image in train]
              for split in HELDOUT if split in splits}
    if not any(shared.values()):
        return splits
    what = ("image also in the train split; expected each image's captions in one split (data.split.group_by: "
            "image keeps them together)")
    problems = sorted((RowProblem(*locate(splits[split], split, row), what)
                       for split, rows in shared.items() for row in rows), key=lambda p: (p.file, p.number))
    if on_error != "skip":
        places = where([(p.file, p.unit, p.number) for p in problems])
        raise DataError(f"{places}: {what} (data.on_error: skip drops such held-out rows)")
    report.add(problems)
    out = dict(splits)
    for split, rows in shared.items():
        if rows:
            drop = set(rows)
            out[split] = _keep(splits[split], [i for i in range(len(splits[split])) if i not in drop])
    return out
