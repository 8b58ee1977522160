"""Zips written on the host by the tests and the benchmarks, with the image's deterministic writer
(inside/lambdazip_zip.py): every file below a directory, in archive order, written atomically."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path, PurePath

from lambdazip.errors import OutputError
from lambdazip.inside import lambdazip_zip
from lambdazip.inside.lambdazip_zip import DEFAULT_EPOCH, Member
from lambdazip.outputs.archive import ZipResult


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
