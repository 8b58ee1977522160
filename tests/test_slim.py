"""Smaller, on request, never silently: --exclude, --prune and --strip in the image, each removal
with its bytes in the manifest, the probe and the check run on what is left."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from lambdazip.cli import main
from tests.conftest import host_env
from tests.projects import uv_project

pytestmark = [pytest.mark.integration, pytest.mark.network]


def _layer(images: dict[tuple[str, str], str], project: Path, out: Path, *extra: str) -> int:
    argv = ["layer", "--arch", "x86_64", "--python", "3.11", "--project", str(project)]
    argv += ["--base-image", images["3.11", "x86_64"], "-o", str(out)]
    return main([*argv, *extra], env=host_env())


def test_exclude_and_prune_say_what_they_removed(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = uv_project(tmp_path / "orders")
    groups = ["--group", "aws", "--group", "science", "--extra", "fast"]
    assert _layer(images, project, tmp_path / "full", *groups) == 0
    slim = ["--exclude", "jmespath", "--exclude", "orjson", "--prune"]
    assert _layer(images, project, tmp_path / "slim", *groups, *slim) == 0
    out = capsys.readouterr().out  # findings go to stdout
    full, small = (tmp_path / d / "layer-python3.11-x86_64.zip" for d in ("full", "slim"))
    with zipfile.ZipFile(full) as a, zipfile.ZipFile(small) as b:
        before, after = set(a.namelist()), set(b.namelist())
        unzipped = sum(i.file_size for i in b.infolist())
    assert after < before
    assert not any(n.startswith(("python/jmespath", "python/orjson")) for n in after)
    assert any(n.startswith("python/numpy/_core/tests/") for n in before)
    left = [n for n in after if n.startswith("python/numpy/") and "/tests/" in n]
    assert left
    assert all(n.endswith(".pyi") for n in left)  # what stays of tests/ is type stubs
    kept = [n for n in before if "/tests/" in n and n.endswith(".pyi")]
    assert all(n in after for n in kept)  # type stubs stay
    assert "python/numpy/__init__.pyi" in after

    manifest = json.loads(small.with_suffix(".manifest.json").read_text())
    slimmed = manifest["slimmed"]
    reasons = {x["reason"] for x in slimmed}
    assert {"--exclude jmespath", "--exclude orjson", "--prune"} <= reasons
    assert all(x["bytes"] > 0 for x in slimmed if x["reason"] != "--prune")
    assert sum(x["bytes"] for x in slimmed if x["reason"] == "--prune") > 1_000_000
    full_manifest = json.loads(full.with_suffix(".manifest.json").read_text())
    saved = full_manifest["unzipped_size"] - manifest["unzipped_size"]
    # every byte that went is accounted for (the pycs of removed sources were never compiled)
    assert sum(x["bytes"] for x in slimmed) <= saved
    assert manifest["unzipped_size"] == unzipped
    assert {d["name"] for d in manifest["distributions"]} >= {"numpy", "pydantic"}
    assert not {"jmespath", "orjson"} & {d["name"] for d in manifest["distributions"]}
    assert all(i["ok"] for i in manifest["probe"]["imports"])  # numpy still imports
    assert manifest["inputs"]["exclude"] == ["jmespath", "orjson"]
    assert manifest["inputs"]["prune"] is True
    # the runtime's own copy is said, with its version; orjson is not the runtime's
    warned = [f for f in manifest["findings"] if f["code"] == "sdk-excluded"]
    assert [f["path"] for f in warned] == ["jmespath"]
    assert "the runtime has jmespath 1." in warned[0]["found"]
    assert "warning: jmespath: " in out
    assert "left out by --exclude; the runtime has jmespath 1." in out
    # the check is the check: the slim zip passes it as any zip does
    assert main(["check", str(small), "-q"], env={}) == 0
    # numpy's RECORD lists no file that is gone
    with zipfile.ZipFile(small) as b:
        record = next(n for n in after if n.startswith("python/numpy-") and n.endswith("RECORD"))
        listed = {line.split(",", 1)[0] for line in b.read(record).decode().splitlines()}
    assert not any("/tests/" in name and not name.endswith(".pyi") for name in listed)


def test_an_unknown_exclude_and_a_missing_strip_are_one_line(
    tmp_path: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = uv_project(tmp_path / "orders")
    assert _layer(images, project, tmp_path / "a", "--exclude", "boto3") == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: --exclude boto3: {project / 'uv.lock'} installs no such distribution; name one "
        "of: annotated-types, pydantic, pydantic-core, typing-extensions, typing-inspection"
    ]
    assert _layer(images, project, tmp_path / "b", "--strip") == 9
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert errors == [
        f"error: --strip: the image {images['3.11', 'x86_64']} has no `strip` (binutils); build "
        "on an image that has it (FROM the official image, RUN dnf install -y binutils; pass it "
        "as --base-image), or drop --strip"
    ]
    assert not (tmp_path / "b").exists()
