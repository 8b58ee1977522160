"""Gather the facts of an artifact: its files, the ELF objects and foreign binaries in it, its
bytecode, the distributions it carries (with their wheel tags and files), and the junk macOS
leaves in zips. Side effects stop here (reading the tree); checks.py only judges."""

from __future__ import annotations

import ast
import csv
import io
import os
import re
import stat
import struct
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from packaging.metadata import parse_email
from packaging.utils import canonicalize_name

from lambdazip.judge.elf import (
    ELF_MAGIC,
    ElfFacts,
    NotElf,
    describe_foreign,
    is_foreign_binary,
    read_elf,
)
from lambdazip.judge.tree import Entry, Problem, ReadError, Tree

_SHARED_OBJECT = re.compile(r"\.(so(\.\d+)*|pyd|dylib)$")
# names only Windows or macOS load: Linux's loader and import system never open them
_FOREIGN_NAME = re.compile(r"\.(pyd|dll|dylib|exe)$", re.IGNORECASE)
# what the loader or the import system never reads: not worth a look for ELF magic
_NOT_BINARY = re.compile(
    r"\.(py|pyi|pyc|pyx|pxd|txt|md|rst|json|toml|cfg|ini|yaml|yml|html|css|js|typed|csv|"
    r"h|c|cpp|hpp|pem|crt|xml|svg|png|jpg|gif|mo|po|zip|gz|whl)$",
    re.IGNORECASE,
)


def is_shared_object(path: str) -> bool:
    directory, _, name = path.rpartition("/")
    return bool(_SHARED_OBJECT.search(name)) or directory.endswith(".libs")


def has_foreign_name(path: str) -> bool:
    return bool(_FOREIGN_NAME.search(path))


def is_macos_junk(path: str) -> bool:
    """What macOS Finder's "Compress" adds: __MACOSX/, AppleDouble ._* files, .DS_Store."""
    name = path.rpartition("/")[2]
    return path.startswith("__MACOSX/") or name.startswith("._") or name == ".DS_Store"


def facts_schema() -> str:
    """The facts' version, in the name of every copy kept of them (a layer's, in the user cache):
    a digest of the code that defines and gathers them (this module, tree.py, elf.py), so a copy
    made by other code is never read, whatever the tool's version number says."""
    global _SCHEMA
    if _SCHEMA is None:
        import hashlib
        from pathlib import Path

        here = Path(__file__).parent
        digest = hashlib.sha256()
        for name in ("facts.py", "tree.py", "elf.py"):
            digest.update((here / name).read_bytes())
        _SCHEMA = digest.hexdigest()[:16]
    return _SCHEMA


_SCHEMA: str | None = None


@dataclass(frozen=True)
class SharedObject:
    """A binary the loader or the import system may open: a shared object, an extension module,
    an ELF executable, or a Windows/macOS binary."""

    path: str
    elf: ElfFacts | None
    error: str | None = None  # why it could not be read as ELF
    executable: bool = False  # an ELF file that is not named like a shared object
    size: int = 0
    foreign: bool = False  # a Mach-O or PE object


@dataclass(frozen=True)
class Pyc:
    path: str
    cache_tag: str | None  # "cpython-313" from the file name; None for a legacy .pyc
    source: str | None  # the .py it caches, if that is in the artifact
    flags: int | None  # PEP 552: 0 timestamp, 1 unchecked hash, 3 checked hash
    source_mtime: int | None  # from the header, timestamp pycs only
    source_size: int | None
    magic: int | None = None  # the first two bytes, little-endian (importlib's MAGIC_NUMBER)


@dataclass(frozen=True)
class Dist:
    name: str  # canonical
    version: str
    location: str  # the directory that holds the .dist-info ("" for the root)
    requires: tuple[str, ...]
    tags: tuple[str, ...] = ()  # the wheel's tags (WHEEL's Tag lines): "cp312-abi3-manylinux..."
    files: tuple[str, ...] = ()  # RECORD, as paths in the artifact
    dist_info: str = ""  # the .dist-info directory's path in the artifact
    license: str | None = None  # what its metadata says (_license)


@dataclass(frozen=True)
class ExtensionImport:
    """A module beside an extension module that imports it; ``guarded``: only inside a ``try``
    whose handler catches ImportError (it has a fallback if the extension does not load)."""

    extension: str  # the extension module's path
    importer: str  # the importing module's path
    guarded: bool
    conditional: bool = False  # in an `if` branch or a function: run only when its test says so


@dataclass(frozen=True)
class ArtifactFacts:
    source: str
    zipped_size: int | None
    files: tuple[Entry, ...]
    shared_objects: tuple[SharedObject, ...]
    pycs: tuple[Pyc, ...]
    dists: tuple[Dist, ...]
    problems: tuple[Problem, ...]
    junk: tuple[Entry, ...] = ()  # macOS Finder's additions (not in files)
    backslash_names: tuple[str, ...] = ()  # member names written with "\\" (kept literal)
    directories: tuple[Entry, ...] = ()  # the directories it records itself, with their modes
    extension_imports: tuple[ExtensionImport, ...] = ()  # who imports each extension, and how
    unnamed_extensions: tuple[str, ...] = ()  # in a package whose modules never name them

    @property
    def unix_modes(self) -> bool:
        """Whether it records Unix modes at all (a zip made on Windows records none: whoever
        unpacks it gives every file and directory its defaults)."""
        return any(e.mode for e in (*self.files, *self.directories))

    @property
    def unzipped_size(self) -> int:
        return sum(e.size for e in self.files) + sum(e.size for e in self.junk)

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
    flags = mtime = size = magic = None
    if data is not None and len(data) >= 4 and data[2:4] == b"\r\n":
        magic = struct.unpack_from("<H", data, 0)[0]
    if data is not None and len(data) >= 16:
        flags = struct.unpack_from("<I", data, 4)[0]
        if flags == 0:
            mtime, size = struct.unpack_from("<II", data, 8)
    return Pyc(entry.path, tag, source, flags, mtime, size, magic)


def _dist(collector: _Collector, entry: Entry, paths: frozenset[str]) -> Dist | None:
    data = collector.read(entry)
    if data is None:
        return None
    headers = data.split(b"\n\n", 1)[0]  # the description after the headers is not needed
    raw, _unparsed = parse_email(headers)
    name, version = raw.get("name"), raw.get("version")
    if not name or not version:
        return None
    dist_info = PurePosixPath(entry.path).parent
    location = str(dist_info.parent)
    location = "" if location == "." else location
    tags: tuple[str, ...] = ()
    wheel = str(dist_info / "WHEEL")
    if wheel in paths:
        wheel_data = collector.read(Entry(wheel, 0, None, 0)) or b""
        text = wheel_data.decode("utf-8", "replace")
        tags = tuple(line[4:].strip() for line in text.splitlines() if line.startswith("Tag:"))
    files: tuple[str, ...] = ()
    record = str(dist_info / "RECORD")
    if record in paths:
        text = (collector.read(Entry(record, 0, None, 0)) or b"").decode("utf-8", "replace")
        if '"' in text:  # a name with a comma is quoted: let csv read it
            names = [row[0] for row in csv.reader(io.StringIO(text)) if row]
        else:
            names = [line.split(",", 1)[0] for line in text.splitlines() if line]
        prefix = f"{location}/" if location else ""
        files = tuple(f"{prefix}{name}" for name in names if not name.startswith(".."))
    return Dist(
        canonicalize_name(name),
        version,
        location,
        tuple(raw.get("requires_dist") or ()),
        tags,
        files,
        str(dist_info),
        _license(raw),
    )


def _license(raw: Mapping[str, object]) -> str | None:
    """What the metadata says of the license: License-Expression (core metadata 2.4), else a
    short License field, else the license classifiers; None when it says nothing."""
    expression = raw.get("license_expression")
    if isinstance(expression, str) and expression.strip():
        return expression.strip()
    text = raw.get("license")
    if isinstance(text, str) and text.strip() and "\n" not in text.strip() and len(text) <= 100:
        return text.strip()  # a name, not the license's whole text
    classifiers = raw.get("classifiers")
    found = [
        c.split("::")[-1].strip()
        for c in (classifiers if isinstance(classifiers, list) else [])
        if isinstance(c, str) and c.startswith("License ::") and c.count("::") >= 2
    ]
    return " OR ".join(found) if found else None


def _may_be_executable(entry: Entry) -> bool:
    """Worth reading four bytes of, to see whether it is an ELF executable."""
    directory, _, name = entry.path.rpartition("/")
    if _NOT_BINARY.search(name) or ".dist-info/" in entry.path:
        return False
    in_bin = "bin" in directory.split("/")
    return in_bin or bool(entry.mode & stat.S_IXUSR) or "." not in name


def _binary(collector: _Collector, entry: Entry) -> SharedObject | None:
    named = is_shared_object(entry.path) or has_foreign_name(entry.path)
    if not named:
        head = collector.read(entry, 4)
        if head is None or not head.startswith(ELF_MAGIC):
            return None
    data = collector.read(entry)
    if data is None:
        return None
    foreign = is_foreign_binary(data)
    abi3 = entry.path.endswith(".abi3.so")
    try:
        elf = read_elf(data, python_symbols=abi3)
        return SharedObject(entry.path, elf, None, not named, entry.size)
    except NotElf as exc:
        error = describe_foreign(data) if foreign else str(exc)
        return SharedObject(entry.path, None, error, False, entry.size, foreign)


def gather(tree: Tree) -> ArtifactFacts:
    """Read everything checks need from ``tree``, once."""
    collector = _Collector(tree, list(tree.problems))
    paths = frozenset(e.path for e in tree.entries)
    files: list[Entry] = []
    junk: list[Entry] = []
    candidates: list[Entry] = []
    pycs: list[Pyc] = []
    dists: list[Dist] = []
    for entry in tree.entries:
        if is_macos_junk(entry.path):
            junk.append(entry)
            continue
        files.append(entry)
        if entry.encrypted:
            collector.problems.append(
                Problem(entry.path, "member is encrypted; Lambda cannot read it")
            )
            continue
        if entry.is_symlink:
            continue
        if entry.path.endswith(".pyc"):
            pycs.append(_pyc(entry, collector.read(entry, 16), paths))
        elif entry.path.endswith(".dist-info/METADATA"):
            dist = _dist(collector, entry, paths)
            if dist is not None:
                dists.append(dist)
        elif (
            is_shared_object(entry.path)
            or has_foreign_name(entry.path)
            or _may_be_executable(entry)
        ):
            candidates.append(entry)

    # inflating is most of the time, and zlib lets go of the GIL: read binaries side by side
    # (a few small ones are not worth the threads)
    def read(entry: Entry) -> SharedObject | None:
        return _binary(collector, entry)

    found: list[SharedObject | None]
    if sum(e.size for e in candidates) < 8 * 1024 * 1024:
        found = [read(e) for e in candidates]
    else:
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            found = list(pool.map(read, candidates))
    binaries = [b for b in found if b is not None]
    imports, unnamed = _extension_imports(collector, files)
    return ArtifactFacts(
        source=str(tree.source),
        zipped_size=tree.zipped_size,
        files=tuple(files),
        shared_objects=tuple(binaries),
        pycs=tuple(pycs),
        dists=tuple(dists),
        problems=tuple(collector.problems),
        junk=tuple(junk),
        backslash_names=tuple(e.path for e in files if "\\" in e.path),
        directories=tuple(d for d in tree.directories if not is_macos_junk(d.path + "/")),
        extension_imports=tuple(imports),
        unnamed_extensions=tuple(unnamed),
    )


_PARSING = threading.Lock()
_CATCHES_IMPORT_ERROR = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


def _extension_imports(
    collector: _Collector, files: list[Entry]
) -> tuple[list[ExtensionImport], list[str]]:
    """For every extension module, the modules of its directory that import it (guarded by
    ``except ImportError``, or on a condition), and the extension modules inside a package that
    no module of it names at all. Only the directories that hold extension modules are read, and
    only the modules that name one."""
    from lambdazip.judge.native import extension_stem

    by_directory: dict[str, dict[str, list[str]]] = {}  # directory -> {stem: extension paths}
    for entry in files:
        directory, _, name = entry.path.rpartition("/")
        stem = extension_stem(name) if name.endswith(".so") else None
        if stem is not None:
            by_directory.setdefault(directory, {}).setdefault(stem, []).append(entry.path)
    # the modules of the top-level package an extension module is in may import it (those of
    # its directory by relative imports, the others by absolute ones)
    by_package: dict[str, dict[str, list[str]]] = {}  # top directory -> {stem: paths}
    for directory, in_directory in by_directory.items():
        for stem, paths in in_directory.items():
            by_package.setdefault(directory.split("/", 1)[0], {}).setdefault(stem, []).extend(paths)
    found: list[ExtensionImport] = []
    named: set[str] = set()  # extension paths some module of their package names
    with_code: set[str] = set()  # top directories that hold Python modules
    for entry in files:
        top, slash, _ = entry.path.partition("/")
        stems = by_package.get(top if slash else "")
        if not stems or not entry.path.endswith(".py"):
            continue
        with_code.add(top if slash else "")
        data = collector.read(entry)
        mentioned = {s for s in stems if data is not None and s.encode() in data}
        named |= {p for s in mentioned for p in stems[s]}
        if data is None or not mentioned:
            continue
        for stem, guarded, conditional in _imports_of(data, mentioned):
            found += [ExtensionImport(p, entry.path, guarded, conditional) for p in stems[stem]]
    # in a package with Python code that never names it; never a module at the top (anything may
    # import it), one of a package without Python code (it is the package), or mypyc's helper
    # (imported by the modules mypyc compiled, from C)
    unnamed = [
        path
        for directory, in_directory in by_directory.items()
        if directory and directory.split("/", 1)[0] in with_code
        for stem, paths in in_directory.items()
        if not stem.endswith("__mypyc")
        for path in paths
        if path not in named
    ]
    return found, unnamed


def _imports_of(source: bytes, stems: set[str]) -> Iterator[tuple[str, bool, bool]]:
    """(stem, guarded, conditional) for each import of a sibling module named in ``stems``:
    guarded by ``except ImportError``; conditional: in an ``if`` branch or a function."""
    try:
        with _PARSING:  # CPython's parser is not safe in two threads at once (matrix builds)
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return

    def visit(node: ast.AST, guarded: bool, conditional: bool) -> Iterator[tuple[str, bool, bool]]:
        if isinstance(node, ast.Try):
            catches = any(_catches_import_error(h) for h in node.handlers)
            for statement in node.body:
                yield from visit(statement, guarded or catches, conditional)
            rest: list[ast.AST] = [*node.handlers, *node.orelse, *node.finalbody]
            for other in rest:
                yield from visit(other, guarded, conditional)
            return
        if isinstance(node, (ast.If, ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.iter_child_nodes(node):
                yield from visit(inner, guarded, True)
            return
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            last = module.rsplit(".", 1)[-1]
            if module and last in stems and (node.level or "." in module):
                yield last, guarded, conditional
            elif node.level or module:  # from . import _ext, from pkg import _ext
                yield from ((a.name, guarded, conditional) for a in node.names if a.name in stems)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                last = alias.name.rsplit(".", 1)[-1]
                if "." in alias.name and last in stems:
                    yield last, guarded, conditional
        for inner in ast.iter_child_nodes(node):
            yield from visit(inner, guarded, conditional)

    yield from visit(tree, False, False)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        (n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else "")
        in _CATCHES_IMPORT_ERROR
        for n in names
    )
