"""The project's own inputs: pylock.toml, uv.lock (exported by the pinned uv), requirements.txt;
real projects locked by the pinned uv (tests/projects.py), read for real targets."""

from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import parse_wheel_filename

from lambdazip.cli import main
from lambdazip.errors import UsageError
from lambdazip.inputs.project import discover, read_locked, wheel_tags
from lambdazip.targets import RUNTIMES, Arch, Target
from tests.conftest import host_env
from tests.projects import export_pylock, uv_project
from tests.wheels import locked_version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.network  # the first run locks the projects against the index

X86_311 = Target(RUNTIMES["3.11"], Arch.X86_64)
ARM_313 = Target(RUNTIMES["3.13"], Arch.ARM64)
LINE = re.compile(r"^(?P<name>[a-z0-9-]+)==(?P<version>\S+) --hash=sha256:(?P<hash>[0-9a-f]{64})$")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return uv_project(tmp_path / "orders")


def _tags(filename: str) -> set[str]:
    return {str(tag) for tag in parse_wheel_filename(filename)[3]}


def _names(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = LINE.match(line)
        assert match, line  # one distribution, one version, one file's hash
        found[match["name"]] = match["version"]
    return found


def test_a_uv_lock_becomes_one_wheel_per_distribution_for_the_target(project: Path) -> None:
    locked = read_locked(project / "uv.lock", ARM_313, uv_platform=True)
    assert locked.format == "uv.lock"
    names = _names(locked.text)
    assert names["pydantic"] == locked_version("pydantic")
    assert names["pydantic-core"] == locked_version("pydantic-core")
    assert "orders" not in names  # the project itself is code, never installed from the lock
    assert "iniconfig" not in names  # dev group: not without --group
    assert "orjson" not in names  # an extra: not without --extra
    core = next(w for w in locked.wheels if w.name == "pydantic-core")
    assert "cp313-cp313-manylinux_2_17_aarch64" in _tags(core.filename)
    assert f"--hash=sha256:{core.sha256}" in locked.text
    # the same lock for another runtime and CPU: another file of the same version
    other = read_locked(project / "uv.lock", X86_311, uv_platform=False)
    other_core = next(w for w in other.wheels if w.name == "pydantic-core")
    assert "cp311-cp311-manylinux_2_17_x86_64" in _tags(other_core.filename)
    assert other_core.sha256 != core.sha256


def test_groups_and_extras_of_a_uv_lock(project: Path) -> None:
    locked = read_locked(
        project / "uv.lock", X86_311, uv_platform=True, groups=["lambda"], extras=["fast"]
    )
    names = _names(locked.text)
    assert {"orjson", "typing-inspection", "pydantic"} <= set(names)
    assert "iniconfig" not in names
    assert (locked.groups, locked.extras) == (("lambda",), ("fast",))
    with pytest.raises(UsageError, match=r"uv could not export .*uv.lock: .*nope"):
        read_locked(project / "uv.lock", X86_311, uv_platform=True, groups=["nope"])


def test_a_pylock_is_read_by_packaging_with_its_declared_extras(project: Path) -> None:
    pylock = export_pylock(project, "--all-extras")
    locked = read_locked(pylock, X86_311, uv_platform=False)
    assert locked.format == "pylock"
    assert "orjson" in _names(locked.text)
    # a lock that declares an extra (PEP 751 `extras`, markers on `extras`): chosen by --extra
    data: dict[str, Any] = tomllib.loads(pylock.read_text())
    data["extras"] = ["fast"]
    orjson = next(p for p in data["packages"] if p["name"] == "orjson")
    orjson["marker"] = "'fast' in extras"
    declared = project / "pylock.fast.toml"
    declared.write_text(_dump(data))
    assert "orjson" not in _names(read_locked(declared, X86_311, uv_platform=False).text)
    chosen = read_locked(declared, X86_311, uv_platform=False, extras=["fast"])
    assert "orjson" in _names(chosen.text)
    with pytest.raises(UsageError, match=r"pylock.fast.toml cannot be installed for .*: .*slow"):
        read_locked(declared, X86_311, uv_platform=False, extras=["slow"])


def test_what_a_lock_cannot_give_the_target_is_one_line(project: Path) -> None:
    pylock = export_pylock(project)
    data: dict[str, Any] = tomllib.loads(pylock.read_text())
    core = next(p for p in data["packages"] if p["name"] == "pydantic-core")
    # only macOS wheels left: nothing the runtime can load
    core["wheels"] = [w for w in core["wheels"] if "macosx" in w["url"]]
    broken = project / "pylock.mac.toml"
    broken.write_text(_dump(data))
    with pytest.raises(
        UsageError,
        match=r"no wheel of pydantic-core==\S+ in the lock fits "
        r"python3.13 on arm64 \(glibc 2.34, as uv sees it\) \(it locks \d+ other",
    ):
        read_locked(broken, ARM_313, uv_platform=True)
    sdist = core.pop("sdist")
    broken.write_text(_dump(data))
    with pytest.raises(UsageError, match=r"cannot be installed for python3.13 on arm64 .*pydantic"):
        read_locked(broken, ARM_313, uv_platform=True)
    # a source distribution only: refused, never built
    del core["wheels"]
    core["sdist"] = sdist
    broken.write_text(_dump(data))
    with pytest.raises(UsageError, match=r"pydantic-core is locked as sdist, not as a wheel"):
        read_locked(broken, ARM_313, uv_platform=True)
    broken.write_text("lock-version = '1.0'\n[[packages]]\nname = 3\n")
    with pytest.raises(UsageError, match=r"is not a valid pylock.toml"):
        read_locked(broken, ARM_313, uv_platform=True)


def test_uv_sees_a_lower_glibc_ceiling_on_amazon_linux_2() -> None:
    pip = {str(t) for t in wheel_tags(X86_311, uv_platform=False)}
    uv = {str(t) for t in wheel_tags(X86_311, uv_platform=True)}
    assert "cp311-cp311-manylinux_2_26_x86_64" in pip
    assert "cp311-cp311-manylinux_2_26_x86_64" not in uv  # uv names no 2_24..2_26 (targets.py)
    assert "cp311-cp311-manylinux_2_17_x86_64" in uv
    assert "cp311-abi3-manylinux_2_17_x86_64" in uv
    assert "py3-none-any" in uv


def test_which_file_a_project_directory_gives(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("")
    assert discover(tmp_path, None, Path.cwd()) == tmp_path / "requirements.txt"
    (tmp_path / "uv.lock").write_text("")
    assert discover(tmp_path, None, Path.cwd()) == tmp_path / "uv.lock"
    (tmp_path / "pylock.toml").write_text("")
    assert discover(tmp_path, None, Path.cwd()) == tmp_path / "pylock.toml"
    assert discover(tmp_path, Path("x.txt"), Path.cwd()) == Path("x.txt")  # -r wins
    assert discover(None, None, tmp_path) == Path("pylock.toml")  # the current directory's
    empty = tmp_path / "empty"
    empty.mkdir()
    assert discover(None, None, empty) == Path("requirements.txt")  # named when it is missing
    with pytest.raises(UsageError, match=r"has none of pylock.toml, uv.lock"):
        discover(empty, None, Path.cwd())


@pytest.mark.parametrize(
    ("files", "extra", "words"),
    [
        ({"poetry.lock": ""}, [], "is a Poetry lock, which lambdazip does not read; export it"),
        ({"requirements.txt": "x==1 --hash=sha256:" + "0" * 64}, ["--group", "dev"], "choose"),
        ({}, [], "has none of pylock.toml, uv.lock, poetry.lock, requirements.txt"),
    ],
)
def test_input_errors_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    extra: list[str],
    words: str,
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    argv = ["layer", "--arch", "x86_64", "--python", "3.11", "--project", str(tmp_path), *extra]
    code = main([*argv, "--print-plan"], env={})
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert words in err[0]


def test_the_plan_names_the_lock_and_what_it_chose(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["function", "--arch", "arm64", "--python", "3.13", "--project", str(project)]
    code = main([*argv, "--extra", "fast", "--handler", "orders.app.handler", "--print-plan"], {})
    out = capsys.readouterr().out
    assert code == 0
    assert f"requirements:  {project / 'uv.lock'} (uv.lock), extras fast" in out
    assert f"source:        {project / 'src'}" in out  # the project's code, not an editable install


def _dump(data: dict[str, Any]) -> str:
    """A small TOML writer for the tests' edited locks (tomllib reads only)."""

    def value(v: object) -> str:
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + "}"
        return v.isoformat() if hasattr(v, "isoformat") else str(v)  # a TOML datetime

    lines = [f'"{k}" = {value(v)}' for k, v in data.items() if k != "packages"]
    for package in data.get("packages", []):
        lines.append("[[packages]]")
        lines += [f'"{k}" = {value(v)}' for k, v in package.items()]
    return "\n".join(lines) + "\n"


# -- built for real, on the stand-ins -------------------------------------------------------------


def _build(images: dict[tuple[str, str], str], python: str, *argv: str) -> int:
    base = ["--arch", "x86_64", "--python", python, "--base-image", images[python, "x86_64"]]
    return main([argv[0], *base, *argv[1:]], env=host_env())


@pytest.mark.integration
def test_a_layer_from_a_uv_project_installs_the_lock_as_locked(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = uv_project(tmp_path / "orders")
    out = tmp_path / "dist"
    code = _build(
        images, "3.11", "layer", "--project", str(project), "--extra", "fast", "-o", str(out)
    )
    assert code == 0, capsys.readouterr().err
    zip_path = out / "layer-python3.11-x86_64.zip"
    manifest = json.loads(zip_path.with_suffix(".manifest.json").read_text())
    inputs = manifest["inputs"]
    assert (inputs["format"], inputs["extras"]) == ("uv.lock", ["fast"])
    assert inputs["requirements"] == str(project / "uv.lock")
    installed = _names("\n".join(inputs["installed"]))
    shipped = {d["name"]: d["version"] for d in manifest["distributions"]}
    assert installed == shipped  # what the lock chose is what is in the zip, nothing else
    assert {"pydantic", "pydantic-core", "orjson"} <= set(shipped)
    orjson = next(d for d in manifest["distributions"] if d["name"] == "orjson")
    assert "cp311-cp311-manylinux_2_17_x86_64" in orjson["wheel_tags"]
    with zipfile.ZipFile(zip_path) as archive:
        assert not any(n.startswith(("python/orders", "python/src")) for n in archive.namelist())
    assert main(["check", str(zip_path), "-q"], env={}) == 0


@pytest.mark.integration
def test_a_function_from_a_pylock_project_carries_its_code(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = uv_project(tmp_path / "orders")
    export_pylock(project)
    (project / "uv.lock").unlink()  # pylock.toml alone: it is found and read natively
    out = tmp_path / "dist"
    event = tmp_path / "event.json"
    event.write_text('{"id": 7, "items": ["a"]}')
    code = _build(
        images, "3.13", "function", "--project", str(project), "--handler", "orders.app.handler",
        "--smoke-event", str(event), "--name", "orders", "-o", str(out),
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    zip_path = out / "orders-python3.13-x86_64.zip"
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    assert "orders/app.py" in names  # the project's own code, at the root, as code
    assert not any(n.startswith("orders-0.1.0") for n in names)  # not installed, not editable
    assert "pyproject.toml" not in names
    assert "pydantic_core/_pydantic_core.cpython-313-x86_64-linux-gnu.so" in names
    inputs = json.loads(zip_path.with_suffix(".manifest.json").read_text())["inputs"]
    assert inputs["format"] == "pylock"


@pytest.mark.integration
def test_a_lock_whose_hash_the_index_does_not_serve_fails_in_one_line(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = uv_project(tmp_path / "orders")
    lock = project / "uv.lock"
    text = lock.read_text()
    locked = read_locked(lock, X86_311, uv_platform=True)
    wheel = next(w for w in locked.wheels if w.name == "typing-extensions")
    assert text.count(wheel.sha256) == 1
    lock.write_text(text.replace(wheel.sha256, "0" * 64))
    out = tmp_path / "dist"
    code = _build(images, "3.11", "layer", "--project", str(project), "-o", str(out))
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert code == 9
    assert errors == [
        "error: a downloaded file does not match the hash uv.lock locks; regenerate uv.lock "
        "(`uv lock`, then export it again for a pylock.toml) or check what your index serves"
    ]
    assert not out.exists()


def test_a_marker_on_the_patch_version_is_noted_and_decided_by_the_image(project: Path) -> None:
    pylock = export_pylock(project)
    data: dict[str, Any] = tomllib.loads(pylock.read_text())
    inspection = next(p for p in data["packages"] if p["name"] == "typing-inspection")
    inspection["marker"] = "python_full_version >= '3.11.4'"
    marked = project / "pylock.marked.toml"
    marked.write_text(_dump(data))
    assumed = read_locked(marked, X86_311, uv_platform=True)
    assert assumed.full_version_assumed == "3.11.0"  # the builder re-selects for the image's
    assert "typing-inspection" not in _names(assumed.text)
    exact = read_locked(marked, X86_311, uv_platform=True, python_full_version="3.11.9")
    assert "typing-inspection" in _names(exact.text)
    plain = read_locked(pylock, X86_311, uv_platform=True)
    assert plain.full_version_assumed is None  # nothing to re-check


@pytest.mark.integration
def test_a_selection_the_images_patch_version_would_change_fails_in_one_line(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = uv_project(tmp_path / "orders")
    pylock = export_pylock(project, "--all-extras")
    data: dict[str, Any] = tomllib.loads(pylock.read_text())
    orjson = next(p for p in data["packages"] if p["name"] == "orjson")  # nothing needs it
    orjson["marker"] = "python_full_version >= '3.11.1'"  # the stand-in's Python is 3.11.2
    pylock.write_text(_dump(data))
    out = tmp_path / "dist"
    code = _build(images, "3.11", "layer", "-r", str(pylock), "-o", str(out))
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert code == 9
    assert len(errors) == 1
    assert "selects other packages for Python 3.11.2 (the image's) than for 3.11.0" in errors[0]
    assert not out.exists()


def test_a_uv_lock_behind_its_pyproject_is_refused_in_one_line(project: Path) -> None:
    """A dependency added to pyproject.toml without `uv lock`: the lock would build without it,
    silently (uv export --frozen); it is refused, naming the fix. Back as locked: accepted."""
    read_locked(project / "uv.lock", X86_311, uv_platform=True)  # current
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('dependencies = ["', 'dependencies = ["six==1.17.0", "', 1))
    with pytest.raises(UsageError) as raised:
        read_locked(project / "uv.lock", X86_311, uv_platform=True)
    assert raised.value.message.startswith(
        f"{project / 'uv.lock'} is out of date with {pyproject} (mismatched requirements for: "
    )
    assert raised.value.tip == f"run `uv lock` in {project} (and commit the lock), then build again"
    pyproject.write_text(text)
    read_locked(project / "uv.lock", X86_311, uv_platform=True)


def test_a_uv_lock_behind_its_pyproject_is_refused_with_a_cold_cache(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh CI runner: uv's cache empty, a package added that it never downloaded; offline, uv
    cannot resolve, but it says why it tried: that is the verdict."""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    added = text.replace('dependencies = ["', 'dependencies = ["tomli-w==1.0.0", "', 1)
    pyproject.write_text(added)
    with pytest.raises(UsageError, match=r"uv.lock is out of date with .*mismatched requirements"):
        read_locked(project / "uv.lock", X86_311, uv_platform=True)
