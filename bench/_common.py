"""Helpers shared by the benchmark modules: child processes with their peak RSS, ratios, PyTorch on demand."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.suite import ROOT

CACHE = Path(os.environ.get("SEQPIPE_BENCH_CACHE", Path.home() / ".cache" / "seqpipe-bench"))
TORCH_VERSION = "2.13.0"  # the PyTorch CPU build B2 compares against (installed for the benchmarks only)


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment for a child: TensorFlow's start-up lines off, MLflow telemetry off, ``extra`` on top."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MLFLOW_DISABLE_TELEMETRY": "true",
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p), **extra}


def child(command: list[str], *, cwd: Path | str | None = None, env: dict | None = None,
          timeout: float | None = None) -> dict:
    """Run ``command`` to the end; its wall seconds, peak RSS (MiB, of that process, from ``wait4``) and output.

    ``started`` is the wall-clock time (``time.time()``) just before the process was created, so a child that
    writes ``time.time()`` at some event gives the time from process start to that event.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started, t0 = time.time(), time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=env or quiet_env(), stdout=out, stderr=err, text=True)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"started": started, "seconds": seconds, "rss_mib": usage.ru_maxrss / 1024,
                "returncode": proc.returncode, "stdout": out.read(), "stderr": err.read()}


def check(result: dict, what: str) -> dict:
    """``result`` of :func:`child`, or RuntimeError with the last lines of its output."""
    if result["returncode"] != 0:
        tail = (result["stderr"] or result["stdout"]).strip().splitlines()[-5:]
        raise RuntimeError(f"{what} failed (exit {result['returncode']}): " + " | ".join(tail))
    return result


def median(values) -> float:
    return float(statistics.median(values))


def ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    """Per-round ratios of two series measured side by side (round i against round i)."""
    return [a / b for a, b in zip(numerators, denominators)]


def rotate(items: list, turn: int) -> list:
    """``items`` starting at ``turn`` (so a round's order changes from round to round)."""
    k = turn % len(items) if items else 0
    return items[k:] + items[:k]


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def torch_site() -> tuple[str | None, str]:
    """A folder to put on ``sys.path`` for ``import torch`` (PyTorch 2.13.0, CPU), and how it was found.

    PyTorch is never a dependency of seqpipe: when the running Python does not have it, it is installed for
    the benchmarks only, with ``pip install --target`` into ``~/.cache/seqpipe-bench/torch-2.13.0`` (from the
    package index pip is configured with). Returns ``(None, reason)`` when that fails.
    """
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                           text=True)
    if probe.returncode == 0:
        return "", f"torch {probe.stdout.strip()} of the running Python"
    target = CACHE / f"torch-{TORCH_VERSION}"
    marker = target / ".complete"
    if not marker.exists():
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
                               f"torch=={TORCH_VERSION}"], capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            return None, f"pip install torch=={TORCH_VERSION} failed: {last[0]}"
        marker.write_text(time.strftime("%Y-%m-%d %H:%M"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                           text=True, env=env)
    if probe.returncode != 0:
        return None, f"torch in {target} does not import: {(probe.stderr.strip().splitlines() or ['?'])[-1]}"
    return str(target), f"torch {probe.stdout.strip()} installed for the benchmarks only in {target}"


class Worker:
    """A long-lived child process answering JSON requests line by line (``python -m bench.<module> --worker``).

    Benchmarks that compare frameworks keep one worker per framework alive and send it one measurement at a
    time, so the measurements of the different workers interleave while only one of them runs at once.
    """

    def __init__(self, module: str, args: list[str], env: dict | None = None):
        self.err = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty worker never blocks on it
        self.proc = subprocess.Popen([sys.executable, "-m", module, "--worker", *args], cwd=ROOT,
                                     env=env or quiet_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, bufsize=1)

    def ask(self, request: dict) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.err.seek(0)
            raise RuntimeError("worker died: " + " | ".join(self.err.read().strip().splitlines()[-5:]))
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def close(self) -> dict:
        """Stop the worker; its peak RSS in MiB."""
        self.proc.stdin.close()
        _, _, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = 0
        self.err.close()
        return {"rss_mib": usage.ru_maxrss / 1024}


def serve(handle) -> None:
    """The worker side of :class:`Worker`: read JSON requests from stdin, answer ``handle(request)`` on stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints (Keras, TensorFlow) go to stderr, never into the answers
    for line in sys.stdin:
        try:
            answer = handle(json.loads(line))
        except Exception as exc:  # noqa: BLE001 -- reported to the parent, which raises it
            import traceback

            traceback.print_exc()
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")


def spread_fmt(values, fmt: str = "{:,.0f}") -> str:
    """``median (min-max)`` with ``fmt`` for each figure (the value itself for one)."""
    values = [float(v) for v in values]
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def sentencepiece(texts: list[str], name: str, vocab_size: int, max_length: int):
    """A seqpipe SentencePiece ``TextEncoder`` trained on ``texts`` (as the ``tokenize`` stage builds one)."""
    from seqpipe.text import TOKENIZERS
    from seqpipe.text.encoder import TextEncoder

    kind = TOKENIZERS.get("sentencepiece")(None, False)
    vocabulary = kind.build_vocabulary(texts, vocab_size, 1)
    return TextEncoder("sentencepiece", vocabulary, max_length, False, model=kind.model, name=name)
