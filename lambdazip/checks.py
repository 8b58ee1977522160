"""Judge the facts of an artifact against a target. Pure functions: facts in, findings out.

Every check returns all of its findings; :func:`check_artifact` runs them all, so a user sees every
problem at once and fixes them in one go.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .facts import ArtifactFacts, Dist, Pyc
from .findings import Finding, Severity
from .targets import ARCHITECTURES, Target

ZIPPED_DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes; bigger zips go through S3
UNZIPPED_LIMIT = 262_144_000  # bytes, a function and all its layers together


class Kind(str, enum.Enum):
    LAYER = "layer"  # unpacked at /opt: packages under python/
    FUNCTION = "function"  # unpacked at /var/task: packages at the root


_SITE_PACKAGES = re.compile(r"^python/lib/python(?P<version>3\.\d+)/site-packages(/|$)")

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


def detect_kind(facts: ArtifactFacts) -> Kind:
    """A layer if everything is under python/, else a function."""
    paths = [e.path for e in facts.files]
    if paths and all(p.startswith("python/") for p in paths):
        return Kind.LAYER
    return Kind.FUNCTION


def import_roots(kind: Kind, target: Target) -> tuple[str, ...]:
    """The artifact's directories that are on the runtime's sys.path, longest first."""
    if kind is Kind.LAYER:
        return (f"python/lib/python{target.runtime.version}/site-packages", "python")
    return ("",)


def module_name(path: str, roots: Sequence[str]) -> str | None:
    """The dotted module a file is imported as, or None if no root holds it."""
    for root in roots:
        prefix = f"{root}/" if root else ""
        if path.startswith(prefix):
            parts = list(PurePosixPath(path[len(prefix) :]).parts)
            parts[-1] = parts[-1].split(".", 1)[0]
            return ".".join(parts)
    return None


def _build_hint(target: Target, kind: Kind) -> str:
    return (
        "rebuild inside the Lambda image for the target: "
        f"python build.py {kind.value} --arch {target.arch.value} --python {target.runtime.version}"
    )


def check_readable(facts: ArtifactFacts) -> list[Finding]:
    return [
        Finding(
            code="unreadable",
            severity=Severity.ERROR,
            path=p.path,
            expected="a readable file",
            found=p.message,
            remedy="rebuild the artifact; Lambda rejects or cannot load what cannot be read",
        )
        for p in facts.problems
    ]


def check_layout(facts: ArtifactFacts, target: Target, kind: Kind) -> list[Finding]:
    findings: list[Finding] = []
    version = target.runtime.version
    seen: set[str] = set()
    for entry in facts.files:
        site = _SITE_PACKAGES.match(entry.path)
        if kind is Kind.LAYER and not entry.path.startswith("python/"):
            top = entry.path.split("/", 1)[0]
            if top not in seen:
                seen.add(top)
                findings.append(
                    Finding(
                        code="layer-outside-python",
                        severity=Severity.ERROR,
                        path=top,
                        expected="everything under python/ (a layer is unpacked at /opt)",
                        found=f"{top} at the top of the layer, which is not on sys.path",
                        remedy="install into python/ or "
                        f"python/lib/python{version}/site-packages/ of the layer",
                    )
                )
        elif site and (kind is Kind.FUNCTION or site["version"] != version):
            root = site.group(0).rstrip("/")
            if root in seen:
                continue
            seen.add(root)
            if kind is Kind.FUNCTION:
                expected = "packages at the top of the function zip (it is unpacked at /var/task)"
                remedy = "this is a layer's layout: install with --target into the zip's root"
            else:
                expected = f"python/ or python/lib/python{version}/site-packages/"
                remedy = (
                    f"python{version} never looks in python{site['version']}'s site-packages: "
                    f"install for {target.runtime.name}, or into python/"
                )
            findings.append(
                Finding(
                    code="site-packages-version",
                    severity=Severity.ERROR,
                    path=root,
                    expected=expected,
                    found=f"a site-packages for python{site['version']}, not on sys.path",
                    remedy=remedy,
                )
            )
    return findings


def check_shared_objects(facts: ArtifactFacts, target: Target, kind: Kind) -> list[Finding]:
    findings: list[Finding] = []
    arch = target.arch.info
    runtime = target.runtime
    hint = _build_hint(target, kind)
    for so in facts.shared_objects:
        if so.elf is None:
            findings.append(
                Finding(
                    code="not-elf",
                    severity=Severity.ERROR,
                    path=so.path,
                    expected=f"a Linux ELF shared object for {arch.uname_machine}",
                    found=so.error or "not an ELF object",
                    remedy=f"it was built on or for another system; {hint}",
                )
            )
            continue
        elf = so.elf
        if elf.machine != arch.elf_machine or elf.elf_class != arch.elf_class:
            words = _MACHINE_WORDS.get(elf.machine, elf.machine)
            findings.append(
                Finding(
                    code="elf-machine",
                    severity=Severity.ERROR,
                    path=so.path,
                    expected=f"{arch.uname_machine} ({arch.elf_machine}, {arch.elf_class}-bit ELF)",
                    found=f"{words} ({elf.machine}, {elf.elf_class}-bit ELF)",
                    remedy=f"this file was installed for another CPU; {hint}",
                )
            )
        if elf.is_musl:
            findings.append(
                Finding(
                    code="musl",
                    severity=Severity.ERROR,
                    path=so.path,
                    expected=f"linked against glibc ({runtime.os})",
                    found=f"linked against musl libc (needs {', '.join(elf.needed)})",
                    remedy=f"a musllinux wheel was installed; use a manylinux one: {hint}",
                )
            )
        elif elf.glibc_max is not None and elf.glibc_max > runtime.glibc:
            findings.append(
                Finding(
                    code="glibc",
                    severity=Severity.ERROR,
                    path=so.path,
                    expected=f"at most GLIBC_{runtime.glibc_text} ({runtime.os}, {runtime.name})",
                    found=f"symbols of {elf.glibc_text}",
                    remedy=(
                        "its wheel targets a newer glibc than the runtime has; pin a version "
                        f"with a manylinux_2_{runtime.glibc[1]} (or older) wheel, or use a "
                        "runtime on Amazon Linux 2023"
                        if runtime.glibc < (2, 34)
                        else "its wheel targets a newer glibc than the runtime has; "
                        "pin an older version of the package"
                    ),
                )
            )
    return findings


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


def _import_failure(module: str, path: str, paths: frozenset[str]) -> str:
    """What the runtime raises when it cannot load the module at ``path``."""
    stem = PurePosixPath(path).name.split(".", 1)[0]
    directory = f"{PurePosixPath(path).parent}/{stem}/"
    if any(p.startswith(directory) for p in paths):
        # e.g. pydantic-core >= 2.4x ships its stubs in _pydantic_core/: Python then imports that
        # directory as a namespace package, and the error names what is missing from it.
        return (
            f"Lambda imports the directory {directory} in its place and raises ImportError: "
            f"cannot import name ... from '{module}' (unknown location). "
        )
    return f"Lambda raises No module named '{module}'. "


def check_extension_modules(facts: ArtifactFacts, target: Target, kind: Kind) -> list[Finding]:
    """The seed's check 2: an extension module's suffix must be one the runtime loads."""
    findings: list[Finding] = []
    ext_suffix = target.runtime.ext_suffix(target.arch)
    loadable = target.runtime.loadable_suffixes(target.arch)
    roots = import_roots(kind, target)
    for so in facts.shared_objects:
        name = PurePosixPath(so.path).name
        match = _EXT_TAG.match(name)
        if not match or f".{match['tag']}.{match['ext']}" in loadable:
            continue
        if not _PYTHON_TAG.match(match["tag"]):
            continue  # a shared library such as libfoo.1.so, not an extension module
        module = module_name(so.path, roots)
        failure = _import_failure(module, so.path, facts.paths()) if module else ""
        findings.append(
            Finding(
                code="ext-suffix",
                severity=Severity.ERROR,
                path=so.path,
                expected=f"a module named {match['stem']}{ext_suffix} (or .abi3.so) "
                f"for {target.runtime.name} on {target.arch.value}",
                found=f"{_describe_tag(match['tag'])}",
                remedy=f"{failure}To fix it, {_build_hint(target, kind)}",
            )
        )
    return findings


def _pydantic_core_dirs(facts: ArtifactFacts) -> list[str]:
    return sorted(
        str(PurePosixPath(e.path).parent)
        for e in facts.files
        if PurePosixPath(e.path).parent.name == "pydantic_core" and e.name == "__init__.py"
    )


def _pinned_core(dist: Dist) -> str | None:
    for text in dist.requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) == "pydantic-core" and req.marker is None:
            pins = [s.version for s in req.specifier if s.operator in ("==", "===")]
            if pins:
                return pins[0]
    return None


def check_pydantic_core(
    facts: ArtifactFacts, target: Target, kind: Kind, other_dists: Sequence[Dist] = ()
) -> list[Finding]:
    """The seed's check 1, and the pin: pydantic requires exactly one pydantic-core version."""
    findings: list[Finding] = []
    paths = facts.paths()
    ext_suffix = target.runtime.ext_suffix(target.arch)
    for package in _pydantic_core_dirs(facts):
        modules = sorted(
            p for p in paths if p.startswith(f"{package}/_pydantic_core.") and p.endswith(".so")
        )
        if not modules:
            findings.append(
                Finding(
                    code="pydantic-core-module",
                    severity=Severity.ERROR,
                    path=f"{package}/_pydantic_core{ext_suffix}",
                    expected="the compiled module of pydantic-core",
                    found="no _pydantic_core*.so in the package",
                    remedy="Lambda cannot import pydantic_core._pydantic_core (No module named "
                    "..., or cannot import name ... (unknown location) where the stubs' "
                    f"directory stands in for it); reinstall pydantic-core from a wheel: "
                    f"{_build_hint(target, kind)}",
                )
            )
        stubs = (f"{package}/_pydantic_core.pyi", f"{package}/_pydantic_core/__init__.pyi")
        if not any(s in paths for s in stubs):
            findings.append(
                Finding(
                    code="pydantic-core-stub",
                    severity=Severity.WARNING,
                    path=stubs[0],
                    expected="the type stubs beside the compiled module (_pydantic_core.pyi)",
                    found="no stubs",
                    remedy="the package was stripped or installed incompletely; reinstall "
                    "pydantic-core from its wheel",
                )
            )
    dists = list(facts.dists) + list(other_dists)
    cores = {d.version for d in dists if d.name == "pydantic-core"}
    for pydantic in (d for d in facts.dists if d.name == "pydantic"):
        pinned = _pinned_core(pydantic)
        if pinned is None or pinned in cores:
            continue
        where = f"{pydantic.location}/" if pydantic.location else ""
        findings.append(
            Finding(
                code="pydantic-core-version",
                severity=Severity.ERROR,
                path=f"{where}pydantic-{pydantic.version}.dist-info",
                expected=f"pydantic-core=={pinned}, which pydantic {pydantic.version} requires",
                found=f"pydantic-core {', '.join(sorted(cores))}" if cores else "no pydantic-core",
                remedy="install pydantic and pydantic-core together, from one resolve "
                "(pip install pydantic), not one of them alone",
            )
        )
    return findings


def check_size(facts: ArtifactFacts, layers: Sequence[ArtifactFacts] = ()) -> list[Finding]:
    findings: list[Finding] = []
    name = PurePosixPath(facts.source).name
    if facts.zipped_size is not None and facts.zipped_size > ZIPPED_DIRECT_UPLOAD_LIMIT:
        findings.append(
            Finding(
                code="zipped-size",
                severity=Severity.WARNING,
                path=name,
                expected=f"at most {ZIPPED_DIRECT_UPLOAD_LIMIT:,} bytes zipped for direct upload",
                found=f"{facts.zipped_size:,} bytes",
                remedy="upload it through S3 (publish --s3-bucket), or make it smaller",
            )
        )
    total = facts.unzipped_size + sum(layer.unzipped_size for layer in layers)
    if total > UNZIPPED_LIMIT:
        parts = " + ".join(f"{f.unzipped_size:,}" for f in (facts, *layers))
        findings.append(
            Finding(
                code="unzipped-size",
                severity=Severity.ERROR,
                path=name,
                expected=f"at most {UNZIPPED_LIMIT:,} bytes unzipped, function and layers together",
                found=f"{total:,} bytes ({parts})" if layers else f"{total:,} bytes",
                remedy="drop what the function does not import (tests, docs, other platforms' "
                "files) or move to a container image",
            )
        )
    return findings


def check_bytecode(facts: ArtifactFacts, target: Target) -> list[Finding]:
    findings: list[Finding] = []
    mtimes = {e.path: e.mtime for e in facts.files}
    sizes = {e.path: e.size for e in facts.files}
    wanted = target.runtime.cache_tag
    foreign: dict[str, list[str]] = {}
    stale: list[tuple[Pyc, int, int | None]] = []  # with the source's mtime and size
    for pyc in facts.pycs:
        if pyc.cache_tag is not None and pyc.cache_tag != wanted:
            foreign.setdefault(pyc.cache_tag, []).append(pyc.path)
            continue
        if pyc.flags != 0 or pyc.source is None:
            continue
        source_mtime, source_size = mtimes.get(pyc.source), sizes.get(pyc.source)
        if source_mtime is None or pyc.source_mtime is None:
            continue
        if (source_mtime & 0xFFFFFFFF, source_size) != (pyc.source_mtime, pyc.source_size):
            stale.append((pyc, source_mtime, source_size))
    if stale:
        pyc, source_mtime, source_size = stale[0]
        more = f" (and {len(stale) - 1} more)" if len(stale) > 1 else ""
        findings.append(
            Finding(
                code="stale-pyc",
                severity=Severity.WARNING,
                path=f"{pyc.path}{more}",
                expected=f"a pyc valid for {pyc.source} (mtime {source_mtime}, "
                f"{source_size} bytes in the artifact)",
                found=f"a timestamp pyc for mtime {pyc.source_mtime}, {pyc.source_size} bytes",
                remedy="the runtime recompiles these modules on every cold start (their "
                "directory is read-only); compile with --invalidation-mode checked-hash",
            )
        )
    for tag, paths in sorted(foreign.items()):
        findings.append(
            Finding(
                code="foreign-pyc",
                severity=Severity.WARNING,
                path=paths[0] if len(paths) == 1 else f"{paths[0]} (and {len(paths) - 1} more)",
                expected=f"bytecode for {wanted} only",
                found=f"{len(paths)} .pyc for {tag}",
                remedy=f"{target.runtime.name} never reads them: dead weight; remove them or "
                "compile with the runtime's interpreter",
            )
        )
    return findings


def check_artifact(
    facts: ArtifactFacts,
    target: Target,
    kind: Kind,
    layers: Iterable[ArtifactFacts] = (),
) -> list[Finding]:
    """Every finding of every check, errors first, in a stable order."""
    layers = list(layers)
    findings = [
        *check_readable(facts),
        *check_layout(facts, target, kind),
        *check_shared_objects(facts, target, kind),
        *check_extension_modules(facts, target, kind),
        *check_pydantic_core(facts, target, kind, [d for lf in layers for d in lf.dists]),
        *check_size(facts, layers),
        *check_bytecode(facts, target),
    ]
    order = {Severity.ERROR: 0, Severity.WARNING: 1}
    return sorted(findings, key=lambda f: (order[f.severity], f.path, f.code))
