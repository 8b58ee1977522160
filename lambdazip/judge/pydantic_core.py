"""pydantic-core where Lambda imports it: every pydantic_core package Python would import has the
compiled module for the runtime's EXT_SUFFIX, and the pydantic that importlib finds first gets
the pydantic-core it pins (function and layers composed). Pure: facts in, findings out."""

from __future__ import annotations

from pathlib import PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from lambdazip.judge.compose import Composed, Kind
from lambdazip.judge.facts import Dist
from lambdazip.judge.findings import Finding
from lambdazip.judge.native import build_hint
from lambdazip.judge.rules import finding
from lambdazip.targets import Target


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


def check_pydantic_core(composed: Composed, target: Target, kind: Kind) -> list[Finding]:
    """On every pydantic_core package Python would import: a compiled module with the runtime's
    EXT_SUFFIX; and the pin on the pydantic and pydantic-core that importlib finds first
    (function and layers composed)."""
    findings: list[Finding] = []
    ext_suffix = target.runtime.ext_suffix(target.arch)
    in_packages: dict[str, list[str]] = {}  # placed pydantic_core/ -> the names in it
    for placed in composed.files:
        directory, _, name = placed.rpartition("/")
        if directory.endswith("/pydantic_core") or directory.endswith("/_pydantic_core"):
            in_packages.setdefault(directory, []).append(name)
    for directory_placed, names in sorted(in_packages.items()):
        if "__init__.py" not in names or not directory_placed.endswith("/pydantic_core"):
            continue
        placed = f"{directory_placed}/__init__.py"
        if not composed.reachable(placed):
            continue
        part, path = composed.files[placed]
        package = str(PurePosixPath(path).parent)
        modules = sorted(n for n in names if n.startswith("_pydantic_core.") and n.endswith(".so"))
        if not modules:
            findings.append(
                finding(
                    code="pydantic-core-module",
                    path=part.show(f"{package}/_pydantic_core{ext_suffix}"),
                    expected="the compiled module of pydantic-core",
                    found="no _pydantic_core*.so in the package",
                    remedy="Lambda cannot import pydantic_core._pydantic_core (No module named "
                    "..., or cannot import name ... (unknown location) where the stubs' "
                    f"directory stands in for it); reinstall pydantic-core from a wheel: "
                    f"{build_hint(target, kind)}",
                )
            )
        stubs = (f"{package}/_pydantic_core.pyi", f"{package}/_pydantic_core/__init__.pyi")
        stub_dir = in_packages.get(f"{directory_placed}/_pydantic_core", [])
        if "_pydantic_core.pyi" not in names and "__init__.pyi" not in stub_dir:
            findings.append(
                finding(
                    code="pydantic-core-stub",
                    path=part.show(stubs[0]),
                    expected="the type stubs beside the compiled module (_pydantic_core.pyi)",
                    found="no stubs",
                    remedy="the package was stripped or installed incompletely; reinstall "
                    "pydantic-core from its wheel",
                )
            )
    effective = composed.effective_dists()
    if "pydantic" not in effective:
        return findings
    part, pydantic = effective["pydantic"]
    pinned = _pinned_core(pydantic)
    core = effective.get("pydantic-core")
    if pinned is not None and (core is None or core[1].version != pinned):
        found = "no pydantic-core"
        if core is not None:
            where = f" from {core[0].label}, which Lambda imports first" if core[0].label else ""
            found = f"pydantic-core {core[1].version}{where}"
        findings.append(
            finding(
                code="pydantic-core-version",
                path=part.show(pydantic.dist_info or f"pydantic-{pydantic.version}.dist-info"),
                expected=f"pydantic-core=={pinned}, which pydantic {pydantic.version} requires",
                found=found,
                remedy="install pydantic and pydantic-core together, from one resolve "
                "(pip install pydantic), into one place: a function's copy shadows a layer's",
            )
        )
    return findings
