"""The tool as users install it: the wheel and the sdist built from this repository carry the
Dockerfile and the scripts that run in the image; installed into a fresh venv outside the
repository, `lambdazip` builds a layer from an empty directory, checks a zip and knows its version.
The program name in usage lines follows how it was started."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from lambdazip import __version__
from lambdazip.inside.lambdazip_contract import FILES as INSIDE_FILES
from tests import wheels
from tests.conftest import host_env
from tests.lockfile import TOOL_LOCK, clean_env, tool_wheelhouse
from tests.wheels import REPO


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist, and the wheel built from it (so the sdist is proven complete)."""
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)]
    # not from the repository: its build.py would shadow pypa/build's module of that name
    result = subprocess.run(command, capture_output=True, text=True, cwd=out)
    assert result.returncode == 0, result.stdout + result.stderr
    (sdist,) = out.glob("lambdazip-*.tar.gz")
    (wheel,) = out.glob("lambdazip-*.whl")
    return sdist, wheel


def test_the_wheel_carries_the_dockerfile_and_the_scripts(dists: tuple[Path, Path]) -> None:
    _sdist, wheel = dists
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert zf.read("lambdazip/Dockerfile") == (REPO / "Dockerfile").read_bytes()
        for name in INSIDE_FILES:
            member = f"lambdazip/inside/{name}"
            assert zf.read(member) == (REPO / "lambdazip" / "inside" / name).read_bytes()
    assert "lambdazip/py.typed" in names
    assert not any(n.startswith("tests/") for n in names)


def test_the_sdist_carries_what_the_wheel_is_built_from(dists: tuple[Path, Path]) -> None:
    sdist, _wheel = dists
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    needed = {"Dockerfile", "setup.py", "pyproject.toml", "requirements-tool.txt"}
    needed |= {f"lambdazip/inside/{name}" for name in INSIDE_FILES}
    assert needed <= names


@pytest.fixture(scope="module")
def installed(dists: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the repository: the tool's locked dependencies (from a wheelhouse
    downloaded once, hashes required), then the wheel. Returns its bin directory."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=True)
    bindir = home / ("Scripts" if sys.platform == "win32" else "bin")
    pip = [str(bindir / "python"), "-m", "pip", "install", "--quiet", "--no-index"]
    pip += ["--disable-pip-version-check"]
    wheelhouse = tool_wheelhouse()
    subprocess.run(
        [*pip, "--find-links", str(wheelhouse), "--require-hashes", "-r", str(TOOL_LOCK)],
        check=True,
        env=clean_env(),
    )
    subprocess.run([*pip, "--no-deps", str(dists[1])], check=True, env=clean_env())
    return bindir


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in clean_env().items() if k != "PYTHONPATH"}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)


@pytest.mark.network
def test_the_installed_tool_runs_from_anywhere(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run(
        [str(installed / "python"), "-c", "import lambdazip; print(lambdazip.__file__)"], empty
    )
    assert str(installed.parent) in where.stdout, where.stdout + where.stderr
    version = _run([str(installed / "lambdazip"), "--version"], empty)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"lambdazip {__version__}"
    usage = _run([str(installed / "lambdazip"), "--help"], empty)
    assert usage.stdout.startswith("usage: lambdazip ")
    module = _run([str(installed / "python"), "-m", "lambdazip", "--help"], empty)
    assert module.stdout.startswith("usage: python -m lambdazip ")
    bad = _run([str(installed / "lambdazip"), "frobnicate"], empty)
    assert bad.returncode == 2
    assert "see: lambdazip --help" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.network
def test_the_installed_tool_checks_a_zip(
    installed: Path, x86_311: list[Path], tmp_path: Path
) -> None:
    layer = wheels.pack(tmp_path / "layer.zip", x86_311)
    fits = _run([str(installed / "lambdazip"), "check", str(layer), "--arch", "x86_64",
                 "--python", "3.11"], tmp_path)  # fmt: skip
    assert fits.returncode == 0, fits.stderr
    unfit = _run([str(installed / "lambdazip"), "check", str(layer), "--arch", "arm64",
                  "--python", "3.11"], tmp_path)  # fmt: skip
    assert unfit.returncode == 3
    assert "EM_X86_64" in unfit.stdout + unfit.stderr


@pytest.mark.integration
@pytest.mark.network
def test_the_installed_tool_builds_a_layer_from_an_empty_directory(
    installed: Path, images: dict[tuple[str, str], str], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "requirements.txt").write_bytes((REPO / "requirements.txt").read_bytes())
    command = [str(installed / "lambdazip"), "layer", "--arch", "x86_64", "--python", "3.11"]
    command += ["--base-image", images[("3.11", "x86_64")], "-q"]
    env = {k: v for k, v in clean_env().items() if k != "PYTHONPATH"} | host_env()
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    zip_path = work / "dist" / "layer-python3.11-x86_64.zip"
    with zipfile.ZipFile(zip_path) as zf:
        assert any(n.endswith("cpython-311-x86_64-linux-gnu.so") for n in zf.namelist())
    check = _run([str(installed / "lambdazip"), "check", str(zip_path), "--arch", "x86_64",
                  "--python", "3.11"], work)  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_build_py_and_python_m_name_themselves() -> None:
    script = subprocess.run(
        [sys.executable, str(REPO / "build.py"), "--help"], capture_output=True, text=True
    )
    assert script.stdout.startswith("usage: build.py ")
    module = subprocess.run(
        [sys.executable, "-m", "lambdazip", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert module.stdout.startswith("usage: python -m lambdazip ")
