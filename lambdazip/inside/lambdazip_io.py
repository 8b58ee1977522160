"""Runs INSIDE the build container: what install.py, lambdazip_slim and lambdazip_bytecode share:
running a command with its line shown, and writing a file whole into the cache volume that
parallel builds share. Standard library only."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any


def run(command: list[str], **kwargs: Any) -> int:
    print("+ " + " ".join(command), flush=True)
    return subprocess.call(command, stdin=subprocess.DEVNULL, **kwargs)


def unique() -> str:
    """A name no other build writes at the same time: builds sharing the cache volume run in
    their own containers, where each install.py may have the same process ID."""
    import secrets

    return secrets.token_hex(8)


def write_whole(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` beside it, then rename it into place: a reader at the same
    time (the probe imports while bytecode is written) sees no file or the whole of it."""
    staged = f"{path}.{unique()}"
    try:
        with open(staged, "wb") as fh:
            fh.write(data)
        os.replace(staged, path)
    finally:
        if os.path.exists(staged):
            os.unlink(staged)


def keep_whole(source: str, kept: str) -> None:
    """Copy ``source`` to ``kept`` in the cache volume: written beside, then renamed into place,
    so that parallel builds sharing the volume only ever read a whole file (one of them wins)."""
    os.makedirs(os.path.dirname(kept), exist_ok=True)
    staged = f"{kept}.{unique()}"
    try:
        shutil.copyfile(source, staged)
        os.replace(staged, kept)
    finally:
        if os.path.exists(staged):
            os.unlink(staged)
