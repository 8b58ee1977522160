"""The checks are pure functions over facts: exercised here on hand-made facts, no files at all."""

from __future__ import annotations

import pytest

from lambdazip.judge.checks import Kind, check_artifact, detect_kind
from lambdazip.judge.compose import compose
from lambdazip.judge.elf import ElfFacts, NotElf, read_elf
from lambdazip.judge.facts import ArtifactFacts, SharedObject, is_shared_object
from lambdazip.judge.findings import Finding, Severity
from lambdazip.judge.tree import Entry, safe_member_path
from lambdazip.targets import RUNTIMES, Arch, Target

X86_312 = Target(RUNTIMES["3.12"], Arch.X86_64)
X86_311 = Target(RUNTIMES["3.11"], Arch.X86_64)


def _facts(*objects: tuple[str, ElfFacts]) -> ArtifactFacts:
    return ArtifactFacts(
        source="t.zip",
        zipped_size=1000,
        files=tuple(Entry(path, 10, None, 0) for path, _ in objects),
        shared_objects=tuple(SharedObject(path, elf) for path, elf in objects),
        pycs=(),
        dists=(),
        problems=(),
    )


def _elf(
    glibc: tuple[int, int] | None, machine: str = "EM_X86_64", needed: tuple[str, ...] = ()
) -> ElfFacts:
    needs = (f"GLIBC_{glibc[0]}.{glibc[1]}",) if glibc else ()
    return ElfFacts(machine, 64, needed or ("libc.so.6",), needs)


def test_glibc_at_the_ceiling_passes_and_one_above_fails() -> None:
    at = _facts(("m.so", _elf((2, 34))))
    above = _facts(("m.so", _elf((2, 35))))
    assert check_artifact(at, X86_312, Kind.FUNCTION) == []
    [finding] = check_artifact(above, X86_312, Kind.FUNCTION)
    assert finding.code == "glibc"
    assert finding.found == "symbols of GLIBC_2.35"
    assert "pin an older version" in finding.remedy
    [al2] = check_artifact(_facts(("m.so", _elf((2, 27)))), X86_311, Kind.FUNCTION)
    assert "manylinux_2_26" in al2.remedy


def test_a_static_object_without_glibc_versions_passes() -> None:
    assert check_artifact(_facts(("m.so", _elf(None))), X86_311, Kind.FUNCTION) == []


def test_32_bit_object_is_a_machine_finding() -> None:
    facts = _facts(("m.so", ElfFacts("EM_386", 32, ("libc.so.6",), ("GLIBC_2.0",))))
    [finding] = check_artifact(facts, X86_312, Kind.FUNCTION)
    assert finding.code == "elf-machine"
    assert finding.found == "i386 (EM_386, 32-bit ELF)"


def test_musl_is_recognised_by_its_libc() -> None:
    assert _elf(None, needed=("libc.musl-x86_64.so.1",)).is_musl
    assert _elf(None, needed=("libc.so",)).is_musl
    assert not _elf(None, needed=("libc.so.6",)).is_musl


def test_shared_object_names() -> None:
    assert is_shared_object("a/_m.cpython-312-x86_64-linux-gnu.so")
    assert is_shared_object("a.libs/libgcc_s-1234.so.1")
    assert is_shared_object("a/libz.so.1.2.13")
    assert is_shared_object("a/m.pyd")
    assert not is_shared_object("a/so.py")
    assert not is_shared_object("a/readme.solution")


def test_library_names_are_not_extension_modules() -> None:
    facts = _facts(("lib/libfoo.1.so", _elf(None)), ("lib/libbar.abc.so", _elf(None)))
    assert check_artifact(facts, X86_312, Kind.FUNCTION) == []


def test_windows_module_names_a_windows_build() -> None:
    facts = ArtifactFacts(
        "t.zip",
        None,
        (Entry("pkg/_m.cp312-win_amd64.pyd", 10, None, 0),),
        (SharedObject("pkg/_m.cp312-win_amd64.pyd", None, "a PE/COFF object (Windows)"),),
        (),
        (),
        (),
    )
    findings = check_artifact(facts, X86_312, Kind.FUNCTION)
    # Linux never opens a .pyd: what fails is the import, not the loader
    assert [(f.code, f.found) for f in findings] == [("ext-suffix", "a module for Windows")]
    assert "Lambda raises No module named 'pkg._m'" in findings[0].remedy


def test_the_import_system_order_decides_what_is_loaded() -> None:
    """FileFinder: a package first, then the runtime's extension suffixes in order, then .py,
    then .pyc; on sys.path, the task root before the layers' site-packages before python/."""
    so = "m.cpython-312-x86_64-linux-gnu.so"
    layer = _facts(
        ("python/m.py", _elf(None)),
        (f"python/{so}", _elf(None)),
        ("python/m.abi3.so", _elf(None)),
        ("python/lib/python3.12/site-packages/n/__init__.py", _elf(None)),
        ("python/n.py", _elf(None)),
    )
    composed = compose(layer, X86_312, Kind.LAYER)
    assert composed.module_file("/opt/python", "m") == f"/opt/python/{so}"
    assert composed.top_level_root("n") == "/opt/python/lib/python3.12/site-packages"
    assert not composed.reachable("/opt/python/n.py")  # the site-packages package comes first
    function = _facts(("n/__init__.py", _elf(None)))
    with_layer = compose(function, X86_312, Kind.FUNCTION, [layer])
    assert with_layer.top_level_root("n") == "/var/task"


def test_kind_is_detected_from_the_layout() -> None:
    layer = _facts(("python/m.so", _elf(None)))
    function = _facts(("m.so", _elf(None)), ("python/x.so", _elf(None)))
    assert detect_kind(layer) is Kind.LAYER
    assert detect_kind(function) is Kind.FUNCTION


def test_member_names_that_leave_the_tree() -> None:
    assert safe_member_path("python/a.py") == "python/a.py"
    assert safe_member_path("./python//a.py") == "python/a.py"
    assert safe_member_path("python\\a.py") == "python/a.py"
    for hostile in ("/etc/passwd", "../x", "python/../../x", "C:/x", "c:\\x", ""):
        assert safe_member_path(hostile) is None, hostile


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\xcf\xfa\xed\xfe" + bytes(40), "Mach-O"),
        (b"MZ" + bytes(40), "Windows"),
        (b"#!/bin/sh\n", "not an ELF object"),
        (b"\x7fELF" + bytes(10), "malformed ELF"),
    ],
)
def test_foreign_objects_are_named(data: bytes, words: str) -> None:
    with pytest.raises(NotElf, match=words):
        read_elf(data)


def test_finding_line_reads_as_one_sentence() -> None:
    finding = Finding(
        code="x",
        severity=Severity.ERROR,
        path="p.so",
        expected="A",
        found="B",
        remedy="Do C.",
    )
    assert finding.line() == "error: p.so: expected A; found B. Do C."
