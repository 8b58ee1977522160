"""Judge the facts of an artifact against a target. Pure functions: facts in, findings out.

The artifact is judged where Lambda puts it, with the layers it runs with (compose.py): what the
import system loads, which pydantic and pydantic-core importlib finds first, and every layer's
native code too. Every check returns all of its findings; :func:`check_artifact` runs them all,
so a user sees every problem at once. Native code is judged in native.py, pydantic-core in
pydantic_core.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from lambdazip.judge.compose import Composed, Kind, Part, compose
from lambdazip.judge.facts import ArtifactFacts, Pyc
from lambdazip.judge.findings import Finding, Severity
from lambdazip.judge.native import check_abi3_tags, check_native, extension_stem
from lambdazip.judge.pydantic_core import check_pydantic_core
from lambdazip.judge.rules import finding
from lambdazip.judge.unpacking import (
    LAYER_DIRS,
    check_layer_count,
    check_unpacking,
    zipped_folder,
)
from lambdazip.targets import (
    SDK_PINS,
    UNZIPPED_LIMIT,
    ZIPPED_DIRECT_UPLOAD_LIMIT,
    RuntimeStatus,
    Target,
    python_of_magic,
)

__all__ = [
    "UNZIPPED_LIMIT",
    "ZIPPED_DIRECT_UPLOAD_LIMIT",
    "Kind",
    "check_artifact",
    "detect_kind",
]

LAYER_TOP_DIRS = LAYER_DIRS  # sys.path, LD_LIBRARY_PATH (/opt/lib), PATH, extensions

_SITE_PACKAGES = re.compile(r"^python/lib/python(?P<version>3\.\d+)/site-packages(/|$)")


def detect_kind(facts: ArtifactFacts) -> Kind:
    """A layer if everything is under python/, lib/ or bin/ (what AWS puts on sys.path,
    LD_LIBRARY_PATH and PATH from /opt), else a function."""
    tops = {e.path.split("/", 1)[0] for e in facts.files if "/" in e.path}
    loose = [e for e in facts.files if "/" not in e.path]
    if facts.files and not loose and tops <= set(LAYER_TOP_DIRS):
        return Kind.LAYER
    return Kind.FUNCTION


def _name(facts: ArtifactFacts) -> str:
    return PurePosixPath(facts.source.replace("\\", "/")).name


def _first_and_more(paths: Sequence[str]) -> str:
    return paths[0] if len(paths) == 1 else f"{paths[0]} (and {len(paths) - 1} more)"


def check_readable(part: Part) -> list[Finding]:
    facts = part.facts
    findings = [
        finding(
            code="unreadable",
            path=part.show(p.path),
            expected="a readable file",
            found=p.message,
            remedy="rebuild the artifact; Lambda rejects or cannot load what cannot be read",
        )
        for p in facts.problems
    ]
    if not facts.files and not facts.problems:
        findings.append(
            finding(
                code="empty",
                path=part.label or _name(facts),
                expected="at least one file",
                found="an empty artifact" + (" (only macOS junk)" if facts.junk else ""),
                remedy="AWS rejects an empty zip: zip the directory's contents, not nothing",
            )
        )
    if facts.backslash_names:
        names = sorted(facts.backslash_names)
        findings.append(
            finding(
                code="backslash-name",
                path=part.show(_first_and_more(names)),
                expected="member names with / between directories",
                found=f"{len(names)} name(s) with \\, kept as literal file names by Lambda",
                remedy="zip with a tool that writes / (python -m zipfile, 7-Zip, or build.py), "
                "not one that writes Windows paths",
            )
        )
    return findings


def check_junk(part: Part) -> list[Finding]:
    junk = part.facts.junk
    if not junk:
        return []
    size = sum(e.size for e in junk)
    return [
        finding(
            code="macos-junk",
            path=part.show(_first_and_more(sorted(e.path for e in junk))),
            expected="only what the function needs",
            found=f"{len(junk)} file(s) macOS Finder added (__MACOSX/, ._*, .DS_Store), "
            f"{size:,} bytes",
            remedy="zip with `zip -r -X` or build.py instead of Finder's Compress, or "
            'delete them: zip -d ARTIFACT "__MACOSX/*" "*/.DS_Store"',
        )
    ]


def check_layout(part: Part, target: Target, kind: Kind) -> list[Finding]:
    findings: list[Finding] = []
    version = target.runtime.version
    seen: set[str] = set()
    paths = part.facts.paths()
    folder = zipped_folder(part, kind)  # said once, as zipped-folder
    for entry in part.facts.files:
        site = _SITE_PACKAGES.match(entry.path)
        top = entry.path.split("/", 1)[0]
        if kind is Kind.LAYER and ("/" not in entry.path or top not in LAYER_TOP_DIRS):
            if top not in seen and top != folder and _code_for_sys_path(part, top):
                seen.add(top)
                findings.append(
                    finding(
                        code="layer-outside-python",
                        path=part.show(top),
                        expected="everything under python/ (on sys.path), lib/ or bin/ "
                        "(a layer is unpacked at /opt)",
                        found=f"Python code in {top} at the top of the layer, which is on no "
                        "search path",
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
                finding(
                    code="site-packages-version",
                    path=part.show(root),
                    expected=expected,
                    found=f"a site-packages for python{site['version']}, not on sys.path",
                    remedy=remedy,
                )
            )
    if kind is Kind.FUNCTION and "python/__init__.py" not in paths:
        packages = sorted(
            {
                e.path.split("/")[1]
                for e in part.facts.files
                if e.path.startswith("python/")
                and not _SITE_PACKAGES.match(e.path)
                and (e.path.count("/") == 2 and e.path.endswith(("/__init__.py", "/METADATA")))
            }
        )
        if packages:
            findings.append(
                finding(
                    code="layer-layout-in-function",
                    path=part.show(f"python/{packages[0]}"),
                    expected="packages at the top of the function zip (it is unpacked at "
                    "/var/task, which is on sys.path; /var/task/python is not)",
                    found=f"{len(packages)} package(s) under python/: {', '.join(packages[:5])}",
                    remedy="Lambda will not find them: install them at the zip's root "
                    "(pip install --target .), or publish python/ as a layer",
                )
            )
    return findings


def _code_for_sys_path(part: Part, top: str) -> bool:
    """Whether ``top`` (a file or directory at the top of a layer) holds what was meant for
    sys.path: modules, packages, extension modules or distributions. Anything else is data a
    function may read from /opt, or a Lambda extension's, and nothing to judge."""
    for entry in part.facts.files:
        if entry.path != top and not entry.path.startswith(top + "/"):
            continue
        name = entry.path.rsplit("/", 1)[-1]
        depth = entry.path.count("/")
        if depth <= 1 and (name.endswith(".py") or extension_stem(name) is not None):
            return True
        if ".dist-info/" in entry.path or entry.path.endswith("/__init__.py"):
            return True
    return False


def check_sdk(composed: Composed) -> list[Finding]:
    """The AWS SDK bundled in part: a distribution that pins another (boto3 -> botocore) with
    only one of the two in the zip and its layers, so the runtime's copy supplies the other."""
    bundled = composed.effective_dists()
    findings: list[Finding] = []
    for dependent, pinned in sorted(SDK_PINS.items()):
        for other in pinned:
            if (dependent in bundled) == (other in bundled):
                continue
            have, lack = (dependent, other) if dependent in bundled else (other, dependent)
            part, dist = bundled[have]
            findings.append(
                finding(
                    code="sdk-split",
                    path=part.show(dist.dist_info or dist.name),
                    expected=f"{dependent} and {other} both bundled, or neither",
                    found=f"{have} {dist.version} bundled, {lack} from the runtime",
                    remedy=f"bundle {lack} at the version {dependent} pins (install both from "
                    f"one lock), or leave {have} out to use the runtime's pair",
                )
            )
    return findings


def check_size(composed: Composed) -> list[Finding]:
    findings: list[Finding] = []
    main = composed.parts[0].facts
    name = _name(main)
    if main.zipped_size is not None and main.zipped_size > ZIPPED_DIRECT_UPLOAD_LIMIT:
        findings.append(
            finding(
                code="zipped-size",
                path=name,
                expected=f"at most {ZIPPED_DIRECT_UPLOAD_LIMIT:,} bytes zipped for direct upload",
                found=f"{main.zipped_size:,} bytes",
                remedy="upload it through S3 (publish --s3-bucket), or make it smaller",
            )
        )
    sizes = [p.facts.unzipped_size for p in composed.parts]
    total = sum(sizes)
    if total > UNZIPPED_LIMIT:
        parts = " + ".join(f"{s:,}" for s in sizes)
        findings.append(
            finding(
                code="unzipped-size",
                path=name,
                expected=f"at most {UNZIPPED_LIMIT:,} bytes unzipped, function and layers together",
                found=f"{total:,} bytes ({parts})" if len(sizes) > 1 else f"{total:,} bytes",
                remedy="drop what the function does not import (tests, docs, other platforms' "
                "files) or move to a container image",
            )
        )
    return findings


def check_bytecode(part: Part, target: Target) -> list[Finding]:
    findings: list[Finding] = []
    facts = part.facts
    mtimes = {e.path: e.mtime for e in facts.files}
    sizes = {e.path: e.size for e in facts.files}
    wanted = target.runtime.cache_tag
    foreign: dict[str, list[str]] = {}
    stale: list[tuple[Pyc, int, int | None]] = []  # with the source's mtime and size
    sourceless: list[Pyc] = []
    for pyc in facts.pycs:
        if pyc.cache_tag is None and pyc.source is None:
            if pyc.magic is not None and pyc.magic != target.runtime.pyc_magic:
                sourceless.append(pyc)
            continue
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
    for pyc in sourceless:
        compiled_by = python_of_magic(pyc.magic or 0)
        findings.append(
            finding(
                code="bad-magic",
                path=part.show(pyc.path),
                expected=f"bytecode of {target.runtime.name} (magic {target.runtime.pyc_magic}), "
                "since no .py stands beside it",
                found=f"magic {pyc.magic}"
                + (f": compiled by Python {compiled_by}" if compiled_by else ""),
                remedy="Lambda raises ImportError: bad magic number; ship the .py, or compile "
                f"with {target.runtime.name}'s interpreter",
            )
        )
    if stale:
        pyc, source_mtime, source_size = stale[0]
        more = f" (and {len(stale) - 1} more)" if len(stale) > 1 else ""
        findings.append(
            finding(
                code="stale-pyc",
                path=part.show(f"{pyc.path}{more}"),
                expected=f"a pyc valid for {pyc.source} (mtime {source_mtime}, "
                f"{source_size} bytes in the artifact)",
                found=f"a timestamp pyc for mtime {pyc.source_mtime}, {pyc.source_size} bytes",
                remedy="the runtime recompiles these modules on every cold start (their "
                "directory is read-only); compile with --invalidation-mode checked-hash",
            )
        )
    for tag, paths in sorted(foreign.items()):
        findings.append(
            finding(
                code="foreign-pyc",
                path=part.show(_first_and_more(paths)),
                expected=f"bytecode for {wanted} only",
                found=f"{len(paths)} .pyc for {tag}",
                remedy=f"{target.runtime.name} never reads them: dead weight; remove them or "
                "compile with the runtime's interpreter",
            )
        )
    return findings


def check_runtime(target: Target) -> list[Finding]:
    runtime = target.runtime
    if runtime.status is RuntimeStatus.PREVIEW:
        return [
            finding(
                code="runtime-preview",
                path=runtime.name,
                expected="a runtime AWS Lambda supports for production",
                found=f"{runtime.name}, in AWS Lambda's public preview (image tag "
                f"{runtime.image_tag(target.arch)})",
                remedy="try it, but deploy production functions on a supported runtime until "
                "AWS makes it generally available",
            )
        ]
    if runtime.status is not RuntimeStatus.DEPRECATED:
        return []
    blocked = (
        f"; creating functions on it is blocked from {runtime.create_blocked_on}"
        if runtime.create_blocked_on
        else ""
    )
    return [
        finding(
            code="runtime-deprecated",
            path=runtime.name,
            expected="a runtime AWS Lambda supports",
            found=f"{runtime.name}, deprecated by AWS Lambda on {runtime.deprecated_on}{blocked}",
            remedy="plan a move to a newer runtime; AWS stops creating, then updating, "
            "functions on it",
        )
    ]


def check_artifact(
    facts: ArtifactFacts,
    target: Target,
    kind: Kind,
    layers: Iterable[ArtifactFacts] = (),
) -> list[Finding]:
    """Every finding of every check on the artifact composed with its layers, errors first, in
    a stable order."""
    composed = compose(facts, target, kind, list(layers))
    abi3, judged = check_abi3_tags(composed, target)
    findings = [*check_runtime(target), *abi3, *check_native(composed, target, kind, judged)]
    for index, part in enumerate(composed.parts):
        part_kind = kind if index == 0 else Kind.LAYER
        findings += check_readable(part)
        findings += check_unpacking(part, part_kind)
        findings += check_junk(part)
        findings += check_layout(part, target, part_kind)
        findings += check_bytecode(part, target)
    findings += check_pydantic_core(composed, target, kind)
    findings += check_sdk(composed)
    findings += check_size(composed)
    findings += check_layer_count(composed.parts[0], len(composed.parts) - 1)
    order = {Severity.ERROR: 0, Severity.WARNING: 1}
    return sorted(findings, key=lambda f: (order[f.severity], f.path, f.code))
