"""The deterministic zip writer: the same files give the same bytes. Standard library only.

It runs where the artifact is made, INSIDE the build image, under the runtime's own interpreter,
so the compressed bytes depend on the image's zlib and never on the host's (a macOS, Windows or
Linux host, a Python built with zlib or zlib-ng, all give the same zip); the host imports it as
``lambdazip.inside.lambdazip_zip`` for its own uses (tests, fixtures) and the image imports it as
``lambdazip_zip``. What else would leak into the archive, and how it is pinned:
- order: members sorted by their archive name, which uses ``/`` on every host;
- time: one timestamp for every member (SOURCE_DATE_EPOCH, clamped to what a zip can hold, or
  1980-01-01), converted in UTC, so TZ and the files' mtimes do not matter;
- modes: 0644, or 0755 where the source is executable, so the umask does not matter;
- creator: always "Unix", no extra fields; compression: deflate at one fixed level;
- links: a symbolic link inside the tree is stored as what it points to (Lambda reads plain
  files); one that leaves the tree or points to nothing is refused, as is any special file.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import zipfile

ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest time a zip can hold
ZIP_LAST = 4354819199  # 2107-12-31T23:59:59Z, the latest
DEFAULT_EPOCH = ZIP_EPOCH
# deflate, measured on the pydantic layer (10.4 MB of files): level 9 0.75 s; level 6 0.35 s for
# 0.5 % more bytes; level 5 0.22 s for 1 % more than 6 (and more than a naive zip's). 6 it stays:
# the artifact's size is what users see and keep, the tenth of a second is not
COMPRESS_LEVEL = 6
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Member:
    arcname: str  # POSIX path inside the zip
    source: os.PathLike[str] | str
    executable: bool


@dataclass(frozen=True)
class Packed:
    sha256: str
    zipped_size: int
    unzipped_size: int
    files: int


class NotPackable(ValueError):
    """A file that cannot go into the zip as it stands (the message names it and why)."""


def producer() -> dict[str, object]:
    """What made the compressed bytes: recorded beside them, so a difference can be explained."""
    import platform  # here: the host imports this module on every run, and rarely needs it

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "level": COMPRESS_LEVEL,
    }


def _executable(path: str) -> bool:
    return bool(os.stat(path).st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def collect(root: os.PathLike[str] | str, prefix: str = "") -> list[Member]:
    """Every file below ``root``, named ``prefix/relative/path``, in archive order. A link that
    stays inside ``root`` is followed (a linked directory's files appear under the link's name);
    anything else that is not a regular file or directory raises NotPackable."""
    top = os.path.realpath(root)
    prefix = prefix.replace("\\", "/").strip("/")
    members: list[Member] = []

    def walk(directory: str, names: str, open_dirs: frozenset[str]) -> None:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda e: e.name)
        for entry in entries:
            name = names + entry.name
            if entry.is_symlink():
                real = os.path.realpath(entry.path)
                if not _inside(real, top):
                    raise NotPackable(
                        f"{name} links outside the tree, to {os.readlink(entry.path)}"
                    )
                if os.path.isdir(real):
                    if real in open_dirs:
                        raise NotPackable(f"{name} links to a directory that contains it")
                    walk(real, name + "/", open_dirs | {real})
                elif os.path.isfile(real):
                    members.append(Member(name, real, _executable(real)))
                else:
                    raise NotPackable(f"{name} links to nothing (or to a special file)")
            elif entry.is_dir(follow_symlinks=False):
                walk(entry.path, name + "/", open_dirs | {os.path.realpath(entry.path)})
            elif entry.is_file(follow_symlinks=False):
                members.append(Member(name, entry.path, _executable(entry.path)))
            else:
                raise NotPackable(f"{name} is not a regular file, directory or link")

    walk(top, prefix + "/" if prefix else "", frozenset({top}))
    return sorted(members, key=lambda m: m.arcname)


def _zipinfo(member: Member, date_time: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    import zipfile

    info = zipfile.ZipInfo(member.arcname, date_time)
    info.create_system = 3  # Unix, so the mode below is honoured
    mode = 0o755 if member.executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    # ZipFile.open(info, "w") takes the level from the ZipInfo, not from the ZipFile; the private
    # name is the one 3.10-3.12 read, and 3.13+ keeps it as an alias of ``compress_level``.
    info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]
    return info


def write(dest: os.PathLike[str] | str, members: Iterable[Member], epoch: int) -> Packed:
    """Write ``members`` to the new file ``dest`` (which must not exist). Raises NotPackable for
    two members of one name, OSError for what the file system refuses."""
    import shutil
    import time
    import zipfile

    ordered = sorted(members, key=lambda m: m.arcname)
    names = [m.arcname for m in ordered]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise NotPackable(f"two files would have the same name in the zip: {twice[0]}")
    date_time = time.gmtime(min(max(epoch, ZIP_EPOCH), ZIP_LAST))[:6]
    unzipped = 0
    with open(dest, "xb") as raw, zipfile.ZipFile(raw, "w") as archive:
        for member in ordered:
            info = _zipinfo(member, date_time)
            with open(member.source, "rb") as src, archive.open(info, "w") as out:
                shutil.copyfileobj(src, out, CHUNK)
            unzipped += info.file_size
    return Packed(sha256_file(dest), os.path.getsize(dest), unzipped, len(ordered))


def sha256_file(path: os.PathLike[str] | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
