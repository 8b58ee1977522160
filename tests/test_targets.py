from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from lambdazip.cli import main
from lambdazip.errors import UsageError
from lambdazip.judge.checks import check_runtime
from lambdazip.judge.findings import Severity
from lambdazip.targets import (
    ARCHITECTURES,
    DEFAULT_VERSIONS,
    RUNTIMES,
    SUPPORTED_VERSIONS,
    Arch,
    RuntimeStatus,
    Target,
    parse_arch,
    parse_runtime,
    python_of_magic,
)


@pytest.mark.parametrize(
    ("text", "arch"),
    [
        ("x86_64", Arch.X86_64),
        ("amd64", Arch.X86_64),
        ("AMD64", Arch.X86_64),
        ("arm64", Arch.ARM64),
        ("aarch64", Arch.ARM64),
        (" Aarch64 ", Arch.ARM64),
    ],
)
def test_architecture_aliases(text: str, arch: Arch) -> None:
    assert parse_arch(text) is arch


def test_unknown_architecture_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError) as caught:
        parse_arch("ppc64le")
    assert caught.value.tip == "use one of: x86_64 (or amd64), arm64 (or aarch64)"


def test_everything_derived_from_an_architecture() -> None:
    arm = ARCHITECTURES[Arch.ARM64]
    assert (arm.oci_platform, arm.elf_machine, arm.triplet, arm.wheel_machine) == (
        "linux/arm64",
        "EM_AARCH64",
        "aarch64-linux-gnu",
        "aarch64",
    )
    x86 = ARCHITECTURES[Arch.X86_64]
    assert (x86.oci_platform, x86.elf_machine, x86.triplet) == (
        "linux/amd64",
        "EM_X86_64",
        "x86_64-linux-gnu",
    )


@pytest.mark.parametrize("text", ["3.13", "313", "python3.13", "py3.13"])
def test_runtime_spellings(text: str) -> None:
    assert parse_runtime(text).version == "3.13"


def test_runtime_table() -> None:
    r311, r312 = RUNTIMES["3.11"], RUNTIMES["3.12"]
    assert (r311.os, r311.glibc) == ("Amazon Linux 2", (2, 26))
    assert (r312.os, r312.glibc) == ("Amazon Linux 2023", (2, 34))
    assert r312.ext_suffix(Arch.ARM64) == ".cpython-312-aarch64-linux-gnu.so"
    assert r312.image(Arch.ARM64) == "public.ecr.aws/lambda/python:3.12-arm64"
    assert r312.cache_tag == "cpython-312"
    assert r311.wheel_platform_tags(Arch.X86_64)[0] == "manylinux_2_26_x86_64"
    assert r311.wheel_platform_tags(Arch.X86_64)[-3:] == (
        "manylinux2014_x86_64",
        "manylinux2010_x86_64",
        "manylinux1_x86_64",
    )
    assert "manylinux_2_5_x86_64" in r311.wheel_platform_tags(Arch.X86_64)
    assert "manylinux_2_27_x86_64" not in r311.wheel_platform_tags(Arch.X86_64)
    # aarch64 wheels start at manylinux2014 (glibc 2.17)
    assert r312.wheel_platform_tags(Arch.ARM64)[0] == "manylinux_2_34_aarch64"
    assert r312.wheel_platform_tags(Arch.ARM64)[-2:] == (
        "manylinux_2_17_aarch64",
        "manylinux2014_aarch64",
    )
    # uv names only some manylinux versions: the newest not past the runtime's glibc
    assert r311.uv_platform(Arch.X86_64) == "x86_64-manylinux_2_17"
    assert r312.uv_platform(Arch.ARM64) == "aarch64-manylinux_2_34"
    assert [v for v, r in RUNTIMES.items() if r.status is not RuntimeStatus.RETIRED] == [
        "3.10",
        "3.11",
        "3.12",
        "3.13",
        "3.14",
        "3.15",
    ]
    # a preview builds (with a warning) from its own tag, and is not in the default matrix
    r315 = RUNTIMES["3.15"]
    assert r315.status is RuntimeStatus.PREVIEW
    assert r315.image(Arch.ARM64) == "public.ecr.aws/lambda/python:3.15-preview-arm64"
    assert r315.ext_suffix(Arch.X86_64) == ".cpython-315-x86_64-linux-gnu.so"
    assert (r315.glibc, r315.pyc_magic, python_of_magic(r315.pyc_magic)) == ((2, 34), 3666, "3.15")
    assert "3.15" not in DEFAULT_VERSIONS
    assert "3.15" in SUPPORTED_VERSIONS
    (preview,) = check_runtime(Target(r315, Arch.X86_64))
    assert (preview.code, preview.severity) == ("runtime-preview", Severity.WARNING)
    (deprecated,) = check_runtime(Target(RUNTIMES["3.10"], Arch.X86_64))
    assert "creating functions on it is blocked from 2026-11-30" in deprecated.found


def test_retired_runtime_is_refused_with_the_date() -> None:
    with pytest.raises(UsageError, match="deprecated by AWS Lambda on 2025-12-15"):
        parse_runtime("3.9")


def test_unknown_runtime_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError) as caught:
        parse_runtime("3.8")
    assert caught.value.tip == "use one of: 3.10, 3.11, 3.12, 3.13, 3.14, 3.15"


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["check", "x.zip", "--arch", "sparc", "--python", "3.13"], 2, "unknown architecture"),
        (["check", "x.zip", "--arch", "arm64", "--python", "2.7"], 2, "unknown Lambda Python"),
        (["check", "x.zip", "--arch", "arm64"], 2, "no --arch/--python, and no readable manifest"),
        (["check", "nowhere.zip", "--arch", "arm64", "--python", "3.13"], 4, "does not exist"),
        (["frobnicate"], 2, "invalid choice"),
        ([], 2, "required"),
    ],
)
def test_user_errors_are_one_line(
    argv: list[str], code: int, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, env={}) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert words in lines[0]
    assert "; " in lines[0]  # what failed; what to do


def test_deprecated_runtime_warns_but_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = tmp_path / "f.zip"
    with zipfile.ZipFile(artifact, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    assert main(["check", str(artifact), "--arch", "x86_64", "--python", "3.10"], env={}) == 0
    out = capsys.readouterr().out
    assert "python3.10, deprecated by AWS Lambda on 2026-10-31" in out
    assert main(["check", str(artifact), "--arch", "x86_64", "--python", "3.10", "--json"]) == 0
    [warning] = json.loads(capsys.readouterr().out)["findings"]
    assert (warning["code"], warning["severity"]) == ("runtime-deprecated", "warning")
