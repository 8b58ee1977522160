"""What Lambda's unpacking makes of a zip, and what its non-root user can then do with it: the
compression methods its unzip takes, the modes it keeps (a file others cannot read is a file the
function cannot import), a folder zipped instead of its contents, code only a `.pth` file would
have put on sys.path, and how many layers a function may have. Pure: facts in, findings out."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import PurePosixPath

from lambdazip.judge.compose import Kind, Part
from lambdazip.judge.facts import ArtifactFacts
from lambdazip.judge.findings import Finding
from lambdazip.judge.rules import finding
from lambdazip.judge.tree import Entry
from lambdazip.targets import MAX_LAYERS

# what Lambda's unzip takes: stored and deflate; anything else is named for the user
TAKEN_METHODS = (0, 8)
METHOD_NAMES = {
    1: "shrink",
    6: "implode",
    9: "Deflate64",
    12: "bzip2",
    14: "LZMA",
    93: "Zstandard",
    95: "xz",
    98: "PPMd",
}
LAYER_PROGRAM_DIRS = ("bin", "extensions")  # /opt/bin on PATH; /opt/extensions run by Lambda
LAYER_DIRS = ("python", "lib", *LAYER_PROGRAM_DIRS)


def _listed(paths: Sequence[str]) -> str:
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    return f"{paths[0]}{more}"


def check_compression(part: Part) -> list[Finding]:
    odd = [e for e in part.facts.files if e.method not in TAKEN_METHODS]
    if not odd:
        return []
    methods = sorted({METHOD_NAMES.get(e.method, f"method {e.method}") for e in odd})
    return [
        finding(
            code="compression-method",
            path=part.show(_listed(sorted(e.path for e in odd))),
            expected="members stored or deflated (the methods Lambda's unzip takes)",
            found=f"{len(odd)} member(s) compressed with {', '.join(methods)}",
            remedy="zip again with deflate: `python -m zipfile -c NEW.zip DIR/*`, `zip -r`, or "
            "7-Zip with -mm=Deflate",
        )
    ]


def _unreadable(entry: Entry, directory: bool) -> bool:
    if not entry.mode:
        return False  # no mode recorded: the unpacker's default, readable by all
    if directory:
        return entry.mode & 0o005 != 0o005  # listed (import reads it) and entered by others
    return stat.S_ISREG(entry.mode) and not entry.mode & 0o004


def check_modes(part: Part, kind: Kind) -> list[Finding]:
    """As Lambda's non-root user finds the files: readable, and programs executable."""
    facts = part.facts
    if not facts.unix_modes:
        return []
    findings: list[Finding] = []
    files = [e.path for e in facts.files if _unreadable(e, directory=False)]
    folders = [f"{e.path}/" for e in facts.directories if _unreadable(e, directory=True)]
    if files or folders:
        shown = sorted(folders) + sorted(files)
        findings.append(
            finding(
                code="file-mode",
                path=part.show(_listed(shown)),
                expected="files readable by others (mode 644 or 755) and directories others can "
                "list and enter (755): Lambda runs the function as a user that owns none of them",
                found=f"{len(files)} file(s) and {len(folders)} directory(ies) it cannot read or "
                f"enter (e.g. mode {_mode_of(facts, shown[0])})",
                remedy="zip again from files with world-readable modes (chmod -R a+rX DIR), or "
                "with a tool that writes 644/755 (build.py does); `zipfile.writestr` stores 600",
            )
        )
    if kind is Kind.LAYER:
        programs = [
            e.path
            for e in facts.files
            if e.path.split("/", 1)[0] in LAYER_PROGRAM_DIRS
            and "/" in e.path
            and stat.S_ISREG(e.mode)
            and not e.mode & 0o111
        ]
        if programs:
            findings.append(
                finding(
                    code="bin-mode",
                    path=part.show(_listed(sorted(programs))),
                    expected="programs in bin/ and extensions/ executable (mode 755)",
                    found=f"{len(programs)} file(s) without an execute bit",
                    remedy="chmod a+x them before zipping; a program without it cannot run from "
                    "/opt/bin, and Lambda cannot start an extension without it",
                )
            )
    return findings


def _mode_of(facts: ArtifactFacts, shown: str) -> str:
    path = shown.rstrip("/")
    for entry in (*facts.directories, *facts.files):
        if entry.path == path:
            return oct(stat.S_IMODE(entry.mode))[2:]
    return "unknown"


def zipped_folder(part: Part, kind: Kind) -> str | None:
    """The one top directory everything sits under, when that is the folder zipped instead of
    its contents; else None."""
    facts = part.facts
    tops = {e.path.split("/", 1)[0] for e in facts.files}
    if len(tops) != 1 or any("/" not in e.path for e in facts.files):
        return None
    (top,) = tops
    below = {e.path.split("/")[1] for e in facts.files}
    if kind is Kind.LAYER:  # layer/python/..., zipped with its folder
        return top if top not in LAYER_DIRS and below & set(LAYER_DIRS) else None
    paths = facts.paths()
    if f"{top}/__init__.py" in paths:
        return None  # a package: the handler may be TOP.module.function
    # a namespace package may hold modules and packages; not distributions' metadata, and not
    # a module beside packages with their own __init__.py as a project folder does
    metadata = any(name.endswith(".dist-info") for name in below)
    modules = any(name.endswith(".py") for name in below)
    packages = any(f"{top}/{name}/__init__.py" in paths for name in below)
    return top if metadata or (modules and packages) else None


def check_zipped_folder(part: Part, kind: Kind) -> list[Finding]:
    top = zipped_folder(part, kind)
    if top is None:
        return []
    where = "/opt (python/, lib/, bin/ at its top)" if kind is Kind.LAYER else "/var/task"
    return [
        finding(
            code="zipped-folder",
            path=part.show(f"{top}/"),
            expected=f"the contents at the top of the zip: Lambda unpacks it at {where}",
            found=f"everything inside {top}/, one level deeper than Lambda looks",
            remedy=f"zip the folder's contents, not the folder: cd {top} && zip -r ../NEW.zip .",
        )
    ]


def check_pth_only(part: Part) -> list[Finding]:
    """Distributions whose code is only reachable through a .pth file (an editable install)."""
    findings: list[Finding] = []
    for dist in part.facts.dists:
        own = [
            f
            for f in dist.files
            if not f.startswith(dist.dist_info + "/")
            and "/__pycache__/" not in f"/{f}"
            and PurePosixPath(f).parts[:1] != ("bin",)
            and not f.startswith("../")
        ]
        if own and all(f.endswith(".pth") or "__editable__" in f for f in own):
            findings.append(
                finding(
                    code="pth-only",
                    path=part.show(dist.dist_info or dist.name),
                    expected=f"{dist.name}'s modules in the artifact",
                    found=f"only {_listed(sorted(own))}: an editable install's hook, which "
                    "Lambda never processes",
                    remedy=f"install {dist.name} itself (pip install . or a wheel), not in "
                    "editable mode (-e)",
                )
            )
    return findings


def check_layer_count(checked: Part, layers: int) -> list[Finding]:
    if layers <= MAX_LAYERS:
        return []
    return [
        finding(
            code="too-many-layers",
            path=checked.label or PurePosixPath(checked.facts.source).name,
            expected=f"at most {MAX_LAYERS} layers",
            found=f"{layers} layers",
            remedy="merge layers, or move dependencies into the function",
        )
    ]


def check_unpacking(part: Part, kind: Kind) -> list[Finding]:
    return [
        *check_compression(part),
        *check_modes(part, kind),
        *check_zipped_folder(part, kind),
        *check_pth_only(part),
    ]
