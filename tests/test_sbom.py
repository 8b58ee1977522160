"""The CycloneDX SBOM beside every artifact: valid against the 1.6 schema (cyclonedx-python-lib's
bundled schema, jsonschema), each distribution with the sha256 of the real wheel it came from."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packaging.utils import parse_wheel_filename

from lambdazip.cli import main
from tests.conftest import host_env
from tests.projects import uv_project
from tests.wheels import REPO, fetch, locked_version

pytestmark = [pytest.mark.integration, pytest.mark.network]


def _valid(path: Path) -> dict[str, Any]:
    text = path.read_text()
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)
    document: dict[str, Any] = json.loads(text)
    assert document["specVersion"] == "1.6"
    return document


def _build(images: dict[tuple[str, str], str], *argv: str) -> int:
    python = argv[argv.index("--python") + 1]
    return main([*argv, "--base-image", images[python, "x86_64"]], env=host_env())


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_layer_from_requirements_names_each_wheel_and_its_hash(
    installer: str,
    tmp_path: Path,
    images: dict[tuple[str, str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "dist"
    argv = ["layer", "--arch", "x86_64", "--python", "3.11", "-r", str(REPO / "requirements.txt")]
    assert _build(images, *argv, "--installer", installer, "-o", str(out)) == 0
    capsys.readouterr()
    zip_path = out / "layer-python3.11-x86_64.zip"
    manifest = json.loads(zip_path.with_suffix(".manifest.json").read_text())
    bom = _valid(zip_path.with_suffix(".cdx.json"))
    subject = bom["metadata"]["component"]
    assert subject["name"] == zip_path.name
    assert subject["hashes"] == [{"alg": "SHA-256", "content": manifest["sha256"]}]
    tools = {t["name"]: t.get("version") for t in bom["metadata"]["tools"]["components"]}
    assert tools["lambdazip"]
    assert tools[installer]
    image = next(c for c in bom["components"] if c["type"] == "container")
    assert image["hashes"][0]["content"] == manifest["base_image"]["id"].removeprefix("sha256:")
    libraries = {c["name"]: c for c in bom["components"] if c["type"] == "library"}
    assert set(libraries) == {d["name"] for d in manifest["distributions"]}
    requirements = (REPO / "requirements.txt").read_text()
    for name, component in libraries.items():
        assert component["purl"].startswith(f"pkg:pypi/{name}@{component['version']}")
        digest = component["hashes"][0]["content"]
        assert f"--hash=sha256:{digest}" in requirements  # one of the files the lock allows
        assert component["licenses"], name  # every one of these states its license
    # the very file: the real wheel, fetched on its own, has that sha256 and those tags
    core = libraries["pydantic-core"]
    wheel = fetch("pydantic-core", locked_version("pydantic-core"), "311", "manylinux2014_x86_64")
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == core["hashes"][0]["content"]
    installed = next(d for d in manifest["distributions"] if d["name"] == "pydantic-core")
    tags = {str(t) for t in parse_wheel_filename(installed["wheel"])[3]}
    assert tags == set(installed["wheel_tags"])
    assert core["licenses"][0]["license"] == {"id": "MIT"}

    # made from the manifest alone: gone, it comes back the same without a container
    sbom = zip_path.with_suffix(".cdx.json")
    before = sbom.read_bytes()
    sbom.unlink()
    assert _build(images, *argv, "--installer", installer, "-o", str(out)) == 0
    assert "no container started" in capsys.readouterr().err
    assert sbom.read_bytes() == before


def test_a_function_from_a_uv_lock_takes_the_hashes_from_the_lock(
    tmp_path: Path, images: dict[tuple[str, str], str]
) -> None:
    project = uv_project(tmp_path / "orders")
    out = tmp_path / "dist"
    argv = ["function", "--arch", "x86_64", "--python", "3.13", "--project", str(project)]
    assert _build(images, *argv, "--handler", "orders.app.handler", "-o", str(out)) == 0
    bom = _valid(out / "orders-python3.13-x86_64.cdx.json")
    lock = (project / "uv.lock").read_text()
    libraries = [c for c in bom["components"] if c["type"] == "library"]
    assert {c["name"] for c in libraries} >= {"pydantic", "pydantic-core"}
    for component in libraries:
        assert f"sha256:{component['hashes'][0]['content']}" in lock
    assert bom["metadata"]["component"]["type"] == "application"
