"""`verify`: an independent rebuild from the manifest alone, on the real engine and stand-ins."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import docker
import pytest

from lambdazip.cli import main
from lambdazip.outputs.archive import sha256_file
from tests import deflate
from tests.conftest import host_env
from tests.wheels import REPO

pytestmark = [pytest.mark.integration, pytest.mark.network]
NAME = "layer-python3.11-x86_64"


@pytest.fixture
def built(images: dict[tuple[str, str], str], tmp_path: Path) -> Path:
    requirements = tmp_path / "requirements.txt"
    shutil.copy(REPO / "requirements.txt", requirements)
    argv = ["layer", "--arch", "x86_64", "--python", "3.11", "-o", str(tmp_path / "dist")]
    argv += ["-r", str(requirements), "--base-image", images["3.11", "x86_64"], "-q"]
    assert main(argv, env=host_env()) == 0
    return tmp_path / "dist" / f"{NAME}.zip"


def _verify(zip_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["verify", str(zip_path), *extra], env=host_env())
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _rewrite(zip_path: Path, change: str | None = None, how: str = "zlib") -> None:
    """Repack the zip (a file's content changed, or deflated by another zlib), and make its
    manifest say so: a zip that its manifest describes, but that its inputs do not make."""
    tree = zip_path.parent / "tree"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(tree)
    if change:
        (tree / change).write_bytes((tree / change).read_bytes() + b"\n# changed\n")
    zip_path.unlink()
    digest = deflate.host_zip(tree, zip_path, how)
    manifest_path = zip_path.with_suffix(".manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"] = digest
    manifest["zipped_size"] = zip_path.stat().st_size
    manifest["unzipped_size"] = sum(f.stat().st_size for f in tree.rglob("*") if f.is_file())
    manifest_path.write_text(json.dumps(manifest))
    zip_path.with_suffix(".cdx.json").unlink(missing_ok=True)  # it names the old zip
    shutil.rmtree(tree)


def test_a_build_is_reproduced_from_its_manifest_alone(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = _verify(built, capsys, "--json")
    assert code == 0, said
    verdict = json.loads(said[: said.rindex("}") + 1])
    assert verdict["reproduced"] is True
    assert verdict["rebuilt_sha256"] == verdict["sha256"] == sha256_file(built)
    assert f"reproduced: {built}" in said


def test_the_first_differing_member_is_named_with_why(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _rewrite(built, change="python/pydantic/version.py")
    code, said = _verify(built, capsys)
    assert code == 16, said
    line = next(x for x in said.splitlines() if x.startswith("error:"))
    assert "first difference: python/pydantic/version.py: size " in line, line
    assert ": the content differs" in line, line


def test_a_zip_deflated_elsewhere_is_told_apart_from_other_content(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _rewrite(built, how="zlib-ng")
    code, said = _verify(built, capsys)
    assert code == 16, said
    assert "the same content deflated differently" in said, said


def test_changed_inputs_are_refused_before_building(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(requirements.read_text() + "\n")
    code, said = _verify(built, capsys)
    assert code == 2, said
    assert "is not the file layer-python3.11-x86_64.zip was built from" in said
    other = tmp_path / "other.zip"
    shutil.copy(built, other)
    shutil.copy(built.with_suffix(".manifest.json"), other.with_suffix(".manifest.json"))
    other.write_bytes(other.read_bytes() + b"\0")
    code, said = _verify(other, capsys)
    assert code == 16, said
    assert "is not the zip its manifest describes" in said


def test_an_image_no_longer_on_the_engine_is_said(
    images: dict[tuple[str, str], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = docker.from_env()
    # an image of its own (another ID), built on, then removed: as if the engine was pruned
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {images['3.11', 'x86_64']}\nLABEL lambdazip.test=verify-{tmp_path.name}\n"
    )
    image, _ = client.images.build(
        path=str(context), tag=f"lambdazip-verify-test:{tmp_path.name}", rm=True, forcerm=True
    )
    try:
        src = tmp_path / "src"
        src.mkdir()
        (src / "app.py").write_text("def handler(event, context):\n    return 1\n")
        empty = tmp_path / "requirements.txt"
        empty.write_text("")
        argv = ["function", "--src", str(src), "--arch", "x86_64", "--python", "3.11", "-q"]
        argv += ["-o", str(tmp_path / "dist"), "-r", str(empty), "--base-image", image.id]
        assert main(argv, env=host_env()) == 0
        built = tmp_path / "dist" / "src-python3.11-x86_64.zip"
        code, said = _verify(built, capsys)
        assert code == 0, said
        (src / "app.py").write_text("def handler(event, context):\n    return 2\n")
        code, said = _verify(built, capsys)
        assert code == 2, said
        assert "app.py in --src" in said
        assert "differs since src-python3.11-x86_64.zip was built" in said
    finally:  # the build image on it first (a child keeps its parent), then the image
        parents = {i.id: i.attrs.get("Parent") for i in client.images.list(all=True)}
        for child in client.images.list(filters={"label": "io.lambdazip.role=build"}):
            ancestor = parents.get(child.id)
            while ancestor and ancestor != image.id:
                ancestor = parents.get(ancestor)
            if ancestor == image.id:
                client.images.remove(child.id, force=True)
        client.images.remove(image.id, force=True)
    images_left = {i.id for i in client.images.list()}
    assert image.id not in images_left
    code, said = _verify(built, capsys)
    assert code == 7, said
    assert "is no longer on this engine, and no registry digest was recorded" in said


def test_a_manifest_or_sbom_that_says_what_the_zip_does_not_hold_is_refused(
    built: Path, images: dict[tuple[str, str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The manifest and the SBOM are claims about the zip: verify holds them against its bytes
    before rebuilding anything, and a no-op build does not reuse a zip its manifest misdescribes
    (nor write an SBOM from that manifest)."""
    manifest_path = built.with_suffix(".manifest.json")
    sbom = built.with_suffix(".cdx.json")
    honest = manifest_path.read_text()
    manifest = json.loads(honest)
    pydantic = next(d for d in manifest["distributions"] if d["name"] == "pydantic")
    real = pydantic["version"]
    pydantic["version"] = "1.10.0"
    manifest_path.write_text(json.dumps(manifest))
    code, said = _verify(built, capsys, "--json")
    assert code == 16, said
    assert f"the manifest says pydantic 1.10.0; the zip holds pydantic {real}" in said
    assert json.loads(said[: said.index("\nerror:")])["false_claims"]
    # a no-op build trusts no manifest it did not just check: it builds again, and the SBOM
    # names what the zip holds
    argv = ["layer", "--arch", "x86_64", "--python", "3.11", "-o", str(built.parent)]
    argv += ["-r", str(built.parent.parent / "requirements.txt")]
    argv += ["--base-image", images["3.11", "x86_64"]]
    assert main(argv, env=host_env()) == 0
    assert " built:" in capsys.readouterr().err
    components = json.loads(sbom.read_text())["components"]
    assert any(c["name"] == "pydantic" and c["version"] == real for c in components)
    # an SBOM changed after the build is a false claim too
    sbom.write_text(sbom.read_text().replace(f'"version": "{real}"', '"version": "1.10.0"'))
    code, said = _verify(built, capsys)
    assert code == 16, said
    assert "is not the one its manifest makes" in said
