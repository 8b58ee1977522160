"""Judge the native code of composed artifacts: CPU, ELF class, libc and glibc of every shared
object and executable; extension modules the runtime will not load; stable-ABI modules too new
for the runtime; Windows and macOS binaries. Pure: facts in, findings out.

A binary the runtime never loads is dead weight, not a failure: an extension module that the
import system passes over (a ``.py`` or a loadable ``.so`` of the same name comes first, or an
earlier sys.path entry has the package), or a Windows/macOS binary a package carries for other
systems. Those are warnings; only what is loaded, or what leaves a module unimportable, is an
error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from lambdazip.judge import capi
from lambdazip.judge.compose import Composed, Kind, Part
from lambdazip.judge.facts import SharedObject, has_foreign_name
from lambdazip.judge.findings import Finding
from lambdazip.judge.rules import finding
from lambdazip.targets import ARCHITECTURES, Target

# e_machine names of other CPUs a wrong build host gives, in words a user knows.
_MACHINE_WORDS = {info.elf_machine: info.uname_machine for info in ARCHITECTURES.values()} | {
    "EM_386": "i386",
    "EM_ARM": "32-bit arm",
    "EM_PPC64": "ppc64",
    "EM_S390": "s390x",
    "EM_RISCV": "riscv",
}

_EXT_TAG = re.compile(r"^(?P<stem>[A-Za-z_]\w*)\.(?P<tag>[^.]+)\.(?P<ext>so|pyd)$")
_PYTHON_TAG = re.compile(r"^(cpython-|cp\d|pypy|graalpy)")
_CPYTHON_TAG = re.compile(
    r"^cpython-(?P<major>\d)(?P<minor>\d+)(?P<abiflags>[a-z]*)-(?P<platform>.+)$"
)
_PLAIN_MODULE = re.compile(r"^(?P<stem>[A-Za-z_]\w*)\.(so|pyd)$")
_ABI3_TAG = re.compile(r"^cp(?P<major>\d)(?P<minor>\d+)-abi3-")


def build_hint(target: Target, kind: Kind) -> str:
    return (
        "rebuild inside the Lambda image for the target: "
        f"python build.py {kind.value} --arch {target.arch.value} --python {target.runtime.version}"
    )


def extension_stem(name: str) -> str | None:
    """The module name an extension-module file is for, or None for a shared library
    (``libfoo.so.1``, ``libbar-1a2b.so``)."""
    match = _EXT_TAG.match(name)
    if match and (_PYTHON_TAG.match(match["tag"]) or match["tag"] == "abi3"):
        return match["stem"]
    plain = _PLAIN_MODULE.match(name)
    if plain and not name.startswith("lib"):
        return plain["stem"]
    return None


def _describe_tag(tag: str) -> str:
    match = _CPYTHON_TAG.match(tag)
    if match:
        version = f"{match['major']}.{match['minor']}"
        flags = " free-threaded" if "t" in match["abiflags"] else ""
        return f"a module for CPython {version}{flags} on {match['platform']}"
    if tag.startswith("cp") and "win" in tag:
        return "a module for Windows"
    if tag.startswith("pypy"):
        return "a module for PyPy"
    return f"a module tagged {tag!r}"


def _machine_findings(part: Part, so: SharedObject, target: Target, kind: Kind) -> list[Finding]:
    """What makes an ELF object fail to load (or an executable fail to run) in the target."""
    arch, runtime, hint = target.arch.info, target.runtime, build_hint(target, kind)
    path = part.show(so.path)
    if so.elf is None:
        return [
            finding(
                code="not-elf",
                path=path,
                expected=f"a Linux ELF object for {arch.uname_machine}",
                found=so.error or "not an ELF object",
                remedy=f"it was built on or for another system; {hint}",
            )
        ]
    elf, found = so.elf, []
    what = "executable was built" if so.executable else "file was installed"
    if elf.machine != arch.elf_machine or elf.elf_class != arch.elf_class:
        words = _MACHINE_WORDS.get(elf.machine, elf.machine)
        found.append(
            finding(
                code="elf-machine",
                path=path,
                expected=f"{arch.uname_machine} ({arch.elf_machine}, {arch.elf_class}-bit ELF)",
                found=f"{words} ({elf.machine}, {elf.elf_class}-bit ELF)",
                remedy=f"this {what} for another CPU; {hint}",
            )
        )
    if elf.is_musl:
        found.append(
            finding(
                code="musl",
                path=path,
                expected=f"linked against glibc ({runtime.os})",
                found=f"linked against musl libc (needs {', '.join(elf.needed)})",
                remedy=f"a musllinux wheel was installed; use a manylinux one: {hint}",
            )
        )
    elif elf.glibc_max is not None and elf.glibc_max > runtime.glibc:
        newest = f"{elf.glibc_max[0]}.{elf.glibc_max[1]}"
        found.append(
            finding(
                code="glibc",
                path=path,
                expected=f"at most GLIBC_{runtime.glibc_text} ({runtime.os}, {runtime.name})",
                found=f"symbols of {elf.glibc_text}"
                + ("" if re.search(r"_\d", elf.glibc_text or "") else f" (glibc {newest})"),
                remedy=(
                    "it was built against a newer glibc than the runtime has; pin a version "
                    f"with a manylinux_2_{runtime.glibc[1]} (or older) wheel, or use a runtime "
                    "on Amazon Linux 2023"
                    if runtime.glibc < (2, 34)
                    else "it was built against a newer glibc than the runtime has; pin an older "
                    "version of the package"
                ),
            )
        )
    return found


def _abi3_symbols(part: Part, so: SharedObject, target: Target) -> list[Finding]:
    if so.elf is None or not so.path.endswith(".abi3.so"):
        return []
    needed = capi.newest_needed(so.elf.python_symbols)
    if needed is None or needed[0] <= target.runtime.version_tuple:
        return []
    (major, minor), symbols = needed
    return [
        finding(
            code="abi3-python",
            path=part.show(so.path),
            expected=f"a stable-ABI module that {target.runtime.name} can load",
            found=f"it imports {', '.join(symbols[:3])}, which CPython exports from "
            f"{major}.{minor} on",
            remedy=f"Lambda raises ImportError: undefined symbol: {symbols[0]}; install a build "
            f"for {target.runtime.name}, or use python{major}.{minor} or newer",
        )
    ]


def _module_failure(
    composed: Composed, part: Part, so: SharedObject, stem: str, module: str
) -> str:
    """What the runtime raises when no file it can load stands for ``module``."""
    directory = part.placed(so.path).rsplit("/", 1)[0]
    if any(p.startswith(f"{directory}/{stem}/") for p in composed.files):
        # e.g. pydantic-core >= 2.4x ships its stubs in _pydantic_core/: Python then imports that
        # directory as a namespace package, and the error names what is missing from it.
        shown = part.show(f"{PurePosixPath(so.path).parent}/{stem}/")
        return (
            f"Lambda imports the directory {shown} in its place and raises ImportError: cannot "
            f"import name ... from '{module}' (unknown location). "
        )
    return f"Lambda raises No module named '{module}'. "


def _dotted(composed: Composed, placed: str) -> str | None:
    root = composed.root_of(placed)
    if root is None:
        return None
    parts = list(PurePosixPath(placed[len(root) + 1 :]).parts)
    parts[-1] = parts[-1].split(".", 1)[0]
    return ".".join(parts)


def _pure_wheel_files(part: Part) -> frozenset[str]:
    """Files that pure wheels (py3-none-any) put in the artifact."""
    files: set[str] = set()
    for dist in part.facts.dists:
        if dist.tags and all(t.endswith("-none-any") for t in dist.tags):
            files.update(dist.files)
    return frozenset(files)


def _binaries(composed: Composed) -> Iterator[tuple[Part, SharedObject]]:
    for part in composed.parts:
        for so in part.facts.shared_objects:
            yield part, so


@dataclass
class _Module:
    """An extension-module file, with what is wrong with it and whether Python loads it."""

    part: Part
    so: SharedObject
    stem: str
    issues: list[Finding]
    winner: str | None  # the file Python loads for the name, if any
    dead: bool  # never loaded: shadowed, or its package is
    fallback: str | None = None  # the module that imports it only under except ImportError

    @property
    def mypyc_helper(self) -> bool:
        """mypyc's shared runtime (``X__mypyc``), imported only by the modules it compiled."""
        return self.stem.endswith("__mypyc")

    def owner(self, owners: dict[str, str]) -> str:
        """Its distribution, or failing that its top-level directory."""
        placed = self.part.placed(self.so.path)
        return owners.get(placed) or placed.rsplit("/", 1)[0]


def _owners(composed: Composed) -> dict[str, str]:
    """Placed path -> the distribution (RECORD) that installed it."""
    owners: dict[str, str] = {}
    for part in composed.parts:
        for dist in part.facts.dists:
            for path in dist.files:
                owners[part.placed(path)] = f"{part.label}:{dist.name}"
    return owners


def check_native(
    composed: Composed, target: Target, kind: Kind, judged: frozenset[str] = frozenset()
) -> list[Finding]:
    """Every native-code finding of every part, with dead code demoted to a warning. ``judged``:
    placed paths whose wheel already has an abi3-python finding (not repeated per file)."""
    findings: list[Finding] = []
    modules: list[_Module] = []
    pure = {id(part): _pure_wheel_files(part) for part in composed.parts}  # once per part
    for part, so in _binaries(composed):
        placed = part.placed(so.path)
        if composed.files.get(placed, (None,))[0] is not part:
            continue  # a later layer's file of the same path replaced it at /opt
        name = PurePosixPath(so.path).name
        stem = extension_stem(name)
        if stem is None and (has_foreign_name(name) or (so.foreign and so.path in pure[id(part)])):
            findings.append(_foreign(part, so, target))
            continue
        issues = [] if name.endswith(".pyd") else _machine_findings(part, so, target, kind)
        if placed not in judged:
            issues += _abi3_symbols(part, so, target)
        if stem is None:
            findings += issues  # a library or an executable: loaded by the system, if at all
            continue
        if name[len(stem) :] not in composed.suffixes:
            issues.append(_not_loadable(composed, part, so, stem, target, kind))
        winner = composed.module_file(placed.rsplit("/", 1)[0], stem)
        dead = winner not in (None, placed) or not composed.reachable(placed)
        unloadable = any(i.code == "ext-suffix" for i in issues)
        fallback = _fallback(composed, part, so) if unloadable and not dead else None
        modules.append(
            _Module(part, so, stem, issues, winner, dead or fallback is not None, fallback)
        )
    owners = _owners(composed)
    live = {m.owner(owners) for m in modules if not m.dead and not m.mypyc_helper}
    for module in modules:
        if module.mypyc_helper and module.owner(owners) not in live:
            module.dead = True  # every module it serves is passed over
        if not module.dead:
            findings += module.issues
        elif module.issues:
            findings.append(
                _dead(
                    module.part, module.so, composed, module.winner, module.issues, module.fallback
                )
            )
    return findings


def _not_loadable(
    composed: Composed, part: Part, so: SharedObject, stem: str, target: Target, kind: Kind
) -> Finding:
    name = PurePosixPath(so.path).name
    match = _EXT_TAG.match(name)
    module = _dotted(composed, part.placed(so.path))
    return finding(
        code="ext-suffix",
        path=part.show(so.path),
        expected=f"a module named {stem}{target.runtime.ext_suffix(target.arch)} (or .abi3.so) "
        f"for {target.runtime.name} on {target.arch.value}",
        found=_describe_tag(match["tag"] if match else name.split(".", 1)[1]),
        remedy=(_module_failure(composed, part, so, stem, module) if module else "")
        + f"To fix it, {build_hint(target, kind)}",
    )


def _fallback(composed: Composed, part: Part, so: SharedObject) -> str | None:
    """Why an unloadable extension module does not fail its package's import, if it does not:
    "" when no module of its package names it (a test helper, a leftover); else the module that
    imports it under ``except ImportError``, when every other import of it in its directory runs
    only on a condition (an ``if`` on what the guarded import found, or a function). Whatever
    made the file unloadable, the package then imports without it. None: it fails."""
    placed = part.placed(so.path)
    top_level = composed.root_of(placed) == placed.rsplit("/", 1)[0]  # on sys.path itself
    if so.path in part.facts.unnamed_extensions and not top_level:
        return ""
    imports = [i for i in part.facts.extension_imports if i.extension == so.path]
    guarded = [i for i in imports if i.guarded]
    if guarded and all(i.guarded or i.conditional for i in imports):
        return guarded[0].importer
    return None


def _dead(
    part: Part,
    so: SharedObject,
    composed: Composed,
    winner: str | None,
    issues: list[Finding],
    fallback: str | None = None,
) -> Finding:
    if fallback == "":
        instead = "no module of its package imports it"
    elif fallback is not None:
        instead = (
            f"{part.show(fallback)} imports it only under `except ImportError`, which falls back"
        )
    elif winner is not None and winner != part.placed(so.path):
        other_part, other_path = composed.files[winner]
        instead = f"{other_part.show(other_path)} is imported instead"
    elif composed.reachable(part.placed(so.path)):
        instead = "the modules that import it are never loaded themselves"
    else:
        instead = "an earlier sys.path entry provides its package"
    why = "; ".join(f"{i.code}: {i.found}" for i in issues)
    return finding(
        code="dead-extension",
        path=part.show(so.path),
        expected="native code the runtime loads",
        found=f"a module the runtime never loads ({why})",
        remedy=f"{instead}: this file is dead weight ({so.size:,} bytes), and if it was meant "
        "to be the fast path, you get the pure-Python one; install the build for the target",
    )


def _foreign(part: Part, so: SharedObject, target: Target) -> Finding:
    return finding(
        code="foreign-binary",
        path=part.show(so.path),
        expected=f"files {target.runtime.os} can use",
        found=f"{so.error or 'a binary for another system'}, {so.size:,} bytes",
        remedy="Linux never loads it: dead weight in the zip; leave it out if its package "
        "does not need it",
    )


def check_abi3_tags(composed: Composed, target: Target) -> tuple[list[Finding], frozenset[str]]:
    """A stable-ABI wheel runs on its tag's Python and newer, never older. The findings, and
    the placed paths of the files of the wheels they name."""
    findings: list[Finding] = []
    judged: set[str] = set()
    runtime = target.runtime
    for part in composed.parts:
        for dist in part.facts.dists:
            minimums = [_ABI3_TAG.match(t) for t in dist.tags]
            if not dist.tags or not all(minimums):
                continue
            oldest = min((int(m["major"]), int(m["minor"])) for m in minimums if m)
            if oldest <= runtime.version_tuple:
                continue
            findings.append(
                finding(
                    code="abi3-python",
                    path=part.show(dist.dist_info),
                    expected=f"a wheel {runtime.name} can load",
                    found=f"{dist.name} {dist.version}: an abi3 wheel tagged {dist.tags[0]}, "
                    f"for CPython {oldest[0]}.{oldest[1]} and newer",
                    remedy=f"install the build for {runtime.name} (the installer picks it in "
                    f"the runtime's image), or use python{oldest[0]}.{oldest[1]} or newer",
                )
            )
            judged.update(part.placed(f) for f in dist.files)
    return findings, frozenset(judged)
