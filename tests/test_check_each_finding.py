"""`build.py check` on zips packed from real wheels: for every finding, a case that passes and one
that fails, and the output a user reads."""

from __future__ import annotations

import json
import os
import py_compile
import stat
import struct
import time
import zipfile
from pathlib import Path

import pytest

from tests import wheels
from tests.conftest import CheckRunner

pytestmark = pytest.mark.network  # the wheels come from the package index (cached)


# -- the mission: the native module must match the CPU and the Python ---------------------------


def test_aarch64_cp313_layer_fits_arm64_313(
    tmp_path: Path, arm64_313: list[Path], check: CheckRunner
) -> None:
    layer = wheels.pack(tmp_path / "layer.zip", arm64_313)
    result = check(layer, "arm64", "3.13")
    assert result.code == 0, result.out + result.err
    assert result.out == ""
    assert result.err.startswith("ok:")
    assert "0 error(s)" in result.err


def test_aarch64_layer_fails_x86_64_naming_the_so(
    tmp_path: Path, arm64_313: list[Path], check: CheckRunner
) -> None:
    layer = wheels.pack(tmp_path / "layer.zip", arm64_313)
    result = check(layer, "x86_64", "3.13")
    assert result.code == 3
    so = "python/pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so"
    lines = result.out.splitlines()
    machine = [line for line in lines if "EM_AARCH64" in line]
    assert machine == [
        f"error: {so}: expected x86_64 (EM_X86_64, 64-bit ELF); found aarch64 (EM_AARCH64, "
        "64-bit ELF). this file was installed for another CPU; rebuild inside the Lambda image "
        "for the target: python build.py layer --arch x86_64 --python 3.13"
    ]
    suffix = [line for line in lines if "expected a module named" in line]
    assert len(suffix) == 1
    assert "_pydantic_core.cpython-313-x86_64-linux-gnu.so" in suffix[0]
    # pydantic-core 2.4x+ ships its stubs as _pydantic_core/__init__.pyi: that directory is imported
    # in the module's place, so the seed's "No module named" becomes "cannot import name"
    assert (
        "Lambda imports the directory python/pydantic_core/_pydantic_core/ in its place and raises "
        "ImportError: cannot import name ... from 'pydantic_core._pydantic_core' (unknown location)"
    ) in suffix[0]
    assert "2 error(s)" in result.err


def test_cp311_module_fails_as_313_naming_the_suffix(
    tmp_path: Path, x86_311: list[Path], check: CheckRunner
) -> None:
    layer = wheels.pack(tmp_path / "layer.zip", x86_311)
    result = check(layer, "x86_64", "3.13")
    assert result.code == 3
    assert result.out.count("error:") == 1
    assert (
        "expected a module named _pydantic_core.cpython-313-x86_64-linux-gnu.so (or .abi3.so) for "
        "python3.13 on x86_64; found a module for CPython 3.11 on x86_64-linux-gnu" in result.out
    )
    assert check(layer, "x86_64", "3.11").code == 0


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_cp315_wheels_fit_the_python315_preview_and_nothing_older(
    arch: str, tmp_path: Path, check: CheckRunner
) -> None:
    """pydantic-core ships cp315 wheels (the locked version): they fit python3.15, the
    preview runtime, with its warning; for python3.14 the module is for another Python."""
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[arch]
    layer = wheels.pack(
        tmp_path / "layer.zip", wheels.pydantic_wheels("315", f"manylinux2014_{machine}")
    )
    result = check(layer, arch, "3.15", "--json")
    assert result.code == 0, result.out + result.err
    assert result.codes == ["runtime-preview"]
    older = check(layer, arch, "3.14", "--json")
    assert older.code == 3
    assert older.codes == ["ext-suffix"]
    assert f"cpython-315-{machine}-linux-gnu.so" in older.out


def test_free_threaded_module_does_not_load(
    tmp_path: Path, x86_313: list[Path], check: CheckRunner
) -> None:
    def free_threaded(name: str, data: bytes) -> tuple[str, bytes]:
        return name.replace("cpython-313-", "cpython-313t-"), data

    layer = wheels.pack(tmp_path / "layer.zip", x86_313, rewrite=free_threaded)
    result = check(layer, "x86_64", "3.13", "--json")
    assert result.codes == ["ext-suffix"]
    assert "free-threaded" in result.out


def test_a_directory_is_checked_like_a_zip(
    tmp_path: Path, x86_313: list[Path], check: CheckRunner
) -> None:
    layer = wheels.pack(tmp_path / "layer.zip", x86_313)
    with zipfile.ZipFile(layer) as archive:
        archive.extractall(tmp_path / "tree")
    assert check(tmp_path / "tree", "x86_64", "3.13").code == 0
    failed = check(tmp_path / "tree", "arm64", "3.13", "--json")
    assert failed.codes == ["elf-machine", "ext-suffix"]


# -- glibc and libc ------------------------------------------------------------------------------


def test_manylinux_2_28_wheel_needs_a_newer_glibc_than_al2(
    tmp_path: Path, numpy_glibc_2_27: Path, check: CheckRunner
) -> None:
    function = wheels.pack(tmp_path / "function.zip", [numpy_glibc_2_27], prefix="")
    result = check(function, "x86_64", "3.11", "--json")
    assert result.code == 3
    glibc = [f for f in json.loads(result.out)["findings"] if f["code"] == "glibc"]
    assert glibc, result.out
    first = glibc[0]
    assert first["expected"] == "at most GLIBC_2.26 (Amazon Linux 2, python3.11)"
    found = tuple(int(x) for x in first["found"].removeprefix("symbols of GLIBC_").split("."))
    assert found >= (2, 27)
    assert set(result.codes) == {"glibc"}


def test_manylinux2014_wheel_fits_al2(
    tmp_path: Path, x86_311: list[Path], check: CheckRunner
) -> None:
    function = wheels.pack(tmp_path / "function.zip", x86_311, prefix="")
    result = check(function, "x86_64", "3.11", "--json")
    assert result.code == 0
    assert result.codes == []


def test_musllinux_wheel_is_refused(
    tmp_path: Path, musl_313: list[Path], check: CheckRunner
) -> None:
    layer = wheels.pack(tmp_path / "layer.zip", musl_313)
    result = check(layer, "x86_64", "3.13", "--json")
    assert result.code == 3
    findings = json.loads(result.out)["findings"]
    musl = {f["path"] for f in findings if f["code"] == "musl"}
    assert "python/pydantic_core/_pydantic_core.cpython-313-x86_64-linux-musl.so" in musl
    assert any(p.startswith("python/pydantic_core.libs/") for p in musl)  # the vendored libgcc
    assert "ext-suffix" in result.codes  # x86_64-linux-musl is not the runtime's triplet


# -- pydantic-core: the seed's check 1 and the exact pin -----------------------------------------


def test_missing_compiled_module_is_an_error(
    tmp_path: Path, x86_313: list[Path], check: CheckRunner
) -> None:
    def drop_so(name: str, data: bytes) -> tuple[str, bytes] | None:
        return None if name.endswith(".so") else (name, data)

    layer = wheels.pack(tmp_path / "layer.zip", x86_313, rewrite=drop_so)
    result = check(layer, "x86_64", "3.13", "--json")
    assert result.codes == ["pydantic-core-module"]
    assert "Lambda cannot import pydantic_core._pydantic_core" in result.out


def test_missing_stubs_are_a_warning(
    tmp_path: Path, x86_313: list[Path], check: CheckRunner
) -> None:
    def drop_pyi(name: str, data: bytes) -> tuple[str, bytes] | None:
        return None if name.endswith(".pyi") else (name, data)

    layer = wheels.pack(tmp_path / "layer.zip", x86_313, rewrite=drop_pyi)
    result = check(layer, "x86_64", "3.13", "--json")
    assert result.code == 0  # warnings do not fail the check
    assert result.codes == ["pydantic-core-stub"]


def test_pydantic_core_version_must_equal_the_pin(
    tmp_path: Path, x86_313: list[Path], check: CheckRunner
) -> None:
    pinned = wheels.locked_version("pydantic-core")

    def other_version(name: str, data: bytes) -> tuple[str, bytes]:
        if name.endswith(".dist-info/METADATA") and name.startswith("pydantic_core-"):
            data = data.replace(f"Version: {pinned}".encode(), b"Version: 2.0.0", 1)
        return name, data

    layer = wheels.pack(tmp_path / "layer.zip", x86_313, rewrite=other_version)
    result = check(layer, "x86_64", "3.13", "--json")
    assert result.codes == ["pydantic-core-version"]
    finding = json.loads(result.out)["findings"][0]
    assert finding["expected"].startswith(f"pydantic-core=={pinned}, which pydantic ")
    assert finding["found"] == "pydantic-core 2.0.0"


def test_pydantic_core_may_come_from_another_layer(
    tmp_path: Path, x86_313: list[Path], check: CheckRunner
) -> None:
    pydantic, core = x86_313
    alone = wheels.pack(tmp_path / "pydantic.zip", [pydantic])
    core_layer = wheels.pack(tmp_path / "core.zip", [core])
    assert check(alone, "x86_64", "3.13", "--json").codes == ["pydantic-core-version"]
    with_core = check(alone, "x86_64", "3.13", "--with-layer", str(core_layer), "--json")
    assert with_core.codes == []


# -- layout --------------------------------------------------------------------------------------


def test_layer_in_the_right_site_packages_passes(
    tmp_path: Path, x86_313: list[Path], check: CheckRunner
) -> None:
    layer = wheels.pack(tmp_path / "l.zip", x86_313, prefix="python/lib/python3.13/site-packages")
    assert check(layer, "x86_64", "3.13", "--json").codes == []


def test_layer_for_another_python_is_not_on_sys_path(
    tmp_path: Path, x86_313: list[Path], check: CheckRunner
) -> None:
    layer = wheels.pack(tmp_path / "l.zip", x86_313, prefix="python/lib/python3.12/site-packages")
    result = check(layer, "x86_64", "3.13", "--json")
    assert result.codes == ["site-packages-version"]
    assert json.loads(result.out)["findings"][0]["path"] == "python/lib/python3.12/site-packages"


def test_layer_content_outside_python_is_found(
    tmp_path: Path, x86_313: list[Path], check: CheckRunner
) -> None:
    layer = wheels.pack(tmp_path / "l.zip", x86_313, prefix="")
    result = check(layer, "x86_64", "3.13", "--kind", "layer", "--json")
    findings = json.loads(result.out)["findings"]
    assert {f["code"] for f in findings} == {"layer-outside-python"}
    assert {f["path"] for f in findings} >= {"pydantic", "pydantic_core"}
    # the same zip is a valid function: packages at the root are what /var/task wants
    assert check(layer, "x86_64", "3.13", "--json").codes == []


def test_function_with_a_layer_layout_is_found(
    tmp_path: Path, x86_313: list[Path], check: CheckRunner
) -> None:
    function = wheels.pack(
        tmp_path / "f.zip",
        x86_313,
        prefix="python/lib/python3.13/site-packages",
        extra={"handler.py": b"def handler(event, context):\n    return event\n"},
    )
    result = check(function, "x86_64", "3.13", "--json")
    assert result.codes == ["site-packages-version"]
    assert "layer's layout" in result.out


# -- size ----------------------------------------------------------------------------------------


def _zeros_zip(path: Path, size: int, name: str = "python/blob.bin") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as out:
            chunk = bytes(1024 * 1024)
            for _ in range(size // len(chunk)):
                out.write(chunk)
    return path


def test_unzipped_size_over_the_limit_is_an_error(tmp_path: Path, check: CheckRunner) -> None:
    small = _zeros_zip(tmp_path / "small.zip", 100 * 1024 * 1024)
    assert check(small, "x86_64", "3.13", "--json").codes == []
    big = _zeros_zip(tmp_path / "big.zip", 251 * 1024 * 1024)
    result = check(big, "x86_64", "3.13", "--json")
    assert result.codes == ["unzipped-size"]
    assert "263,192,576 bytes" in result.out


def test_layers_count_toward_the_unzipped_size(tmp_path: Path, check: CheckRunner) -> None:
    one = _zeros_zip(tmp_path / "one.zip", 130 * 1024 * 1024)
    two = _zeros_zip(tmp_path / "two.zip", 130 * 1024 * 1024)
    assert check(one, "x86_64", "3.13", "--json").codes == []
    result = check(one, "x86_64", "3.13", "--with-layer", str(two), "--json")
    assert result.codes == ["unzipped-size"]


def test_zipped_size_over_50_mb_is_a_warning(tmp_path: Path, check: CheckRunner) -> None:
    path = tmp_path / "random.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("python/random.bin", os.urandom(51 * 1024 * 1024))
    result = check(path, "x86_64", "3.13", "--json")
    assert result.code == 0
    assert result.codes == ["zipped-size"]
    small = _zeros_zip(tmp_path / "small.zip", 60 * 1024 * 1024)  # 60 MB unzipped, tiny zipped
    assert check(small, "x86_64", "3.13", "--json").codes == []


# -- bytecode ------------------------------------------------------------------------------------


def _compiled(tmp_path: Path, mode: py_compile.PycInvalidationMode) -> tuple[bytes, bytes]:
    source = tmp_path / "mod.py"
    source.write_text("VALUE = 1\n")
    os.utime(source, (1_700_000_000, 1_700_000_000))  # even: a DOS time in a zip can hold it
    pyc = tmp_path / "mod.pyc"
    py_compile.compile(str(source), str(pyc), invalidation_mode=mode, doraise=True)
    return source.read_bytes(), pyc.read_bytes()


def _pyc_zip(path: Path, source: bytes, pyc: bytes, tag: str, dos_time: tuple[int, ...]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("python/mod.py", dos_time), source)  # type: ignore[arg-type]
        archive.writestr(
            zipfile.ZipInfo(f"python/__pycache__/mod.{tag}.pyc", dos_time),  # type: ignore[arg-type]
            pyc,
        )
    return path


def test_timestamp_pyc_made_stale_by_normalised_dates(tmp_path: Path, check: CheckRunner) -> None:
    source, pyc = _compiled(tmp_path, py_compile.PycInvalidationMode.TIMESTAMP)
    stale = _pyc_zip(tmp_path / "stale.zip", source, pyc, "cpython-313", (1980, 1, 1, 0, 0, 0))
    result = check(stale, "x86_64", "3.13", "--json")
    assert result.code == 0
    assert result.codes == ["stale-pyc"]
    assert "checked-hash" in result.out
    # the same pyc beside a source whose date in the zip matches its header is valid
    mtime = struct.unpack_from("<I", pyc, 8)[0]
    matching = _pyc_zip(tmp_path / "fresh.zip", source, pyc, "cpython-313", _utc(mtime))
    assert check(matching, "x86_64", "3.13", "--json").codes == []


def _utc(seconds: int) -> tuple[int, ...]:
    assert seconds % 2 == 0, "a DOS time has two-second resolution"
    return tuple(time.gmtime(seconds)[:6])


def test_hash_based_pyc_is_never_stale(tmp_path: Path, check: CheckRunner) -> None:
    source, pyc = _compiled(tmp_path, py_compile.PycInvalidationMode.CHECKED_HASH)
    path = _pyc_zip(tmp_path / "hash.zip", source, pyc, "cpython-313", (1980, 1, 1, 0, 0, 0))
    assert check(path, "x86_64", "3.13", "--json").codes == []


def test_pyc_for_another_python_is_dead_weight(tmp_path: Path, check: CheckRunner) -> None:
    source, pyc = _compiled(tmp_path, py_compile.PycInvalidationMode.CHECKED_HASH)
    path = _pyc_zip(tmp_path / "old.zip", source, pyc, "cpython-311", (1980, 1, 1, 0, 0, 0))
    result = check(path, "x86_64", "3.13", "--json")
    assert result.codes == ["foreign-pyc"]
    assert check(path, "x86_64", "3.11", "--json").codes == []


# -- what is not a loadable Linux object ---------------------------------------------------------


def test_macos_module_is_found(tmp_path: Path, check: CheckRunner) -> None:
    mach_o = b"\xcf\xfa\xed\xfe" + bytes(60)
    layer = tmp_path / "mac.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr("python/fast/_speedups.cpython-313-darwin.so", mach_o)
    result = check(layer, "x86_64", "3.13", "--json")
    assert sorted(result.codes) == ["ext-suffix", "not-elf"]
    assert "Mach-O" in result.out
    assert "darwin" in result.out


def test_truncated_elf_is_a_finding_not_a_crash(
    tmp_path: Path, x86_313: list[Path], check: CheckRunner
) -> None:
    def truncate(name: str, data: bytes) -> tuple[str, bytes]:
        return name, data[:200] if name.endswith(".so") else data

    layer = wheels.pack(tmp_path / "layer.zip", x86_313, rewrite=truncate)
    result = check(layer, "x86_64", "3.13", "--json")
    assert result.codes == ["not-elf"]
    assert "malformed ELF" in result.out


def test_a_file_that_is_not_a_zip(tmp_path: Path, check: CheckRunner) -> None:
    path = tmp_path / "layer.zip"
    path.write_text("not a zip\n")
    result = check(path, "x86_64", "3.13")
    assert result.code == 3
    assert "not a readable zip archive" in result.out
    assert "Traceback" not in result.out + result.err


def test_a_truncated_zip(tmp_path: Path, x86_313: list[Path], check: CheckRunner) -> None:
    layer = wheels.pack(tmp_path / "layer.zip", x86_313)
    data = layer.read_bytes()
    layer.write_bytes(data[: len(data) // 2])
    result = check(layer, "x86_64", "3.13", "--json")
    assert result.code == 3
    assert result.codes == ["unreadable"]


def test_an_encrypted_member(tmp_path: Path, check: CheckRunner) -> None:
    path = tmp_path / "enc.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("python/secret.py", b"X = 1\n")
    data = bytearray(path.read_bytes())
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + flag_offset] |= 0x01  # the "encrypted" bit of the general purpose flags
    path.write_bytes(bytes(data))
    result = check(path, "x86_64", "3.13", "--json")
    assert result.codes == ["unreadable"]
    assert "encrypted" in result.out


# -- the report ----------------------------------------------------------------------------------


def test_json_report_is_versioned_and_complete(
    tmp_path: Path, arm64_313: list[Path], check: CheckRunner
) -> None:
    layer = wheels.pack(tmp_path / "layer.zip", arm64_313)
    result = check(layer, "aarch64", "python3.13", "--json")
    report = json.loads(result.out)
    assert report["schema_version"] == 1
    assert report["kind"] == "layer"
    assert report["target"] == {
        "python": "3.13",
        "arch": "arm64",
        "runtime": "python3.13",
        "os": "Amazon Linux 2023",
        "glibc": "2.34",
    }
    names = {d["name"]: d["version"] for d in report["distributions"]}
    assert names["pydantic-core"] == wheels.locked_version("pydantic-core")
    assert report["shared_objects"] == 1
    assert report["zipped_size"] == layer.stat().st_size
    assert report["findings"] == []


# -- hostile archives ------------------------------------------------------------------------------


def _hostile_zip(path: Path, members: list[tuple[str, int, bytes]]) -> Path:
    """Members with a Unix mode of our choosing, as a crafted archive would have."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, mode, data in members:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return path


def test_hostile_members_are_findings_and_nothing_is_written(
    tmp_path: Path, check: CheckRunner
) -> None:
    path = _hostile_zip(
        tmp_path / "hostile.zip",
        [
            ("python/ok.py", stat.S_IFREG | 0o644, b"X = 1\n"),
            ("/etc/cron.d/evil", stat.S_IFREG | 0o644, b"* * * * * root true\n"),
            ("python/../../escape.py", stat.S_IFREG | 0o644, b""),
            ("python/link", stat.S_IFLNK | 0o777, b"../../../etc/passwd"),
            ("python/abs", stat.S_IFLNK | 0o777, b"/etc/shadow"),
            ("python/inside", stat.S_IFLNK | 0o777, b"ok.py"),
            ("python/dev", stat.S_IFCHR | 0o600, b""),
            ("python/fifo", stat.S_IFIFO | 0o600, b""),
        ],
    )
    before = sorted(p.name for p in tmp_path.iterdir())
    result = check(path, "x86_64", "3.13", "--json")
    findings = json.loads(result.out)["findings"]
    assert result.code == 3
    assert {f["path"]: f["found"] for f in findings} == {
        "/etc/cron.d/evil": "member name leaves the archive's tree",
        "python/../../escape.py": "member name leaves the archive's tree",
        "python/link": "symbolic link points outside the artifact",
        "python/abs": "symbolic link points outside the artifact",
        "python/dev": "not a regular file (a device, FIFO or socket)",
        "python/fifo": "not a regular file (a device, FIFO or socket)",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not Path("/escape.py").exists()


def test_a_zip_bomb_is_measured_not_inflated(tmp_path: Path, check: CheckRunner) -> None:
    """A shared object that claims (or inflates to) gigabytes is refused without reading it."""
    bomb = tmp_path / "bomb.zip"
    info = zipfile.ZipInfo("python/_bomb.cpython-313-x86_64-linux-gnu.so")
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(bomb, "w") as archive, archive.open(info, "w", force_zip64=True) as out:
        chunk = bytes(8 * 1024 * 1024)
        for _ in range(40):  # 320 MiB of zeros, about 300 KiB zipped
            out.write(chunk)
    assert bomb.stat().st_size < 1024 * 1024
    result = check(bomb, "x86_64", "3.13", "--json")
    assert result.code == 3
    assert set(result.codes) == {"unreadable", "unzipped-size"}
