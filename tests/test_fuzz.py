"""Fuzz `check` with hypothesis: mutated zips (bytes flipped, cut, spliced) and mutated ELF files
inside valid zips. Whatever the input, `check` answers with findings and an exit code, never a
crash. The budget is bounded (max_examples) so that CI stays fast; the seed is derandomised so a
failure reproduces."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdazip.cli import main
from tests import wheels

pytestmark = pytest.mark.network  # the seed zip holds a real pydantic-core module (cached)

FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SO_NAME = "python/pydantic_core/_pydantic_core.cpython-313-x86_64-linux-gnu.so"


@pytest.fixture(scope="module")
def real_so() -> bytes:
    core = wheels.fetch("pydantic-core", wheels.locked_version("pydantic-core"), "313",
                        "manylinux2014_x86_64")  # fmt: skip
    with zipfile.ZipFile(core) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".so"))
        return archive.read(name)


@pytest.fixture(scope="module")
def seed_zip(real_so: bytes) -> bytes:
    """A small layer: metadata, a pyc, a module, and the head of a real ELF (all ELF headers)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("python/pkg/__init__.py", "X = 1\n")
        archive.writestr("python/pkg/__pycache__/__init__.cpython-313.pyc", bytes(16) + b"c")
        archive.writestr(
            "python/pkg-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\nRequires-Dist: pydantic-core==2\n",
        )
        archive.writestr(SO_NAME, real_so[:65536])
    return buffer.getvalue()


def _check(path: Path) -> int:
    return main(["check", str(path), "--arch", "x86_64", "--python", "3.13", "--json"], env={})


mutations = st.lists(
    st.tuples(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=255)),
    min_size=1,
    max_size=40,
)


@FUZZ
@given(flips=mutations, cut=st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)))
def test_mutated_zips_never_crash_check(
    seed_zip: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flips: list[tuple[int, int]],
    cut: int | None,
) -> None:
    data = bytearray(seed_zip)
    for position, value in flips:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    path = tmp_path / "fuzzed.zip"
    path.write_bytes(bytes(data))
    assert _check(path) in (0, 3)
    capsys.readouterr()


@FUZZ
@given(flips=mutations, cut=st.one_of(st.none(), st.integers(min_value=16, max_value=65536)))
def test_mutated_elf_files_never_crash_check(
    real_so: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flips: list[tuple[int, int]],
    cut: int | None,
) -> None:
    head = bytearray(real_so[:65536])  # ELF, program and section headers live at both ends:
    tail = real_so[-8192:]  # mutate the front, keep the section header table at the end
    for position, value in flips:
        head[position % 4096] = value  # the ELF header and program headers
    body = bytes(head[:cut]) if cut is not None else bytes(head) + tail
    path = tmp_path / "elf.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(SO_NAME, body)
    assert _check(path) in (0, 3)
    capsys.readouterr()
