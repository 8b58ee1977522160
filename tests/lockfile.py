"""The lock files, read: pins and hashes in pip's requirements format, and the frozen inputs that
let a test re-lock without asking the index.

    python -m tests.lockfile newer     # what the index serves today that the locks do not pin

The frozen inputs are the exact files requirements.txt and uv-requirements.txt pin for every
supported target, downloaded once (hashes checked) into the test cache. Resolving from them alone
gives the same answer on any day: a release published tomorrow is not among them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from lambdazip.targets import RUNTIMES, SUPPORTED_VERSIONS, Arch
from tests.wheels import REPO, cache_dir

LAYER_LOCK = REPO / "requirements.txt"
UV_LOCK = REPO / "lambdazip" / "inside" / "uv-requirements.txt"
DEV_LOCK = REPO / "requirements-dev.txt"
TOOL_LOCK = REPO / "requirements-tool.txt"
# settings that would put another index or more files in front of the frozen inputs
INDEX_VARIABLES = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
)


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: tuple[str, ...]

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> str:
        (specifier,) = self.requirement.specifier
        return specifier.version


def pins(path: Path) -> list[Pin]:
    """Each requirement line of a lock with its hashes (comments and the 'via' notes dropped)."""
    return pins_in(path.read_text())


def pins_in(text: str) -> list[Pin]:
    logical = text.replace("\\\n", " ")
    parsed = []
    for line in logical.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split(" --hash=")
        parsed.append(Pin(Requirement(spec.strip()), tuple(o.strip() for o in options)))
    return parsed


def without_hashes(text: str) -> str:
    """A lock's text with the hash options removed: what was resolved, and why."""
    logical = text.replace("\\\n", "\n")
    lines = [line.split(" --hash=")[0].rstrip() for line in logical.splitlines()]
    return "\n".join(line for line in lines if line.strip()) + "\n"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in INDEX_VARIABLES}


def _download(
    lock: Path, dest: Path, python: str, platforms: Sequence[str], implementation: str
) -> None:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--only-binary=:all:", "--require-hashes", "--dest", str(dest)]
    command += ["--python-version", python, "--implementation", implementation]
    for platform in platforms:
        command += ["--platform", platform]
    subprocess.run([*command, "-r", str(lock)], check=True, env=clean_env())


def _built_once(kind: str, key: str, fill: Callable[[Path], None]) -> Path:
    """A directory of the test cache, filled by ``fill`` once per ``key``: filled under a temporary
    name and renamed into place, so an interrupted download is never taken for a complete one."""
    path = cache_dir().parent / kind / hashlib.sha256(key.encode()).hexdigest()[:16]
    if (path / ".complete").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".partial-") as scratch:
        partial = Path(scratch) / kind
        partial.mkdir()
        fill(partial)
        (partial / ".complete").touch()
        shutil.rmtree(path, ignore_errors=True)
        partial.rename(path)
    return path


def frozen_index() -> Path:
    """A find-links directory with the exact files the layer's and uv's locks pin for every
    supported (python x arch), built once per lock content (hashes checked by pip)."""

    def fill(index: Path) -> None:
        for arch in Arch:
            for python in SUPPORTED_VERSIONS:
                platforms = RUNTIMES[python].wheel_platform_tags(arch)
                _download(LAYER_LOCK, index, python, platforms, "cp")
            _download(UV_LOCK, index, "3.10", RUNTIMES["3.10"].wheel_platform_tags(arch), "py")

    key = LAYER_LOCK.read_text() + UV_LOCK.read_text() + " ".join(SUPPORTED_VERSIONS)
    return _built_once("frozen-index", key, fill)


def tool_wheelhouse(python: str | None = None) -> Path:
    """The wheels requirements-tool.txt pins for this host (or for CPython ``python`` on x86_64
    Linux), downloaded once (hashes checked): what a fresh environment installs the tool's
    dependencies from, without asking the index."""

    def fill(wheels: Path) -> None:
        if python is not None:
            _download(
                TOOL_LOCK, wheels, python, RUNTIMES["3.14"].wheel_platform_tags(Arch.X86_64), "cp"
            )
            return
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"]
        command += ["--require-hashes", "--dest", str(wheels), "-r", str(TOOL_LOCK)]
        subprocess.run(command, check=True, env=clean_env())

    where = f"{python} linux x86_64" if python else f"{sys.version_info[:2]} {sys.platform}"
    return _built_once("tool-wheelhouse", TOOL_LOCK.read_text() + where, fill)


def newer() -> int:
    """Resolve each lock's input against the live index with no date limit; list what moved."""
    uv = Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin") / "uv"
    inputs = [
        (LAYER_LOCK, ["requirements.in"]),
        (UV_LOCK, ["lambdazip/inside/uv-requirements.in"]),
        (DEV_LOCK, ["pyproject.toml", "--extra", "dev"]),
    ]
    moved = 0
    with tempfile.TemporaryDirectory() as scratch:
        for lock, source in inputs:
            output = Path(scratch) / lock.name
            command = [str(uv), "pip", "compile", *source, "--universal", "--quiet"]
            command += ["--python-version", "3.10", "--output-file", str(output)]
            result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
            if result.returncode != 0:
                print(f"{lock.name}: cannot resolve against the index: {result.stderr.strip()}")
                continue
            locked = {p.name: p.version for p in pins(lock)}
            for pin in pins(output):
                if locked.get(pin.name) not in (None, pin.version):
                    moved += 1
                    print(f"{lock.name}: {pin.name} {locked[pin.name]} -> {pin.version}")
    if moved:
        print(f"newer releases exist ({moved}); to take them: move LOCK_DATE, then `make lock`")
    else:
        print("the locks pin the newest releases the index serves")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["newer"]:
        sys.exit("usage: python -m tests.lockfile newer")
    sys.exit(newer())
