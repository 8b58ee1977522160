"""`check` on what Lambda's unpacking makes of a zip (lambdazip/judge/unpacking.py): modes as its
non-root user finds them, compression methods its unzip does not take, a folder zipped instead of
its contents, code only a .pth would reach, the layer count; and no alarm for what a layer may
hold beside python/ (extensions/, data) or for an unloadable extension its package falls back
from. Real wheels, real zips, real installs; no engine."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests import wheels
from tests.conftest import CheckRunner, Result

pytestmark = pytest.mark.network

FILE, DIRECTORY = 0o100000, 0o040000


def _rezip(
    source: Path,
    dest: Path,
    modes: dict[str, int] | None = None,
    methods: dict[str, int] | None = None,
    windows: bool = False,
    directories: dict[str, int] | None = None,
    extra: dict[str, tuple[bytes, int]] | None = None,
) -> Path:
    """``source`` written again as a zip tool would: each member with a Unix mode (or, for
    ``windows``, none at all), ``modes`` and ``methods`` for the members they name, directory
    members with their modes, and ``extra`` files (data, mode)."""
    modes, methods = modes or {}, methods or {}
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(dest, "w") as new:
        for name, mode in (directories or {}).items():
            info = zipfile.ZipInfo(name.rstrip("/") + "/")
            info.external_attr = ((DIRECTORY | mode) << 16) | 0x10
            new.writestr(info, b"")
        members = [(i.filename, old.read(i), FILE | 0o644) for i in old.infolist()]
        members += [(n, d, FILE | m) for n, (d, m) in (extra or {}).items()]
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            info.compress_type = methods.get(name, zipfile.ZIP_DEFLATED)
            if windows:
                info.create_system = 0
            else:
                info.create_system = 3
                info.external_attr = (FILE | modes[name] if name in modes else mode) << 16
            new.writestr(info, data)
    return dest


@pytest.fixture
def layer(tmp_path: Path, x86_313: list[Path]) -> Path:
    return wheels.pack(tmp_path / "plain.zip", x86_313)


def _findings(result: Result) -> list[dict[str, str]]:
    findings: list[dict[str, str]] = json.loads(result.out)["findings"]
    return findings


def test_a_file_others_cannot_read_and_a_folder_they_cannot_enter_are_unfit(
    tmp_path: Path, layer: Path, check: CheckRunner
) -> None:
    fine = _rezip(layer, tmp_path / "fine.zip", directories={"python/pydantic": 0o755})
    assert check(fine, "x86_64", "3.13", "--json").codes == []
    # zipfile.writestr(name, data) stores 0600; a strict umask makes 0700 directories
    strict = _rezip(
        layer,
        tmp_path / "strict.zip",
        modes={"python/pydantic/main.py": 0o600},
        directories={"python/pydantic_core": 0o700},
    )
    result = check(strict, "x86_64", "3.13", "--json")
    assert result.code == 3
    (mode,) = [f for f in _findings(result) if f["code"] == "file-mode"]
    assert mode["severity"] == "error"
    assert mode["path"].startswith("python/pydantic_core/")
    assert "1 file(s) and 1 directory(ies)" in mode["found"]
    assert "chmod -R a+rX" in mode["remedy"]


def test_a_zip_made_on_windows_records_no_modes_and_is_fine(
    tmp_path: Path, layer: Path, check: CheckRunner
) -> None:
    windows = _rezip(layer, tmp_path / "windows.zip", windows=True)
    with zipfile.ZipFile(windows) as made:
        assert {i.create_system for i in made.infolist()} == {0}
    assert check(windows, "x86_64", "3.13", "--json").codes == []


def test_a_layer_program_without_its_execute_bit_is_a_warning(
    tmp_path: Path, layer: Path, check: CheckRunner
) -> None:
    script = b"#!/bin/sh\necho hi\n"
    ok = _rezip(layer, tmp_path / "ok.zip", extra={"bin/hello": (script, 0o755)})
    assert check(ok, "x86_64", "3.13", "--kind", "layer", "--json").codes == []
    bare = _rezip(layer, tmp_path / "bare.zip", extra={"bin/hello": (script, 0o644)})
    result = check(bare, "x86_64", "3.13", "--kind", "layer", "--json")
    assert result.code == 0
    assert [(f["code"], f["severity"]) for f in _findings(result)] == [("bin-mode", "warning")]


def test_compression_methods_lambda_does_not_take_are_unfit(
    tmp_path: Path, layer: Path, check: CheckRunner
) -> None:
    methods = {
        "python/pydantic/main.py": zipfile.ZIP_BZIP2,
        "python/pydantic/fields.py": zipfile.ZIP_LZMA,
    }
    odd = _rezip(layer, tmp_path / "odd.zip", methods=methods)
    result = check(odd, "x86_64", "3.13", "--json")
    assert result.code == 3
    (found,) = [f for f in _findings(result) if f["code"] == "compression-method"]
    assert "2 member(s) compressed with LZMA, bzip2" in found["found"]
    stored = _rezip(layer, tmp_path / "stored.zip", methods=dict.fromkeys(methods, 0))
    assert check(stored, "x86_64", "3.13", "--json").codes == []


def test_the_folder_zipped_instead_of_its_contents(
    tmp_path: Path, x86_313: list[Path], check: CheckRunner
) -> None:
    handler = {"orders/app.py": b"import pydantic\n\ndef handler(e, c):\n    return e\n"}
    function = wheels.pack(tmp_path / "f.zip", x86_313, prefix="orders", extra=handler)
    result = check(function, "x86_64", "3.13", "--kind", "function", "--json")
    assert [(f["code"], f["path"]) for f in _findings(result)] == [("zipped-folder", "orders/")]
    assert "cd orders && zip -r ../NEW.zip ." in _findings(result)[0]["remedy"]
    layer = wheels.pack(tmp_path / "l.zip", x86_313, prefix="layer/python")
    result = check(layer, "x86_64", "3.13", "--kind", "layer", "--json")
    assert [(f["code"], f["path"]) for f in _findings(result)] == [("zipped-folder", "layer/")]
    # one package at the top is a function's code, not a zipped folder
    package = {"orders/__init__.py": b"", "orders/app.py": b"def handler(e, c):\n    return e\n"}
    code = wheels.pack(tmp_path / "p.zip", [], prefix="", extra=package)
    assert check(code, "x86_64", "3.13", "--kind", "function", "--json").codes == []


def test_an_editable_install_is_code_lambda_never_reaches(
    tmp_path: Path, check: CheckRunner
) -> None:
    project = tmp_path / "project"
    (project / "src" / "mypkg").mkdir(parents=True)
    (project / "src" / "mypkg" / "__init__.py").write_text("X = 1\n")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "mypkg"\nversion = "1.0"\n[build-system]\n'
        'requires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    target = tmp_path / "target"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps"]
    subprocess.run([*pip, "--target", str(target), "-e", str(project)], check=True)
    assert any(p.name.endswith(".pth") for p in target.iterdir())
    result = check(target, "x86_64", "3.13", "--kind", "function", "--json")
    (found,) = _findings(result)
    assert (found["code"], found["path"]) == ("pth-only", "mypkg-1.0.dist-info")
    assert "not in editable mode (-e)" in found["remedy"]


def test_a_function_with_six_layers_is_refused(
    tmp_path: Path, layer: Path, check: CheckRunner
) -> None:
    function = wheels.pack(tmp_path / "f.zip", [], prefix="", extra={"app.py": b"X = 1\n"})
    layers = []
    for number in range(6):
        layers += ["--with-layer", str(_rezip(layer, tmp_path / f"l{number}.zip"))]
    result = check(function, "x86_64", "3.13", "--kind", "function", *layers, "--json")
    assert result.codes == ["too-many-layers"]
    assert (
        check(function, "x86_64", "3.13", "--kind", "function", *layers[:10], "--json").codes == []
    )


def test_a_layer_may_hold_extensions_and_data_beside_python(
    tmp_path: Path, layer: Path, check: CheckRunner
) -> None:
    extension = b"#!/bin/sh\nexec /opt/extensions/bin/agent\n"
    full = _rezip(
        layer,
        tmp_path / "full.zip",
        extra={
            "extensions/agent": (extension, 0o755),
            "models/classifier.bin": (b"\x00" * 64, 0o644),
            "config/settings.json": (b"{}", 0o644),
        },
    )
    assert check(full, "x86_64", "3.13", "--kind", "layer", "--json").codes == []
    # Python code at the top of a layer is still on no search path
    stray = _rezip(layer, tmp_path / "stray.zip", extra={"helpers/util.py": (b"X = 1\n", 0o644)})
    assert check(stray, "x86_64", "3.13", "--kind", "layer", "--json").codes == [
        "layer-outside-python"
    ]


def test_a_free_threaded_extension_with_a_fallback_is_dead_weight_not_an_error(
    tmp_path: Path, check: CheckRunner
) -> None:
    # msgpack imports _cmsgpack under `except ImportError` and falls back to msgpack.fallback
    threaded = wheels.fetch_any(
        "msgpack==1.1.2",
        "msgpack-1.1.2-cp314-cp314t-*x86_64*.whl",
        python="3.14",
        platforms=("manylinux_2_17_x86_64", "manylinux2014_x86_64"),
        abi="cp314t",
    )
    function = wheels.pack(tmp_path / "f.zip", [threaded], prefix="")
    result = check(function, "x86_64", "3.14", "--kind", "function", "--json")
    assert result.code == 0
    (found,) = _findings(result)
    assert (found["code"], found["severity"]) == ("dead-extension", "warning")
    assert "msgpack/__init__.py imports it only under `except ImportError`" in found["remedy"]
    # pydantic-core imports its module unguarded: a free-threaded build of it is unfit
    core = wheels.fetch_any(
        f"pydantic-core=={wheels.locked_version('pydantic-core')}",
        "pydantic_core-*-cp314-cp314t-*x86_64*.whl",
        python="3.14",
        platforms=("manylinux_2_17_x86_64", "manylinux2014_x86_64"),
        abi="cp314t",
    )
    unfit = wheels.pack(tmp_path / "core.zip", [core], prefix="")
    assert "ext-suffix" in check(unfit, "x86_64", "3.14", "--kind", "function", "--json").codes
