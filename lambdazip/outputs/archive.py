"""Zips on the host: what a build's zip is (ZipResult), SOURCE_DATE_EPOCH, and the lock that lets
one build at a time replace an output. The zips themselves are packed in the image
(inside/lambdazip_zip.py); tests/zips.py writes zips on the host with the same writer."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lambdazip.errors import OutputError, UsageError
from lambdazip.inside.lambdazip_zip import DEFAULT_EPOCH, ZIP_EPOCH, ZIP_LAST, Member, sha256_file

__all__ = ["DEFAULT_EPOCH", "ZIP_EPOCH", "Member", "ZipResult", "sha256_file"]


@dataclass(frozen=True)
class ZipResult:
    path: Path
    sha256: str
    zipped_size: int
    unzipped_size: int
    files: int


def source_date_epoch(env: Mapping[str, str]) -> int:
    """SOURCE_DATE_EPOCH from ``env``, clamped to what a zip can hold; the default if unset."""
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return DEFAULT_EPOCH
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(
            f"SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds",
            tip="set it to a Unix time such as $(git log -1 --format=%ct), or unset it",
        ) from None
    return min(max(value, ZIP_EPOCH), ZIP_LAST)


STALE_LOCK = 600.0  # seconds: a lock older than this was left by a killed process


@contextmanager
def output_lock(target: Path, timeout: float = 300.0) -> Iterator[None]:
    """Exclusive right to replace ``target`` (and what goes with it, its manifest), between
    processes: two builders writing the same output end with one complete pair, not a mix."""
    lock = target.with_name(f".{target.name}.lock")
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            try:
                if time.time() - lock.stat().st_mtime > STALE_LOCK:
                    lock.unlink(missing_ok=True)
                    continue
            except FileNotFoundError:
                continue
            if time.monotonic() > deadline:
                raise OutputError(
                    f"{target} is being written by another build (lock {lock.name})",
                    tip=f"wait for it, or delete {lock} if no build is running",
                ) from None
            time.sleep(0.05)
        except OSError as exc:
            raise OutputError(
                f"cannot write in {target.parent}: {exc.strerror}", tip="pass a writable -o DIR"
            ) from exc
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


@contextmanager
def written_in_place(dest: Path, tip: str) -> Iterator[BinaryIO]:
    """A new file written beside ``dest`` and moved onto it only when the block ends without an
    error: ``dest`` is the old file or the whole new one, never half of one. What the file system
    refuses is one OutputError line with ``tip``."""
    import secrets

    staged = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.staged")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with staged.open("xb") as out:
            yield out
        staged.replace(dest)
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {exc.strerror}", tip=tip) from exc
    finally:
        with suppress(OSError):  # never hide the error on its way out
            staged.unlink(missing_ok=True)
