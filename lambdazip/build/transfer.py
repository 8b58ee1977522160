"""Files into and out of containers, as tar streams (the engine's archive API).

Out: the tar stream from a container is unpacked trusting none of it.

Only regular files and directories are written, only below the destination, with normalised modes;
symbolic links are kept only where they stay inside the tree; absolute names, ``..``, hard links,
devices and FIFOs are refused; the total is capped. The same rules on every host Python (3.10's
tarfile has no extraction filters everywhere), so they are written out here.
"""

from __future__ import annotations

import io
import posixpath
import shutil
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from pathlib import Path

from lambdazip.errors import UnsafeArchive
from lambdazip.judge.tree import Tree, safe_member_path
from lambdazip.outputs.archive import Member

MAX_TOTAL = 1024 * 1024 * 1024  # far above what Lambda accepts (262,144,000 bytes unzipped)


class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (the engine's archive stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def unpack(chunks: Iterable[bytes], dest: Path, strip: int = 1, limit: int = MAX_TOTAL) -> int:
    """Unpack the tar ``chunks`` into ``dest``, dropping the first ``strip`` name components.
    Returns the number of regular files written.

    Nothing but regular files and directories is ever created on the host: a symbolic link whose
    target stays inside the tree becomes a copy of that target (so the same code works on hosts
    where links need privileges, and the zip holds plain files, as Lambda reads them)."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    total = files = 0
    links: list[tuple[Path, str, str]] = []  # (where, relative POSIX target, member name)
    stream = io.BufferedReader(_ChunkReader(chunks), 1024 * 1024)
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            name = safe_member_path(member.name)
            if name is None:
                raise UnsafeArchive(f"the build output holds an unsafe name: {member.name!r}")
            parts = name.split("/")[strip:]
            if not parts:
                continue
            target = root.joinpath(*parts)
            if not target.parent.resolve().is_relative_to(root):
                raise UnsafeArchive(f"the build output writes through a link: {member.name!r}")
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                total += member.size
                if total > limit:
                    raise UnsafeArchive(f"the build output is larger than {limit:,} bytes")
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                assert source is not None
                with target.open("wb") as out:
                    shutil.copyfileobj(source, out, 1024 * 1024)
                target.chmod(0o755 if member.mode & 0o111 else 0o644)
                files += 1
            elif member.issym():
                relative = posixpath.normpath(posixpath.join(*parts[:-1], member.linkname))
                if posixpath.isabs(member.linkname) or relative.split("/")[0] == "..":
                    raise UnsafeArchive(
                        f"the build output links {member.name!r} to {member.linkname!r}, "
                        "outside the tree"
                    )
                links.append((target, relative, member.name))
            else:
                raise UnsafeArchive(
                    f"the build output holds {member.name!r}, which is not a regular file, "
                    "directory or link inside the tree"
                )
    for target, relative, member_name in links:
        source_path = root.joinpath(*relative.split("/"))
        if source_path.is_file():
            shutil.copyfile(source_path, target)
            files += 1
        elif source_path.is_dir():
            shutil.copytree(source_path, target, dirs_exist_ok=True)
        else:
            raise UnsafeArchive(f"the build output links {member_name!r} to nothing")
    return files


def named_under(chunks: Iterable[bytes], top: str) -> Iterator[bytes]:
    """A tar stream whose members are all under ``top``, as Docker names the archive of a path:
    Podman names the archive of a volume's mount point ``""``, ``/f``, ``/d/g`` (the rest as
    Docker does). Re-written member by member: at most one member is held in memory."""
    out = io.BytesIO()
    stream = io.BufferedReader(_ChunkReader(chunks), 1024 * 1024)
    with (
        tarfile.open(fileobj=stream, mode="r|") as archive,
        tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as written,
    ):
        for member in archive:
            if member.name in ("", "/", ".", "./"):
                member.name = top
            elif member.name.startswith("/"):
                member.name = top + member.name
            written.addfile(member, archive.extractfile(member) if member.isfile() else None)
            if out.tell() >= 1024 * 1024:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
    yield out.getvalue()


def _tar(members: Iterable[tuple[str, bytes, bool]]) -> bytes:
    """A tar of (name, content, executable), for put_archive: no owners, no times."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data, executable in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if executable else 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_files(
    files: Mapping[str, bytes], members: Iterable[Member] = (), prefix: str = ""
) -> bytes:
    """A tar of ``files`` (name -> content) and of chosen files under ``prefix`` (a function's
    selected sources, their modes kept), for one put_archive."""
    chosen = ((prefix + m.arcname, Path(m.source).read_bytes(), m.executable) for m in members)
    return _tar(chain(((name, data, False) for name, data in sorted(files.items())), chosen))


def tar_directory_entry(name: str, owner: str, mode: int = 0o700) -> bytes:
    """A tar holding one directory entry, to give a (volume's) directory an owner and mode."""
    uid, _, gid = owner.partition(":")
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.uid, info.gid = int(uid), int(gid or uid)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(info)
    return buffer.getvalue()


def tar_tree(tree: Tree, prefix: str = "") -> bytes:
    """A tar of an artifact's files (a zip or directory read in place), for put_archive."""
    return _tar(
        (f"{prefix}{e.path}", tree.read(e.path), bool(e.mode & 0o111))
        for e in tree.entries
        if not e.is_symlink
    )


def read_in(chunks: Iterable[bytes], directory: str, name: str) -> bytes | None:
    """The file ``name`` of ``directory`` from the tar stream of that directory (whose members
    start with the directory's own name)."""
    return read_member(chunks, f"{posixpath.basename(directory.rstrip('/'))}/{name}")


def read_member(chunks: Iterable[bytes], name: str) -> bytes | None:
    """One file out of a tar stream, or None if it is not there."""
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks)), mode="r") as archive:
        try:
            member = archive.extractfile(name)
        except KeyError:
            return None
        return None if member is None else member.read()
