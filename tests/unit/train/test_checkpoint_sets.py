"""A checkpoint is a set (weights, rng, last.json naming them) made current in one step; damage is one line."""

from __future__ import annotations

import errno
import json
import shutil

import keras
import numpy as np
import pytest

from seqpipe.errors import DiskFullError, SeqpipeError, full_disk_error
from seqpipe.train.checkpoints import FORMAT, TrainingState

STATE = {"epoch": 1, "batch": 0, "steps_per_epoch": 1, "completed": False, "best": None, "early_stopping": None,
         "history": {}}


def model(seed: int = 1):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dropout(0.3, seed=seed),
                          keras.layers.Dense(1)])
    m.compile(keras.optimizers.Adam(0.01), "mse")
    m.fit(np.random.default_rng(seed).normal(size=(16, 4)), np.ones((16, 1)), verbose=0)
    return m


def values(m):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in m.variables + m.optimizer.variables]


@pytest.fixture
def saved(tmp_path):
    """A checkpoints folder after two writes, and the model as of the second."""
    folder = tmp_path / "run" / "checkpoints"
    m, state = model(), TrainingState(folder)
    state.save(m, STATE)
    m.fit(np.ones((16, 4)), np.zeros((16, 1)), verbose=0)
    state.save(m, {**STATE, "epoch": 2})
    return folder, m


def test_a_write_makes_the_new_set_current_and_deletes_the_previous_one(saved):
    folder, m = saved
    assert sorted(p.name for p in folder.iterdir()) == ["last-000002.rng.npz", "last-000002.weights.h5", "last.json"]
    meta = json.loads((folder / "last.json").read_text())
    assert (meta["format"], meta["weights"], meta["rng"], meta["epoch"]) == (FORMAT, "last-000002.weights.h5",
                                                                          "last-000002.rng.npz", 2)
    other = model(seed=2)
    assert TrainingState(folder).restore(other)["epoch"] == 2
    assert all(np.array_equal(a, b) for a, b in zip(values(other), values(m)))


def test_files_of_a_set_never_committed_are_ignored_then_deleted(saved):
    folder, m = saved
    for name in ("last-000003.weights.h5", "last-000003.rng.npz", "last.json.partial"):  # killed before the commit
        (folder / name).write_bytes(b"cut")
    state = TrainingState(folder)  # a new process: numbering continues after the orphans
    assert state.restore(model(seed=2))["epoch"] == 2
    state.save(m, {**STATE, "epoch": 3})
    assert json.loads((folder / "last.json").read_text())["weights"] == "last-000004.weights.h5"
    assert sorted(p.name for p in folder.iterdir()) == ["last-000004.rng.npz", "last-000004.weights.h5", "last.json"]


def test_a_checkpoint_of_format_1_is_read_and_replaced_by_the_next_write(saved):
    folder, m = saved
    meta = json.loads((folder / "last.json").read_text())
    shutil.move(folder / meta.pop("weights"), folder / "last.weights.h5")
    shutil.move(folder / meta.pop("rng"), folder / "last.rng.npz")
    (folder / "last.json").write_text(json.dumps({**meta, "format": 1}))
    state = TrainingState(folder)
    assert state.restore(model(seed=2))["epoch"] == 2
    state.save(m, {**STATE, "epoch": 3})
    assert sorted(p.name for p in folder.iterdir()) == ["last-000001.rng.npz", "last-000001.weights.h5", "last.json"]


def test_a_checkpoint_of_an_unknown_format_says_so(saved):
    folder, _ = saved
    (folder / "last.json").write_text(json.dumps({**STATE, "format": 99}))
    with pytest.raises(SeqpipeError, match="a checkpoint of another seqpipe version \\(format 99\\); start a new run"):
        TrainingState(folder).read()


def cut(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(("damage", "name", "why"), [
    (lambda f: cut(f / "last.json"), "last.json", "invalid JSON, cut short?"),
    (lambda f: (f / "last.json").write_text('{"format": 2}'), "last.json", "no epoch, batch"),
    (lambda f: (f / "last.json").write_text("[2]"), "last.json", "not a JSON object"),
    (lambda f: (f / "last-000002.weights.h5").unlink(), "last-000002.weights.h5", "missing; last.json names it"),
    (lambda f: cut(f / "last-000002.weights.h5"), "last-000002.weights.h5", "cannot be loaded: OSError"),
    (lambda f: cut(f / "last-000002.rng.npz"), "last-000002.rng.npz", "cannot be loaded: BadZipFile"),
])
def test_a_damaged_checkpoint_is_one_line_naming_the_file_and_what_to_do(saved, damage, name, why):
    folder, _ = saved
    damage(folder)
    with pytest.raises(SeqpipeError) as caught:
        TrainingState(folder).restore(model(seed=2))
    message = str(caught.value)
    assert "\n" not in message and type(caught.value) is SeqpipeError
    assert message.startswith(f"{folder / name}: the training checkpoint is damaged ({why}")
    assert message.endswith(f"; start a new run (without --resume), or delete {folder} and --resume {folder.parent} "
                            "to train this run from the start")


def test_a_full_disk_names_the_folder_and_what_the_run_keeps(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    error = OSError(errno.ENOSPC, "No space left on device", str(run / "checkpoints" / "last-000003.weights.h5"))
    message = str(full_disk_error(error, run))
    assert message == (f"no space left on device while writing {run / 'checkpoints'}: free space on that disk (or set "
                       f"output_dir to a folder on another one), then continue with --resume {run}; nothing was lost: "
                       f"no training checkpoint was written yet; the run folder is {run}")
    (run / "checkpoints" / "last.json").write_text("{}")
    quota = OSError(errno.EDQUOT, "Disk quota exceeded")
    assert str(full_disk_error(quota, run)) == (
        f"disk quota exceeded while writing {run}: free space on that disk (or set output_dir to a folder on another "
        f"one), then continue with --resume {run}; nothing was lost: {run / 'checkpoints'} keeps the last complete "
        "training checkpoint")
    try:  # h5py and TensorFlow quote the system's words in their own errors, the OSError may be a cause
        try:
            raise RuntimeError("Unable to create file (file write failed: errno = 28, error message = 'No space left "
                               "on device')")
        except RuntimeError as inner:
            raise ValueError("saving failed") from inner
    except ValueError as outer:
        assert isinstance(full_disk_error(outer, run), DiskFullError)
    assert full_disk_error(OSError(errno.EACCES, "Permission denied"), run) is None
    assert str(full_disk_error(error)).endswith("then run the command again")
