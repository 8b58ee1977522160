"""requirements.txt, what goes into the layer: hash-locked, complete for every target, and exactly
what `make lock` produces."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from lambdazip.targets import ARCHITECTURES, RUNTIMES, SUPPORTED_VERSIONS, Arch
from tests.wheels import REPO

LOCK = REPO / "requirements.txt"


def _requirements() -> list[tuple[Requirement, list[str]]]:
    """Each requirement with its hashes, from the pip requirements format."""
    logical = LOCK.read_text().replace("\\\n", " ")
    parsed = []
    for line in logical.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split(" --hash=")
        parsed.append((Requirement(spec.strip()), [o.strip() for o in options]))
    return parsed


def test_every_requirement_is_pinned_and_hashed() -> None:
    requirements = _requirements()
    names = {r.name for r, _ in requirements}
    assert {"pydantic", "pydantic-core"} <= names
    for requirement, hashes in requirements:
        assert [s.operator for s in requirement.specifier] == ["=="], requirement
        assert hashes, f"{requirement} has no hashes"
        assert all(h.startswith("sha256:") for h in hashes)
    core = next(h for r, h in requirements if r.name == "pydantic-core")
    assert len(core) > 20  # one hash per wheel: every Python x platform, not just this host's


@pytest.mark.network
@pytest.mark.parametrize("arch", list(Arch), ids=lambda a: a.value)
@pytest.mark.parametrize("python", SUPPORTED_VERSIONS)
def test_the_lock_installs_for_every_target(python: str, arch: Arch, tmp_path: Path) -> None:
    """pip resolves the lock with hashes required and wheels only, for the target's platform."""
    platforms = RUNTIMES[python].wheel_platform_tags(arch)
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed"]
    command += ["--only-binary=:all:", "--require-hashes", "--implementation", "cp"]
    command += ["--python-version", python, "--target", str(tmp_path), "-r", str(LOCK)]
    for platform in platforms:
        command += ["--platform", platform]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert ARCHITECTURES[arch].wheel_machine in platforms[-1]


@pytest.mark.network
def test_make_lock_reproduces_requirements_txt(tmp_path: Path) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    output, uv_output = tmp_path / "requirements.txt", tmp_path / "uv-requirements.txt"
    subprocess.run(
        [
            make,
            "-s",
            "lock",
            f"LOCK_OUTPUT={output}",
            f"UV_LOCK_OUTPUT={uv_output}",
            f"VENV={Path(sys.prefix)}",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    assert output.read_text() == LOCK.read_text()
    assert uv_output.read_text() == (REPO / "lambdazip/inside/uv-requirements.txt").read_text()
