"""Zips on the host: the deterministic writer (shared with the image, inside/lambdazip_zip.py,
where builds pack their artifacts), with the host's error handling; SOURCE_DATE_EPOCH; the lock
that lets one build at a time replace an output.

The zip is written beside its destination under a temporary name and moved into place atomically:
a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath

from lambdazip.errors import OutputError, UsageError
from lambdazip.inside import lambdazip_zip
from lambdazip.inside.lambdazip_zip import DEFAULT_EPOCH, ZIP_EPOCH, ZIP_LAST, Member, sha256_file

__all__ = ["DEFAULT_EPOCH", "ZIP_EPOCH", "Member", "ZipResult", "collect", "sha256_file"]


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


def collect(root: Path, prefix: str = "") -> list[Member]:
    """Every file below ``root``, named ``prefix/relative/path``, in archive order (links inside
    the tree followed; anything else refused)."""
    try:
        return lambdazip_zip.collect(root, prefix)
    except lambdazip_zip.NotPackable as exc:
        raise OutputError(
            f"cannot pack {root}: {exc}",
            tip="remove the link or special file from the tree before packing it",
        ) from None


def arcname(path: PurePath, root: PurePath, prefix: str = "") -> str:
    """The name of ``path`` (below ``root``) inside a zip: ``/``-separated on every host."""
    relative = "/".join(path.relative_to(root).parts)
    prefix = prefix.replace("\\", "/").strip("/")
    return f"{prefix}/{relative}" if prefix else relative


def write_zip(dest: Path, members: Iterable[Member], *, epoch: int = DEFAULT_EPOCH) -> ZipResult:
    """Write ``members`` to ``dest`` deterministically and atomically."""
    dest = Path(dest)
    temporary = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")
    try:
        packed = lambdazip_zip.write(temporary, members, epoch)
        temporary.replace(dest)
    except lambdazip_zip.NotPackable as exc:
        raise OutputError(str(exc), tip="rename one") from None
    except OSError as exc:
        raise OutputError(
            f"cannot write {dest}: {exc.strerror or exc}",
            tip="check that the output directory exists, is writable and has free space",
        ) from exc
    finally:
        temporary.unlink(missing_ok=True)
    return ZipResult(dest, packed.sha256, packed.zipped_size, packed.unzipped_size, packed.files)


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
