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

from lambdazip.oci.media_types import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    OCI_INDEX,
)


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
    layers: Sequence[tuple[str, str]],
    cmd: Sequence[str],
    epoch: int,
    runtime: str,
) -> bytes:
    """The config of ``base_config`` plus ``layers`` ((diff_id, what made it), in order), with
    ``cmd`` as its CMD and the Lambda runtime it is for as a label."""
    config = json.loads(json.dumps(base_config))  # a deep copy that is plain JSON
    created = rfc3339(epoch)
    config["created"] = created
    settings = dict(config.get("config") or {})
    settings["Cmd"] = list(cmd)
    settings["Labels"] = {**(settings.get("Labels") or {}), RUNTIME_LABEL: runtime}
    config["config"] = settings
    rootfs = dict(config.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = [*list(rootfs.get("diff_ids") or []), *(d for d, _ in layers)]
    config["rootfs"] = rootfs
    history = list(config.get("history") or [])
    history += [{"created": created, "created_by": by, "comment": "lambdazip"} for _, by in layers]
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


STORED_BLOCK = 65535  # the most a stored deflate block holds


def stored_gzip(data: bytes) -> bytes:
    """``data`` as a gzip member of stored (uncompressed) deflate blocks, written here byte by
    byte: the same bytes from every zlib there is (a compressor's output is not: zlib, zlib-ng
    and Apple's differ), so a layer of this is the same blob on any host. For the function's
    own code, which is small; the dependencies' layer is compressed in the build image."""
    import struct
    import zlib

    out = bytearray(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # no name, time 0, OS unknown
    blocks = [data[i : i + STORED_BLOCK] for i in range(0, len(data), STORED_BLOCK)] or [b""]
    for number, block in enumerate(blocks, 1):
        out.append(1 if number == len(blocks) else 0)  # BFINAL, BTYPE 00: stored
        out += struct.pack("<HH", len(block), len(block) ^ 0xFFFF) + block
    out += struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return bytes(out)


def code_layer(files: Iterable[tuple[str, bytes, bool]], root: str, epoch: int) -> bytes:
    """The tar of the function's own files (name under ``root``, content, executable), as the
    layer writer in the image makes the dependencies' one: parents first, sorted, owner 0, mode
    0644 or 0755, every time ``epoch``, POSIX pax."""
    root = root.strip("/")
    chosen = sorted(files)
    directories = {root}
    for name, _data, _executable in chosen:
        parts = name.split("/")[:-1]
        directories.update(
            root + "/" + "/".join(parts[:depth]) for depth in range(1, len(parts) + 1)
        )
    entries: list[tuple[str, bytes | None, bool]] = [(d, None, True) for d in directories]
    entries += [(f"{root}/{name}", data, executable) for name, data, executable in chosen]
    entries.sort(key=lambda e: e[0].split("/"))
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8"
    ) as tar:
        for name, data, executable in entries:
            entry = tarfile.TarInfo(name + "/" if data is None else name)
            entry.mtime, entry.uid, entry.gid, entry.uname, entry.gname = epoch, 0, 0, "", ""
            if data is None:
                entry.type, entry.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(entry)
            else:
                entry.mode, entry.size = (0o755 if executable else 0o644), len(data)
                tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


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


def load_archive(out: BinaryIO, images: Sequence[tuple[bytes, str | None, Sequence[Path]]]) -> None:
    """The archive ``docker load`` takes (its own format, which every engine version reads) of
    ``images``: each (config, tag or None, files of its last layers). The layers below those are
    named but not included: the engine has them (the base image is on it), and a layer it has is
    never read from the archive. So a load moves the new layers, not the whole image."""
    entries = []
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for config, tag, files in images:
            config_name = f"{digest_of(config).removeprefix('sha256:')}.json"
            diff_ids = json.loads(config)["rootfs"]["diff_ids"]
            layers = [f"{d.removeprefix('sha256:')}/layer.tar" for d in diff_ids]
            entries.append(
                {"Config": config_name, "RepoTags": [tag] if tag else None, "Layers": layers}
            )
            _member(tar, config_name, config)
            for name, path in zip(layers[len(layers) - len(files) :], files, strict=True):
                entry = tarfile.TarInfo(name)
                entry.size = path.stat().st_size
                entry.mode = 0o644
                with path.open("rb") as fh:
                    tar.addfile(entry, fh)
        _member(tar, "manifest.json", canonical(entries))


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
