"""Gather the facts of an artifact: its files, the shared objects in it, its bytecode and the
distributions it carries. Side effects stop here (reading the tree); checks.py only judges."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from packaging.metadata import parse_email
from packaging.utils import canonicalize_name

from .elf import ElfFacts, NotElf, read_elf
from .tree import Entry, Problem, ReadError, Tree

_SHARED_OBJECT = re.compile(r"\.(so(\.\d+)*|pyd|dylib)$")


def is_shared_object(path: str) -> bool:
    p = PurePosixPath(path)
    return bool(_SHARED_OBJECT.search(p.name)) or p.parent.name.endswith(".libs")


@dataclass(frozen=True)
class SharedObject:
    path: str
    elf: ElfFacts | None
    error: str | None = None  # why it could not be read as ELF


@dataclass(frozen=True)
class Pyc:
    path: str
    cache_tag: str | None  # "cpython-313" from the file name; None for a legacy .pyc
    source: str | None  # the .py it caches, if that is in the artifact
    flags: int | None  # PEP 552: 0 timestamp, 1 unchecked hash, 3 checked hash
    source_mtime: int | None  # from the header, timestamp pycs only
    source_size: int | None


@dataclass(frozen=True)
class Dist:
    name: str  # canonical
    version: str
    location: str  # the directory that holds the .dist-info ("" for the root)
    requires: tuple[str, ...]


@dataclass(frozen=True)
class ArtifactFacts:
    source: str
    zipped_size: int | None
    files: tuple[Entry, ...]
    shared_objects: tuple[SharedObject, ...]
    pycs: tuple[Pyc, ...]
    dists: tuple[Dist, ...]
    problems: tuple[Problem, ...]

    @property
    def unzipped_size(self) -> int:
        return sum(e.size for e in self.files)

    def paths(self) -> frozenset[str]:
        return frozenset(e.path for e in self.files)


@dataclass
class _Collector:
    tree: Tree
    problems: list[Problem] = field(default_factory=list)

    def read(self, entry: Entry, head: int | None = None) -> bytes | None:
        try:
            return self.tree.read(entry.path) if head is None else self.tree.head(entry.path, head)
        except ReadError as exc:
            self.problems.append(Problem(entry.path, str(exc)))
            return None


_PYC_NAME = re.compile(r"^(?P<module>[^.]+)\.(?P<tag>[a-z]+-\d+[a-z]*)(\.opt-\d+)?\.pyc$")


def _pyc(entry: Entry, data: bytes | None, paths: frozenset[str]) -> Pyc:
    p = PurePosixPath(entry.path)
    match = _PYC_NAME.match(p.name)
    if p.parent.name == "__pycache__" and match:
        tag: str | None = match["tag"]
        source_path = str(p.parent.parent / f"{match['module']}.py")
    else:
        tag, source_path = None, str(p.with_suffix(".py"))
    source = source_path.removeprefix("./") if source_path.removeprefix("./") in paths else None
    flags = mtime = size = None
    if data is not None and len(data) >= 16:
        flags = struct.unpack_from("<I", data, 4)[0]
        if flags == 0:
            mtime, size = struct.unpack_from("<II", data, 8)
    return Pyc(entry.path, tag, source, flags, mtime, size)


def _dist(entry: Entry, data: bytes | None) -> Dist | None:
    if data is None:
        return None
    raw, _unparsed = parse_email(data)
    name, version = raw.get("name"), raw.get("version")
    if not name or not version:
        return None
    location = str(PurePosixPath(entry.path).parent.parent)
    return Dist(
        canonicalize_name(name),
        version,
        "" if location == "." else location,
        tuple(raw.get("requires_dist") or ()),
    )


def gather(tree: Tree) -> ArtifactFacts:
    """Read everything checks need from ``tree``, once."""
    collector = _Collector(tree, list(tree.problems))
    paths = frozenset(e.path for e in tree.entries)
    shared: list[SharedObject] = []
    pycs: list[Pyc] = []
    dists: list[Dist] = []
    for entry in tree.entries:
        if entry.encrypted:
            collector.problems.append(
                Problem(entry.path, "member is encrypted; Lambda cannot read it")
            )
            continue
        if entry.is_symlink:
            continue
        if is_shared_object(entry.path):
            data = collector.read(entry)
            if data is None:
                continue
            try:
                shared.append(SharedObject(entry.path, read_elf(data)))
            except NotElf as exc:
                shared.append(SharedObject(entry.path, None, str(exc)))
        elif entry.path.endswith(".pyc"):
            pycs.append(_pyc(entry, collector.read(entry, 16), paths))
        elif entry.path.endswith(".dist-info/METADATA"):
            dist = _dist(entry, collector.read(entry))
            if dist is not None:
                dists.append(dist)
    return ArtifactFacts(
        source=str(tree.source),
        zipped_size=tree.zipped_size,
        files=tuple(tree.entries),
        shared_objects=tuple(shared),
        pycs=tuple(pycs),
        dists=tuple(dists),
        problems=tuple(collector.problems),
    )
