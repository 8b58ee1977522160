"""The image as bytes (oci/image.py, inside/lambdazip_layer.py): the same inputs, the same bytes;
what Lambda takes; what the engine loads; what a registry client pushes. No engine here."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdazip.inside import lambdazip_layer, lambdazip_zip
from lambdazip.oci.image import (
    RUNTIME_LABEL,
    Descriptor,
    code_layer,
    digest_of,
    image_config,
    image_manifest,
    load_archive,
    oci_archive,
    stored_gzip,
)
from lambdazip.oci.media_types import DOCKER_LAYER_GZIP, DOCKER_MANIFEST
from lambdazip.oci.source import OciLayoutSource

DEPENDENCIES_DIFF_ID = "sha256:4548695c074c8ae6f23be850de46a629c2a4afabc75234270de926719125e36a"
DEPENDENCIES_TAR_SIZE = 10240
BASE_CONFIG: dict[str, Any] = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2026-11-30T10:00:00.123Z",
    "container": "0123abc",
    "config": {"Entrypoint": ["/lambda-entrypoint.sh"], "WorkingDir": "/var/task", "Env": ["A=1"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
    "history": [{"created": "2026-11-30T10:00:00Z", "created_by": "ADD rootfs"}],
}


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200_000))
def test_stored_gzip_is_gzip_that_any_reader_inflates(data: bytes) -> None:
    blob = stored_gzip(data)
    assert gzip.decompress(blob) == data
    assert zlib.decompress(blob, 31) == data
    assert blob == stored_gzip(data)  # no time, no name: nothing but the data decides it


def test_the_code_layer_is_the_same_tar_whatever_the_order_and_the_clock() -> None:
    files = [("app.py", b"x = 1\n", False), ("pkg/__init__.py", b"", False), ("run", b"#!", True)]
    first = code_layer(files, "/var/task", 1700000000)
    assert first == code_layer(list(reversed(files)), "var/task", 1700000000)
    assert first != code_layer(files, "var/task", 1700000001)
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == [
        "var/task",
        "var/task/app.py",
        "var/task/pkg",
        "var/task/pkg/__init__.py",
        "var/task/run",
    ]
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {
        (0, 0, "", "", 1700000000)
    }
    modes = {m.name: m.mode for m in members}
    assert modes["var/task/pkg"] == modes["var/task"] == 0o755
    assert modes["var/task/app.py"] == 0o644
    assert modes["var/task/run"] == 0o755


def test_the_dependencies_layer_is_the_zips_files_under_var_task(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "pydantic").mkdir(parents=True)
    (tree / "pydantic" / "__init__.py").write_text("VERSION = '2'\n")
    (tree / "tool").write_text("#!/bin/sh\n")
    (tree / "tool").chmod(0o755)
    zipped = tmp_path / "deps.zip"
    lambdazip_zip.write(zipped, lambdazip_zip.collect(tree), 0)
    first = lambdazip_layer.write(str(zipped), str(tmp_path / "a.tar.gz"), "var/task", 86400)
    again = lambdazip_layer.write(str(zipped), str(tmp_path / "b.tar.gz"), "/var/task/", 86400)
    assert first == again
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    blob = (tmp_path / "a.tar.gz").read_bytes()
    assert first.digest == digest_of(blob)
    assert first.size == len(blob)
    plain = gzip.decompress(blob)
    assert first.diff_id == digest_of(plain)
    assert first.tar_size == len(plain)
    assert blob[4:8] == b"\0\0\0\0"  # no time in the gzip header
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        found = {m.name: (m.mode, m.uid, m.mtime) for m in tar.getmembers()}
    assert found == {
        "var/task": (0o755, 0, 86400),
        "var/task/pydantic": (0o755, 0, 86400),
        "var/task/pydantic/__init__.py": (0o644, 0, 86400),
        "var/task/tool": (0o755, 0, 86400),
    }
    assert first.files == 2


def test_the_config_is_the_bases_with_the_handler_the_layers_and_a_fixed_time() -> None:
    layers = [("sha256:" + "2" * 64, "deps"), ("sha256:" + "3" * 64, "code")]
    config = json.loads(image_config(BASE_CONFIG, layers, ["app.handler"], 0, "python3.13"))
    assert config["created"] == "1970-01-01T00:00:00Z"
    assert config["config"]["Cmd"] == ["app.handler"]
    assert config["config"]["Entrypoint"] == ["/lambda-entrypoint.sh"]  # the base's, kept
    assert config["config"]["Labels"] == {RUNTIME_LABEL: "python3.13"}
    assert config["rootfs"]["diff_ids"] == ["sha256:" + "1" * 64] + [d for d, _ in layers]
    non_empty = [h for h in config["history"] if not h.get("empty_layer")]
    assert len(non_empty) == len(config["rootfs"]["diff_ids"])
    assert "container" not in config
    assert BASE_CONFIG["config"].get("Cmd") is None  # the base's own is not changed


def test_the_manifest_is_one_docker_schema_2_image_manifest() -> None:
    config = image_config(BASE_CONFIG, [("sha256:" + "2" * 64, "code")], ["a.b"], 0, "python3.13")
    layers = [Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", "sha256:" + "4" * 64, 9)]
    manifest = json.loads(image_manifest(config, layers))
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["digest"] == digest_of(config)
    assert [layer["mediaType"] for layer in manifest["layers"]] == [DOCKER_LAYER_GZIP]
    assert "manifests" not in manifest  # never an index
    assert image_manifest(config, layers) == image_manifest(config, list(layers))


def test_the_load_archive_holds_only_the_new_layers(tmp_path: Path) -> None:
    layer = tmp_path / "code.tar.gz"
    layer.write_bytes(stored_gzip(code_layer([("app.py", b"1", False)], "var/task", 0)))
    config = image_config(BASE_CONFIG, [("sha256:" + "5" * 64, "code")], ["app.h"], 0, "python3.13")
    archive = io.BytesIO()
    load_archive(archive, [(config, "fn:latest", [layer])])
    with tarfile.open(fileobj=io.BytesIO(archive.getvalue())) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["fn:latest"]
    assert manifest[0]["Layers"] == ["1" * 64 + "/layer.tar", "5" * 64 + "/layer.tar"]
    assert "5" * 64 + "/layer.tar" in names
    assert "1" * 64 + "/layer.tar" not in names  # the base's: the engine has it


def test_the_oci_archive_is_a_layout_any_reader_takes(tmp_path: Path) -> None:
    blob = stored_gzip(code_layer([("app.py", b"def handler(e, c): pass\n", False)], "var/task", 0))
    config = image_config(
        BASE_CONFIG, [(digest_of(gzip.decompress(blob)), "code")], ["a.h"], 0, "p"
    )
    manifest = image_manifest(config, [Descriptor(DOCKER_LAYER_GZIP, digest_of(blob), len(blob))])
    path = tmp_path / "image.tar"
    with path.open("wb") as out:
        oci_archive(out, manifest, [(digest_of(config), config), (digest_of(blob), blob)], "fn:1")
    with OciLayoutSource(path) as source:
        fetched = source.manifest()
        assert fetched.data == manifest
        assert fetched.digest == digest_of(manifest)
        with source.blob(digest_of(blob)) as stream:
            assert stream.read() == blob
    with tarfile.open(path) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "fn:1"}


@pytest.mark.parametrize("size", [0, 65535, 65536, 3 * 65536 + 7])
def test_stored_gzip_blocks_at_their_limit(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert gzip.decompress(stored_gzip(data)) == data


def test_the_formats_are_pinned() -> None:
    """The bytes every user's image digest rests on. A change here moves every digest that users
    have deployed and recorded: it must be a decision, made here, never a side effect."""
    assert digest_of(stored_gzip(b"lambdazip")) == (
        "sha256:d27f00cf3b6af7d4d7618d87300c92052d6794eafb04b0cadf0cefe948dbbcad"
    )
    files = [
        ("app.py", b"def handler(e, c):\n    return e\n", False),
        ("bin/run", b"#!/bin/sh\n", True),
    ]
    assert digest_of(code_layer(files, "var/task", 315532800)) == (
        "sha256:9af44131052da54a5c3008b7a26087b7b176b7cb4bdd02c298aba38bbbbe03c5"
    )
    base = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/lambda-entrypoint.sh"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
        "history": [],
    }
    config = image_config(
        base, [("sha256:" + "2" * 64, "code")], ["app.handler"], 315532800, "python3.13"
    )
    assert digest_of(config) == (
        "sha256:78fe5ae0e2b1c0ddca055c93ae20bcbe24f2b597fae4da89d94048574b26b8a3"
    )


def test_the_dependencies_layers_tar_is_pinned(tmp_path: Path) -> None:
    """Its tar (the diff_id: the image ID's part); the gzip around it is the build image's."""
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("VERSION = 1\n")
    zipped = tmp_path / "a.zip"
    lambdazip_zip.write(zipped, lambdazip_zip.collect(tree), 0)
    layer = lambdazip_layer.write(str(zipped), str(tmp_path / "l.tar.gz"), "var/task", 315532800)
    assert (layer.diff_id, layer.tar_size) == (DEPENDENCIES_DIFF_ID, DEPENDENCIES_TAR_SIZE)
