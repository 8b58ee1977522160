"""Read the files of an artifact, a zip or a directory, in place: no extraction to disk.

Both kinds give the same thing: a sorted list of :class:`Entry` (relative POSIX paths) and a
bounded ``read``. A zip is read through its central directory; nothing in it is trusted: names
that would escape the tree, encrypted members and members that fail to inflate are reported as
problems, never raised.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import posixpath
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lambdazip.errors import ArtifactError

# Lambda unpacks at most 262,144,000 bytes; nothing bigger is worth reading for a check.
READ_LIMIT = 262_144_000


@dataclass(frozen=True)
class Entry:
    path: str  # relative, POSIX separators, no leading "/", never ".."
    size: int  # uncompressed bytes (as the zip claims)
    mtime: int | None  # seconds since the epoch, as the runtime will see it
    mode: int  # st_mode; 0 when the zip did not record one
    encrypted: bool = False
    method: int = 0  # how the zip stores it: 0 stored, 8 deflated, ... (a directory: 0)

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)


class ReadError(Exception):
    """A member cannot be read (corrupt, encrypted, too large). Becomes a finding."""


@dataclass(frozen=True)
class Problem:
    path: str
    message: str


class Tree:
    """An opened artifact. Use :func:`open_tree`."""

    def __init__(
        self,
        source: Path,
        entries: list[Entry],
        problems: list[Problem],
        directories: list[Entry] | None = None,
    ) -> None:
        self.source = source
        self.entries = sorted(entries, key=lambda e: e.path)
        self.problems = problems
        # the directories the artifact records itself (a zip's directory members), with their
        # modes; the others are made by whoever unpacks it, with its defaults
        self.directories = sorted(directories or [], key=lambda e: e.path)

    zipped_size: int | None = None

    def read(self, path: str, limit: int = READ_LIMIT) -> bytes:
        """All bytes of a member; :class:`ReadError` if it is unreadable or over ``limit``."""
        raise ReadError("no such member")

    def head(self, path: str, size: int) -> bytes:
        """The first ``size`` bytes of a member (fewer if it is shorter)."""
        raise ReadError("no such member")

    def close(self) -> None:
        pass


def safe_member_path(name: str) -> str | None:
    """A zip or tar member name as a relative POSIX path, or None if it would leave the tree."""
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def zip_member_path(name: str) -> str | None:
    """A zip member's name as Lambda's extraction sees it: "/" separates directories and a "\\"
    is part of a file name (Windows tools write them; Lambda keeps them literal). None if it would
    leave the tree on any system (including one that reads "\\" as a separator)."""
    if "\\" not in name:
        return safe_member_path(name)
    if safe_member_path(name) is None:  # as Windows would read it: absolute, a drive, ".."
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts) if parts else None


def _dos_time_utc(date_time: tuple[int, int, int, int, int, int]) -> int | None:
    try:
        return int(dt.datetime(*date_time, tzinfo=dt.timezone.utc).timestamp())
    except ValueError:
        return None


def _extended_mtime(extra: bytes) -> int | None:
    """The mtime of the "UT" extra field (0x5455), which unzip prefers to the DOS time."""
    offset = 0
    while offset + 4 <= len(extra):
        header_id, length = struct.unpack_from("<HH", extra, offset)
        body = extra[offset + 4 : offset + 4 + length]
        if header_id == 0x5455 and len(body) >= 5 and body[0] & 1:
            return int(struct.unpack_from("<i", body, 1)[0])
        offset += 4 + length
    return None


class ZipTree(Tree):
    def __init__(self, source: Path) -> None:
        try:
            self._zip = zipfile.ZipFile(source)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise _NotAZip(str(exc)) from exc
        entries: list[Entry] = []
        directories: list[Entry] = []
        problems: list[Problem] = []
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            path = zip_member_path(info.filename)
            if path is None:
                problems.append(Problem(info.filename, "member name leaves the archive's tree"))
                continue
            if info.is_dir():
                mode = (info.external_attr >> 16) if info.create_system == 3 else 0
                directories.append(Entry(path, 0, None, mode))
                continue
            if path in self._infos:
                problems.append(Problem(path, "member appears twice in the archive"))
                continue
            mtime = _extended_mtime(info.extra) or _dos_time_utc(info.date_time)
            mode = (info.external_attr >> 16) if info.create_system == 3 else 0
            kind = stat.S_IFMT(mode)
            if kind not in (0, stat.S_IFREG, stat.S_IFLNK):
                problems.append(Problem(path, "not a regular file (a device, FIFO or socket)"))
                continue
            self._infos[path] = info
            if kind == stat.S_IFLNK and not self._link_stays_inside(path, info):
                problems.append(Problem(path, "symbolic link points outside the artifact"))
                continue
            encrypted = bool(info.flag_bits & 0x1)
            entries.append(Entry(path, info.file_size, mtime, mode, encrypted, info.compress_type))
        super().__init__(source, entries, problems, directories)
        self.zipped_size = source.stat().st_size

    def _link_stays_inside(self, path: str, info: zipfile.ZipInfo) -> bool:
        if info.file_size > 4096 or info.flag_bits & 0x1:
            return False
        try:
            target = self._zip.read(info).decode("utf-8")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError):
            return False
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        return not posixpath.isabs(target) and not joined.startswith("..")

    def read(self, path: str, limit: int = READ_LIMIT) -> bytes:
        info = self._infos[path]
        if info.flag_bits & 0x1:
            raise ReadError("member is encrypted; Lambda cannot read it")
        if info.file_size > limit:
            raise ReadError(f"member claims {info.file_size} bytes, more than {limit}")
        try:
            with self._zip.open(info) as member:
                data = member.read(limit + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
            raise ReadError(f"member cannot be inflated: {exc}") from exc
        if len(data) > limit:
            raise ReadError(f"member inflates to more than {limit} bytes")
        return data

    def head(self, path: str, size: int) -> bytes:
        info = self._infos[path]
        if info.flag_bits & 0x1:
            raise ReadError("member is encrypted; Lambda cannot read it")
        try:
            with self._zip.open(info) as member:
                return member.read(size)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
            raise ReadError(f"member cannot be inflated: {exc}") from exc

    def close(self) -> None:
        self._zip.close()


class DirTree(Tree):
    def __init__(self, source: Path) -> None:
        entries: list[Entry] = []
        directories: list[Entry] = []
        problems: list[Problem] = []
        root = source.resolve()
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            here = Path(dirpath)
            if here != root:
                with contextlib.suppress(OSError):
                    directories.append(
                        Entry(here.relative_to(root).as_posix(), 0, None, here.lstat().st_mode)
                    )
            for name in sorted(filenames) + [d for d in dirnames if (here / d).is_symlink()]:
                full = here / name
                rel = full.relative_to(root).as_posix()
                try:
                    st = full.lstat()
                except OSError as exc:
                    problems.append(Problem(rel, f"cannot stat: {exc.strerror}"))
                    continue
                if stat.S_ISLNK(st.st_mode):
                    target = full.resolve()
                    if not target.is_relative_to(root):
                        problems.append(Problem(rel, "symbolic link points outside the tree"))
                        continue
                elif not stat.S_ISREG(st.st_mode):
                    problems.append(Problem(rel, "not a regular file"))
                    continue
                entries.append(Entry(rel, st.st_size, int(st.st_mtime), st.st_mode))
        super().__init__(source, entries, problems, directories)
        self._root = root

    def read(self, path: str, limit: int = READ_LIMIT) -> bytes:
        full = self._root / path
        try:
            with full.open("rb") as fh:
                data = fh.read(limit + 1)
        except OSError as exc:
            raise ReadError(f"cannot read: {exc.strerror}") from exc
        if len(data) > limit:
            raise ReadError(f"file is larger than {limit} bytes")
        return data

    def head(self, path: str, size: int) -> bytes:
        try:
            with (self._root / path).open("rb") as fh:
                return fh.read(size)
        except OSError as exc:
            raise ReadError(f"cannot read: {exc.strerror}") from exc


class _NotAZip(Exception):
    pass


@contextmanager
def open_tree(source: Path) -> Iterator[Tree]:
    """Open a zip or a directory. A path that is neither raises :class:`ArtifactError`; a file that
    is not a readable zip gives a tree with no entries and one problem, so ``check`` reports it."""
    if source.is_dir():
        tree: Tree = DirTree(source)
    elif source.is_file():
        try:
            tree = ZipTree(source)
        except _NotAZip as exc:
            tree = Tree(source, [], [Problem(source.name, f"not a readable zip archive ({exc})")])
            tree.zipped_size = source.stat().st_size
    elif source.exists():
        raise ArtifactError(f"{source} is neither a file nor a directory")
    else:
        raise ArtifactError(
            f"{source} does not exist", tip="pass the path of a zip or of an unpacked directory"
        )
    try:
        yield tree
    finally:
        tree.close()
