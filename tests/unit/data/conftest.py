import pytest

from seqpipe.data import recipes


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder; any attempt to run pip fails the test."""

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run")

    monkeypatch.setattr(recipes.subprocess, "run", no_pip)
    (tmp_path / "downloads").mkdir()
    return tmp_path
