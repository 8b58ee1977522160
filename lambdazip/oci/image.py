"""The image a function becomes, as bytes: its config, its manifest, the archive the engine loads
and the OCI layout tarball any registry client pushes. Pure functions of their inputs, so the
same function zip on the same base gives the same image ID and manifest digest on any host.

The image is the base image unchanged plus one layer (the checked function zip's files under
/var/task, written in the build image: lambdazip_layer). Its config is the base's with three
changes: ``Cmd`` is the handler, the new layer's diff_id is appended with one history entry, and
``created`` is SOURCE_DATE_EPOCH (the time ``docker commit`` or a Dockerfile build would write is
what makes their digests differ on every build). The manifest is one Docker v2 schema 2 image
manifest (what Lambda takes, never an index), serialised canonically.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
GZIP_LAYERS = (DOCKER_LAYER_GZIP, OCI_LAYER_GZIP)
CREATED_BY = "lambdazip image: the function at /var/task"


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    def json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def canonical(value: Any) -> bytes:
    """JSON with sorted keys and no spaces: one serialisation for one value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rfc3339(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


RUNTIME_LABEL = "io.lambdazip.runtime"  # python3.X: what `invoke --image` runs it as


def image_config(
    base_config: Mapping[str, Any],
    diff_id: str,
    cmd: Sequence[str],
    epoch: int,
    runtime: str,
) -> bytes:
    """The config of ``base_config`` plus the layer ``diff_id``, with ``cmd`` as its CMD and
    the Lambda runtime it is for as a label."""
    config = json.loads(json.dumps(base_config))  # a deep copy that is plain JSON
    created = rfc3339(epoch)
    config["created"] = created
    settings = dict(config.get("config") or {})
    settings["Cmd"] = list(cmd)
    settings["Labels"] = {**(settings.get("Labels") or {}), RUNTIME_LABEL: runtime}
    config["config"] = settings
    rootfs = dict(config.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = [*list(rootfs.get("diff_ids") or []), diff_id]
    config["rootfs"] = rootfs
    history = list(config.get("history") or [])
    history.append({"created": created, "created_by": CREATED_BY, "comment": "lambdazip"})
    history.append(
        {
            "created": created,
            "created_by": f"CMD {json.dumps(list(cmd))}",
            "comment": "lambdazip",
            "empty_layer": True,
        }
    )
    config["history"] = history
    for leftover in ("container", "container_config"):  # a commit's, not this image's
        config.pop(leftover, None)
    return canonical(config)


def job_config(config: bytes, diff_id: str, workdir: str, cmd: Sequence[str]) -> bytes:
    """The config of the build image lambdazip makes on a function image it built: the image
    plus the layer of its scripts (``diff_id``), what the Dockerfile's COPY, ENTRYPOINT [] and CMD
    would give, made as bytes (a Dockerfile build of it takes seconds; loading this, a fraction)."""
    value = json.loads(config)
    settings = dict(value.get("config") or {})
    settings["Entrypoint"] = None
    settings["Cmd"] = list(cmd)
    settings["WorkingDir"] = workdir
    settings["Labels"] = {**(settings.get("Labels") or {}), "io.lambdazip.role": "build"}
    value["config"] = settings
    rootfs = dict(value.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = [*list(rootfs.get("diff_ids") or []), diff_id]
    value["rootfs"] = rootfs
    history = list(value.get("history") or [])
    history.append({"created": value.get("created"), "created_by": "COPY lambdazip/inside"})
    value["history"] = history
    return canonical(value)


def image_manifest(config: bytes, layers: Sequence[Descriptor]) -> bytes:
    """One Docker v2 schema 2 manifest; every gzip'd layer given its Docker media type (the same
    bytes: OCI and Docker name gzip'd tars differently)."""
    return canonical(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": Descriptor(DOCKER_CONFIG, digest_of(config), len(config)).json(),
            "layers": [
                Descriptor(DOCKER_LAYER_GZIP, layer.digest, layer.size).json() for layer in layers
            ],
        }
    )


def _member(tar: tarfile.TarFile, name: str, data: bytes | None = None, size: int = 0) -> None:
    entry = tarfile.TarInfo(name)
    entry.mtime = 0
    entry.mode = 0o644
    if data is not None:
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))
    else:
        entry.type = tarfile.DIRTYPE
        entry.mode = 0o755
        tar.addfile(entry)


def load_archive(
    out: BinaryIO, config: bytes, tag: str | None, diff_ids: Sequence[str], new_layer: Path
) -> None:
    """The archive ``docker load`` takes (its own format, which every engine version reads):
    the config, the new layer, and a manifest.json naming every layer. The base's layers are
    named but not included: the engine has them (the base image is on it), and a layer it has
    is never read from the archive. So a load moves one layer, not the whole image."""
    config_name = f"{digest_of(config).removeprefix('sha256:')}.json"
    layers = [f"{d.removeprefix('sha256:')}/layer.tar" for d in diff_ids]
    manifest = [{"Config": config_name, "RepoTags": [tag] if tag else None, "Layers": layers}]
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _member(tar, config_name, config)
        entry = tarfile.TarInfo(layers[-1])
        entry.size = new_layer.stat().st_size
        entry.mode = 0o644
        with new_layer.open("rb") as fh:
            tar.addfile(entry, fh)
        _member(tar, "manifest.json", canonical(manifest))


def oci_archive(
    out: BinaryIO,
    manifest: bytes,
    blobs: Iterable[tuple[str, Path | bytes]],
    name: str | None,
) -> None:
    """An OCI image layout as a tar: ``oci-layout``, ``index.json`` naming the one manifest (with
    ``name`` as its ref name) and every blob under blobs/sha256/. Pushable by skopeo, crane,
    oras or regctl (``oci-archive:FILE``), and what ``check --image`` reads."""
    annotations = {"org.opencontainers.image.ref.name": name} if name else None
    descriptor: dict[str, Any] = {
        "mediaType": DOCKER_MANIFEST,
        "digest": digest_of(manifest),
        "size": len(manifest),
    }
    if annotations:
        descriptor["annotations"] = annotations
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _member(tar, "oci-layout", canonical({"imageLayoutVersion": "1.0.0"}))
        _member(tar, "index.json", canonical(index))
        _member(tar, "blobs")
        _member(tar, "blobs/sha256")
        _member(tar, f"blobs/sha256/{digest_of(manifest).removeprefix('sha256:')}", manifest)
        seen: set[str] = set()
        for digest, blob in blobs:
            if digest in seen:
                continue
            seen.add(digest)
            name_in = f"blobs/sha256/{digest.removeprefix('sha256:')}"
            if isinstance(blob, bytes):
                _member(tar, name_in, blob)
                continue
            entry = tarfile.TarInfo(name_in)
            entry.size = blob.stat().st_size
            entry.mode = 0o644
            with blob.open("rb") as fh:
                tar.addfile(entry, fh)
