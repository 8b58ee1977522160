"""A server process of the tests' own (the OCI registry, Podman's API service): started, waited for
until it answers, and stopped whatever happened, its output kept in a log to say why it did not
start."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path


@contextlib.contextmanager
def serving(
    what: str,
    argv: Sequence[str],
    log_path: Path,
    answers: Callable[[], bool],
    *,
    startup: float,
    stop: float = 10.0,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` running until the block ends; RuntimeError with the end of its log if it exits or
    does not answer within ``startup`` seconds. Stopped by SIGTERM, killed after ``stop``."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(argv), env=None if env is None else dict(env), stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + startup
            while not answers():
                if process.poll() is not None or time.monotonic() > deadline:
                    said = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{what} did not start: {said}")
                time.sleep(0.05)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=stop)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
