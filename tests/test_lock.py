"""The locks: requirements.txt (what goes into the layer) and uv's, hash-locked, complete for every
target, and exactly what `make lock` produces from inputs that do not move; the toolchain's and the
tool's own locks pinned and hashed, and consistent with pyproject.toml.

Nothing here asks the live index after the frozen inputs are cached (tests/lockfile.py): a release
published tomorrow cannot turn these red. `make lock-check` is the place to learn about it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lambdazip.targets import ARCHITECTURES, RUNTIMES, SUPPORTED_VERSIONS, Arch
from tests.lockfile import (
    DEV_LOCK,
    LAYER_LOCK,
    TOOL_LOCK,
    UV_LOCK,
    Pin,
    clean_env,
    frozen_index,
    pins,
    pins_in,
    without_hashes,
)
from tests.wheels import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli there
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


@pytest.fixture(scope="module")
def frozen() -> Path:
    return frozen_index()


@pytest.mark.parametrize("lock", [LAYER_LOCK, UV_LOCK, DEV_LOCK, TOOL_LOCK], ids=lambda p: p.name)
def test_every_requirement_is_pinned_and_hashed(lock: Path) -> None:
    locked = pins(lock)
    assert locked
    for pin in locked:
        assert [s.operator for s in pin.requirement.specifier] == ["=="], pin.requirement
        assert pin.hashes, f"{pin.requirement} has no hashes"
        assert all(h.startswith("sha256:") and len(h) == 71 for h in pin.hashes)


def test_the_layer_lock_covers_every_platform() -> None:
    core = next(p for p in pins(LAYER_LOCK) if p.name == "pydantic-core")
    assert (
        len(core.hashes) > 20
    )  # one hash per wheel: every Python x platform, not just this host's


def _satisfied(requirement: Requirement, locked: list[Pin], extras: set[str]) -> bool:
    for python in SUPPORTED_VERSIONS:
        environment = {"python_version": python, "python_full_version": f"{python}.0"}
        for extra in extras or {""}:
            if requirement.marker and not requirement.marker.evaluate(
                {**environment, "extra": extra}
            ):
                continue
            candidates = [p for p in locked if p.name == canonicalize_name(requirement.name)]
            candidates = [
                p
                for p in candidates
                if p.requirement.marker is None or p.requirement.marker.evaluate(environment)
            ]
            if not any(
                requirement.specifier.contains(p.version, prereleases=True) for p in candidates
            ):
                return False
    return True


def test_the_toolchain_lock_follows_pyproject() -> None:
    """requirements-dev.txt pins every dependency and dev tool pyproject.toml names, within its
    range, on every supported Python; requirements-tool.txt the runtime ones, at the same
    versions."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(r) for r in project["dependencies"]]
    dev = [Requirement(r) for r in project["optional-dependencies"]["dev"]]
    dev_pins, tool_pins = pins(DEV_LOCK), pins(TOOL_LOCK)
    for requirement in runtime + dev:
        assert _satisfied(requirement, dev_pins, set()), f"{requirement} is not in {DEV_LOCK.name}"
    for requirement in runtime:
        assert _satisfied(requirement, tool_pins, set()), f"{requirement} not in {TOOL_LOCK.name}"
    dev_versions = {(p.name, p.version) for p in dev_pins}
    for pin in tool_pins:
        assert (pin.name, pin.version) in dev_versions, f"{pin.name} {pin.version} differs"


def test_the_venv_runs_the_locked_toolchain() -> None:
    """What `make venv` installed is what requirements-dev.txt pins (a stale venv shows here)."""
    from importlib.metadata import version

    for name in ("ruff", "mypy", "pytest", "uv", "hypothesis", "moto", "pydantic"):
        locked = [p.version for p in pins(DEV_LOCK) if p.name == name]
        assert version(name) in locked, f"{name} {version(name)} is installed, {locked} locked"


@pytest.mark.network
@pytest.mark.parametrize("arch", list(Arch), ids=lambda a: a.value)
@pytest.mark.parametrize("python", SUPPORTED_VERSIONS)
def test_the_lock_installs_for_every_target(
    python: str, arch: Arch, frozen: Path, tmp_path: Path
) -> None:
    """pip resolves the lock with hashes required and wheels only, for the target's platform,
    from the frozen files alone."""
    platforms = RUNTIMES[python].wheel_platform_tags(arch)
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed"]
    command += ["--only-binary=:all:", "--require-hashes", "--implementation", "cp"]
    command += ["--no-index", "--find-links", str(frozen)]
    command += ["--python-version", python, "--target", str(tmp_path), "-r", str(LAYER_LOCK)]
    for platform in platforms:
        command += ["--platform", platform]
    result = subprocess.run(command, capture_output=True, text=True, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert ARCHITECTURES[arch].wheel_machine in platforms[-1]


def _newer_pydantic(directory: Path) -> Path:
    """A valid wheel of a pydantic release that does not exist (2.99.0): what tomorrow's index
    might serve."""
    directory.mkdir()
    wheel = directory / "pydantic-2.99.0-py3-none-any.whl"
    info = "pydantic-2.99.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pydantic/__init__.py", "VERSION = '2.99.0'\n")
        zf.writestr(
            f"{info}/METADATA",
            "Metadata-Version: 2.1\nName: pydantic\nVersion: 2.99.0\n"
            "Requires-Dist: typing-extensions>=4.6\n",
        )
        zf.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{info}/RECORD", "")
    return directory


def _make_lock(frozen: Path, out: Path, env: dict[str, str]) -> tuple[str, str]:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    out.mkdir()
    layer, uv = out / "requirements.txt", out / "uv-requirements.txt"
    command = [make, "-s", "lock-layer", f"LOCK_FIND_LINKS={frozen}"]
    command += [f"LOCK_OUTPUT={layer}", f"UV_LOCK_OUTPUT={uv}", f"VENV={Path(sys.prefix)}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return layer.read_text(), uv.read_text()


@pytest.mark.network
def test_make_lock_reproduces_the_locks_from_frozen_inputs(frozen: Path, tmp_path: Path) -> None:
    """`make lock` resolves requirements.in to exactly the pins and the dependency notes of
    requirements.txt (uv's likewise), with hashes that requirements.txt holds; twice the same bytes,
    also with a newer pydantic put in front through every variable pip and uv read."""
    first = _make_lock(frozen, tmp_path / "first", clean_env())
    newer = str(_newer_pydantic(tmp_path / "newer"))
    tomorrow = clean_env() | {"UV_FIND_LINKS": newer, "PIP_FIND_LINKS": newer}
    second = _make_lock(frozen, tmp_path / "second", tomorrow)
    assert second == first
    for produced, lock in zip(first, (LAYER_LOCK, UV_LOCK), strict=True):
        assert without_hashes(produced) == without_hashes(lock.read_text()), lock.name
        produced_pins = {p.name: p for p in pins_in(produced)}
        for pin in pins(lock):
            assert set(produced_pins[pin.name].hashes) <= set(pin.hashes), pin.name
    assert "2.99.0" not in second[0]


@pytest.mark.network
def test_a_newer_release_in_front_would_be_taken(frozen: Path, tmp_path: Path) -> None:
    """The counterfactual: the same resolution with the newer wheel's directory among its sources
    picks pydantic 2.99.0, so the equality above is not vacuous."""
    newer = _newer_pydantic(tmp_path / "newer")
    uv = Path(sys.prefix) / "bin" / "uv"
    command = [str(uv), "pip", "compile", "requirements.in", "--universal", "--quiet", "--no-index"]
    command += ["--python-version", "3.10", "--find-links", str(frozen), "--find-links", str(newer)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert "pydantic==2.99.0" in result.stdout
