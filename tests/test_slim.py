"""Smaller, on request, never silently: --exclude, --prune and --strip in the image, each removal
with its bytes in the manifest, the probe and the check run on what is left."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from lambdazip.build.engine import Engine
from lambdazip.cli import main
from tests.binutils import with_strip
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


def test_strip_with_the_images_binutils_rewrites_record_and_still_imports(
    tmp_path: Path, images: dict[tuple[str, str], str], engine: Engine
) -> None:
    image = with_strip(engine.client, images["3.11", "x86_64"])
    if image is None:
        pytest.skip("this host has no bookworm x86_64 strip to copy into the stand-in")
    project = uv_project(tmp_path / "orders")
    out = tmp_path / "dist"
    argv = ["layer", "--arch", "x86_64", "--python", "3.11", "--project", str(project)]
    argv += ["--group", "science", "--strip", "--base-image", image, "-o", str(out)]
    assert main(argv, env=host_env()) == 0
    zip_path = out / "layer-python3.11-x86_64.zip"
    manifest = json.loads(zip_path.with_suffix(".manifest.json").read_text())
    slimmed = {x["path"]: x for x in manifest["slimmed"]}
    # numpy's OpenBLAS carries debug sections, but auditwheel's patchelf rewrote it, and GNU strip
    # makes such a file unloadable: checked by the loader, it is kept as it was
    blas = next(p for p in slimmed if p.startswith("numpy.libs/libscipy_openblas"))
    assert slimmed[blas]["reason"].startswith("--strip left it as it was")
    assert slimmed[blas]["bytes"] == 0
    stripped = {p: x["bytes"] for p, x in slimmed.items() if x["reason"] == "--strip"}
    assert stripped
    assert all(size > 0 for size in stripped.values())
    core = next(p for p in stripped if p.startswith("numpy/_core/_multiarray_umath"))
    assert stripped[core] > 10_000
    assert all(i["ok"] for i in manifest["probe"]["imports"])  # and numpy still imports
    with zipfile.ZipFile(zip_path) as archive:
        record = next(
            n for n in archive.namelist() if n.startswith("python/numpy-") and n.endswith("RECORD")
        )
        rows = {r.split(",")[0]: r.split(",") for r in archive.read(record).decode().splitlines()}
        data = archive.read(f"python/{core}")
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert rows[core][1:] == [f"sha256={digest}", str(len(data))]
    assert main(["check", str(zip_path), "-q"], env={}) == 0
