"""Where the cache lives, and the lock that serialises dataset preparation."""

from __future__ import annotations

import fcntl

import pytest

from seqpipe.data.cache import cache_dir, file_lock


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.delenv("SEQPIPE_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_seqpipe_cache_wins(env, tmp_path):
    env.setenv("SEQPIPE_CACHE", str(tmp_path / "mine"))
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "mine"
    assert (tmp_path / "mine").is_dir()


def test_xdg_cache_home_is_next(env, tmp_path):
    env.setenv("SEQPIPE_CACHE", "")
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "seqpipe"
    assert (tmp_path / "xdg" / "seqpipe").is_dir()


def test_home_cache_is_the_default(env, tmp_path):
    assert cache_dir() == tmp_path / "home" / ".cache" / "seqpipe"
    assert (tmp_path / "home" / ".cache" / "seqpipe").is_dir()


def test_file_lock_is_exclusive_while_held(tmp_path):
    target = tmp_path / "sub" / "data.tsv"
    with file_lock(target):
        with open(tmp_path / "sub" / "data.tsv.lock") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(tmp_path / "sub" / "data.tsv.lock") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
