"""An image's file tree, made as the engine makes it: each layer's tar applied over the ones
below, with image-spec's whiteouts (``.wh.NAME`` deletes NAME, ``.wh..wh..opq`` empties its
directory of what lower layers put there). Every path is noted; only those under the kept
directories (``var/task`` and ``opt``: what the judge reads as a function and a layer) are
written to disk, the rest is only counted, so a multi-gigabyte base costs a read, not a copy.

Nothing in a layer is trusted: a member that would leave the tree (absolute, ``..``) is skipped,
and a link is kept only if it stays inside the kept directory it is in; members below a kept link
are written where it points, as the engine writes them, and at the end each link becomes a copy
of its target (only plain files and directories are made, as on any host). Each blob is read
once, as a stream: compressed with gzip or not at all (told by its magic bytes, not by what the
manifest claims), hashed against its digest on the way.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import posixpath
import shutil
import stat
import tarfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from lambdazip.errors import ImageError
from lambdazip.judge.tree import safe_member_path

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

KEPT = ("var/task", "opt")
# what the kept trees may take on disk: as much as Lambda runs (10 GiB uncompressed); beyond
# that, files are counted and not written, and the image is too big anyway
WRITE_LIMIT = 10 * 1024**3

Compression = Literal["gzip", "zstd", "tar"]
_MAGIC: dict[bytes, Compression] = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}
_WHITEOUT, _OPAQUE = ".wh.", ".wh..wh..opq"
_CHUNK = 1 << 16


class _Counted(io.RawIOBase):
    """A stream that counts (and, given an algorithm, hashes) what is read through it."""

    def __init__(self, stream: BinaryIO | io.BufferedIOBase, algorithm: str | None = None):
        self._stream = stream
        self.hash = hashlib.new(algorithm) if algorithm else None
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._stream.read(len(view))
        view[: len(data)] = data
        self.count += len(data)
        if self.hash is not None:
            self.hash.update(data)
        return len(data)


def _compression(head: bytes) -> Compression:
    return _MAGIC.get(head[:4]) or _MAGIC.get(head[:2]) or "tar"


def _drain(stream: io.BufferedIOBase) -> None:
    while stream.read(_CHUNK):
        pass


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def _below(path: str, directory: str) -> bool:
    return not directory or path == directory or path.startswith(directory + "/")


class Rootfs:
    """The tree the layers applied so far make, at ``root`` (only its kept directories). Call
    :meth:`finish` after the last layer."""

    def __init__(self, root: Path, kept: tuple[str, ...] = KEPT) -> None:
        self.root = root.resolve()
        self.kept = kept
        self.paths: set[str] = set()  # every path the image has, kept or not
        self._parents: set[str] = set()  # paths that have (or had) something below them
        self._links: dict[str, str] = {}  # a kept link -> what it points to, in its kept tree
        self.skipped: list[str] = []  # members not written: unsafe names, links out, too big
        self.written = 0

    def _top(self, path: str) -> str | None:
        return next((k for k in self.kept if _below(path, k) and path), None)

    def apply(self, blob: BinaryIO, digest: str) -> tuple[Compression, int]:
        """Apply one layer blob; its compression (by magic) and its size as a tar. A zstd
        layer cannot be read with the standard library (before Python 3.14): it is hashed and
        its files left out."""
        algorithm = digest.partition(":")[0]
        hashed = _Counted(blob, algorithm if algorithm in ("sha256", "sha512") else None)
        raw = io.BufferedReader(hashed, _CHUNK)
        compression = _compression(raw.peek(4)[:4])
        size = 0
        try:
            if compression != "zstd":
                inner = gzip.GzipFile(fileobj=raw, mode="rb") if compression == "gzip" else raw
                counted = _Counted(inner)
                tar_stream = io.BufferedReader(counted, _CHUNK)
                with tarfile.open(fileobj=tar_stream, mode="r|") as tar:
                    self._apply_tar(tar)
                _drain(tar_stream)  # the tar's end-of-archive padding counts too
                size = counted.count
            _drain(raw)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise ImageError(f"layer {digest} is not a readable tar ({exc})") from exc
        if hashed.hash is not None and f"{algorithm}:{hashed.hash.hexdigest()}" != digest:
            raise ImageError(
                f"layer {digest} does not match its digest",
                tip="the blob is corrupt or was changed; pull or export the image again",
            )
        return compression, size

    def _apply_tar(self, tar: tarfile.TarFile) -> None:
        added: set[str] = set()  # this layer's paths and their parents: its whiteouts spare them
        for member in tar:
            safe = safe_member_path(member.name)
            if safe is None:
                self.skipped.append(member.name)
                continue
            path = self._through_links(safe)
            directory, _, name = path.rpartition("/")
            if name == _OPAQUE:
                self._opaque(directory, added)
                continue
            if name.startswith(_WHITEOUT):
                self._delete(posixpath.join(directory, name[len(_WHITEOUT) :]))
                continue
            if not member.isdir() and path in self._parents:
                self._delete(path, below_only=True)  # a file replaces a lower directory
            parts = path.split("/")
            ancestors = ["/".join(parts[:n]) for n in range(1, len(parts))]
            self.paths.add(path)
            self._parents.update(ancestors)
            added.update(ancestors)
            added.add(path)
            if self._top(path) is not None:
                self._write(tar, member, path)

    def _through_links(self, path: str) -> str:
        """``path`` with the kept links among its directories followed, as the engine writes
        through them (at most 40 of them, as Linux follows)."""
        for _ in range(40 if self._links else 0):
            parts = path.split("/")
            linked = next(
                (n for n in range(1, len(parts)) if "/".join(parts[:n]) in self._links), 0
            )
            if not linked:
                break
            path = "/".join([self._links["/".join(parts[:linked])], *parts[linked:]])
        return path

    def _delete(self, path: str, below_only: bool = False) -> None:
        if path in self._parents:
            self.paths = {p for p in self.paths if not p.startswith(path + "/")}
        self._links = {
            k: v
            for k, v in self._links.items()
            if not _below(k, path) or (below_only and k == path)
        }
        if not below_only:
            self.paths.discard(path)
        for top in self.kept:
            if top != path and _below(top, path):  # a whiteout of /var takes /var/task along
                _remove(self.root / top)
        target = self._inside(path)
        if target is None or not target.exists():
            return
        if not below_only:
            _remove(target)
        elif target.is_dir():
            shutil.rmtree(target)

    def _opaque(self, directory: str, added: set[str]) -> None:
        prefix = directory + "/" if directory else ""
        self.paths = {p for p in self.paths if not p.startswith(prefix) or p in added}
        self._links = {
            k: v for k, v in self._links.items() if not k.startswith(prefix) or k in added
        }
        for top in self.kept:
            if top == directory or not _below(top, directory):
                continue
            if top not in added:
                _remove(self.root / top)
            elif (self.root / top).is_dir():
                self._clear(self.root / top, top, added)
        base = self._inside(directory) if self._top(directory) else None
        if base is not None and base.is_dir():
            self._clear(base, directory, added)

    def _clear(self, on_disk: Path, path: str, added: set[str]) -> None:
        for child in on_disk.iterdir():
            inner = f"{path}/{child.name}"
            if inner not in added:
                _remove(child)
            elif child.is_dir():
                self._clear(child, inner, added)

    def _inside(self, path: str) -> Path | None:
        """Where ``path`` is on disk, if it is in a kept tree (and, resolved, still is)."""
        top = self._top(path)
        if top is None:
            return None
        base, target = self.root / top, self.root / path
        if target == base:
            return target
        return target if target.parent.resolve().is_relative_to(base.resolve()) else None

    def _write(self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
        top = self._top(path)
        assert top is not None
        self._links.pop(path, None)  # whatever this member is, it replaces a link there
        try:
            (self.root / top).parent.mkdir(parents=True, exist_ok=True)  # workdir/var: ours
            self._make_parents(path)
            target = self._inside(path)
            if target is not None and not (member.isdir() and target.is_dir()):
                _remove(target)  # a lower layer's file or directory it replaces
        except OSError:  # a directory above it is a file: not written, as the engine would not
            target = None
        if target is None:
            self.skipped.append(member.name)
            return
        mode = stat.S_IMODE(member.mode) & 0o777
        if member.isdir():
            target.mkdir(exist_ok=True)
            target.chmod(mode | 0o700)  # the others' bits are what Lambda's user gets
        elif member.issym():
            self._symlink(member, path, top)
        elif member.islnk():
            self._hard_link(member, target, top)
        elif member.isfile() and self.written + member.size <= WRITE_LIMIT:
            data = tar.extractfile(member)
            assert data is not None
            with data, target.open("xb") as out:
                shutil.copyfileobj(data, out, _CHUNK)
            self.written += member.size
            target.chmod(mode | 0o600)
            os.utime(target, (member.mtime, member.mtime))
        else:  # over the limit, or a device or FIFO: nothing Lambda's Python imports
            self.skipped.append(member.name)

    def _make_parents(self, path: str) -> None:
        """The directories above ``path`` that no member made, as the engine makes them (755)."""
        parts = path.split("/")
        for n in range(1, len(parts)):
            directory = "/".join(parts[:n])
            on_disk = self._inside(directory) if self._top(directory) else None
            if on_disk is not None and not on_disk.exists():
                on_disk.mkdir()
                on_disk.chmod(0o755)

    def _symlink(self, member: tarfile.TarInfo, path: str, top: str) -> None:
        """A symbolic link is noted, if it points inside its own kept tree (and not above
        itself), and made a copy by :meth:`finish`."""
        pointed = member.linkname
        joined = posixpath.normpath(
            pointed.lstrip("/")
            if pointed.startswith("/")
            else posixpath.join(posixpath.dirname(path), pointed)
        )
        if _below(joined, top) and not _below(path, joined):
            self._links[path] = joined
        else:
            self.skipped.append(member.name)

    def _hard_link(self, member: tarfile.TarInfo, target: Path, top: str) -> None:
        """A hard link names an earlier member: copied, if it is a regular file of the same kept
        tree."""
        linked = self._through_links(safe_member_path(member.linkname) or "")
        source = self._inside(linked) if self._top(linked) == top else None
        if source is None or linked in self._links or not source.is_file():
            self.skipped.append(member.name)
            return
        shutil.copy2(source, target)

    def finish(self) -> None:
        """Make each link left a copy of what it points to: nothing but plain files and
        directories is made on the host (links need privileges on Windows), as
        build/transfer.py's unpack does. A link to nothing, or to links in a circle, is skipped."""
        pending = {path: self._through_links(pointed) for path, pointed in self._links.items()}
        while pending:
            ready = [p for p, pointed in sorted(pending.items()) if pointed not in pending]
            for path in ready or sorted(pending):
                source, target = self._inside(pending.pop(path)), self._inside(path)
                if ready and source is not None and target is not None and not target.exists():
                    with contextlib.suppress(OSError):
                        if source.is_file():
                            shutil.copy2(source, target)
                        elif source.is_dir():
                            shutil.copytree(source, target)
                if target is None or not target.exists():
                    self.skipped.append(path)
        self._links = {}
