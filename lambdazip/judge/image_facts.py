"""Gather the facts of a Lambda container image (``check --image``), as facts.py does for a
zip: side effects stop here, image.py only judges.

:func:`gather_image` reads an image through any :class:`~lambdazip.oci.source.ImageSource` (a
registry, an OCI layout, the engine): the manifest the reference names, noting an index and then
going on with the target's entry so that every other check still runs; the config; and each
layer in order, applied one over the other (oci/layers.py), with only /var/task and /opt written
to disk for the zip checks. What the registry sends is parsed into frozen types as carefully as
what a container prints, and every manifest and blob is checked against its digest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lambdazip.errors import ImageError
from lambdazip.inside.lambdazip_contract import OPT, TASK_ROOT
from lambdazip.oci.layers import Rootfs
from lambdazip.oci.media_types import IMAGE_MANIFEST_TYPES as MANIFEST_TYPES
from lambdazip.oci.media_types import INDEX_TYPES
from lambdazip.oci.source import Fetched, ImageSource, media_type_of, sha256_digest, valid_digest
from lambdazip.targets import Arch

CONFIG_LIMIT = 8 * 1024 * 1024  # an image config is a few kB; refuse to read a huge one
_ATTESTATION = ("vnd.docker.reference.type", "attestation-manifest")
_LANG = re.compile(r"^var/lang/lib/python(3\.\d+)(/|$)")


@dataclass(frozen=True)
class IndexEntry:
    """One manifest an image index names."""

    media_type: str
    digest: str
    platform: str | None  # "linux/arm64/v8"; "unknown/unknown" for an attestation
    attestation: bool  # BuildKit's provenance or SBOM, not an image


@dataclass(frozen=True)
class ImageFacts:
    reference: str  # as the user named it
    media_type: str  # of what the reference names: a manifest, or an index
    index: tuple[IndexEntry, ...]  # the index's entries; empty when it names one manifest
    manifest_digest: str  # of the manifest judged (the index's entry for the target)
    manifest_media_type: str
    config_media_type: str
    layer_media_types: tuple[str, ...]
    layer_compressions: tuple[str, ...]  # what each blob is, by its magic: gzip, zstd, tar
    os: str
    architecture: str
    variant: str
    entrypoint: tuple[str, ...] | None
    cmd: tuple[str, ...] | None
    env: Mapping[str, str]
    working_dir: str
    user: str
    uncompressed_size: int  # the layers' tar sizes together
    runtime_python: str | None  # "3.12": /var/lang/lib/python3.12/ and /var/lang/bin/python3.12
    task_root: Path | None  # the image's /var/task, extracted
    opt: Path | None  # the image's /opt, extracted
    # what the checks look at outside /var/task and /opt: /lambda-entrypoint.sh and the Python
    # modules of the runtime's own directories (/var/runtime, its site-packages)
    runtime_files: frozenset[str] = frozenset()
    skipped: tuple[str, ...] = ()  # layer members not extracted: unsafe names, links out

    @property
    def platform(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)


class _Platform(_Model):
    os: str = ""
    architecture: str = ""
    variant: str = ""


class _Descriptor(_Model):
    media_type: str = Field("", alias="mediaType")
    digest: str
    platform: _Platform | None = None
    annotations: dict[str, str] = {}


class _Index(_Model):
    manifests: list[_Descriptor]


class _Manifest(_Model):
    config: _Descriptor
    layers: list[_Descriptor] = []


class _RunConfig(_Model):
    entrypoint: list[str] | None = Field(None, alias="Entrypoint")
    cmd: list[str] | None = Field(None, alias="Cmd")
    env: list[str] | None = Field(None, alias="Env")
    working_dir: str = Field("", alias="WorkingDir")
    user: str = Field("", alias="User")


class _Config(_Model):
    os: str = ""
    architecture: str = ""
    variant: str = ""
    config: _RunConfig | None = None  # an image without one runs nothing


_M = TypeVar("_M", bound=_Model)


def _parse(model: type[_M], data: bytes, what: str) -> _M:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise ImageError(
            f"{what} is not what an image's {model.__name__[1:].lower()} holds: "
            f"{exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}"
        ) from None


def _check_digest(data: bytes, digest: str, what: str) -> None:
    """The bytes are what the digest names (the sources hand them over unchecked)."""
    if not valid_digest(digest):
        raise ImageError(f"{what}: {digest!r} is not a digest")
    algorithm, _, expected = digest.partition(":")
    if hashlib.new(algorithm, data).hexdigest() != expected:
        raise ImageError(
            f"{what} does not match its digest {digest}",
            tip="the image is corrupt or was changed while read; pull or export it again",
        )


def _platform(descriptor: _Descriptor) -> str | None:
    p = descriptor.platform
    return "/".join(x for x in (p.os, p.architecture, p.variant) if x) if p else None


def _pick(index: _Index, entries: tuple[IndexEntry, ...], arch: Arch | None, ref: str) -> int:
    """The entry to judge: the one for ``arch``, or the only image there is."""
    images = [i for i, e in enumerate(entries) if not e.attestation]
    platforms = ", ".join(e.platform or "no platform" for e in entries if not e.attestation)
    if arch is not None:
        wanted = arch.info.oci_platform
        for i in images:
            p = index.manifests[i].platform
            if p is not None and f"{p.os}/{p.architecture}" == wanted:
                return i
        raise ImageError(
            f"{ref} is an image index with no manifest for {wanted} (it has: {platforms})",
            tip=f"build it for {wanted}: docker buildx build --platform {wanted} "
            "--provenance=false --sbom=false ...",
        )
    if len(images) != 1:
        raise ImageError(
            f"{ref} is an image index of {len(images)} images ({platforms})",
            tip="pass --arch to say which to check",
        )
    return images[0]


def _runtime_python(paths: set[str]) -> str | None:
    versions = {m[1] for p in paths if (m := _LANG.match(p))}
    found = [v for v in versions if f"var/lang/bin/python{v}" in paths]
    return max(found, key=lambda v: tuple(map(int, v.split(".")))) if found else None


def _runtime_files(paths: set[str], python: str | None) -> frozenset[str]:
    roots = ["var/runtime/"] + ([f"var/lang/lib/python{python}/site-packages/"] if python else [])
    modules = {
        f"/{p}"
        for p in paths
        if p.startswith(tuple(roots))
        and p.endswith((".py", ".pyc", ".so"))
        and "/__pycache__/" not in p
    }
    return frozenset(modules | {f"/{p}" for p in ("lambda-entrypoint.sh",) if p in paths})


def gather_image(
    source: ImageSource, reference: str, arch: Arch | None, workdir: Path
) -> ImageFacts:
    """Read an image's facts through ``source``, extracting its /var/task and /opt below
    ``workdir`` (a directory of the caller's, empty). Raises :class:`ImageError` for what cannot
    be judged at all: a broken manifest, a blob that does not match its digest, an index with no
    image for ``arch``."""
    top = source.manifest()
    if top.digest:
        _check_digest(top.data, top.digest, reference)
    media_type = media_type_of(top)
    entries: tuple[IndexEntry, ...] = ()
    chosen = top
    if media_type in INDEX_TYPES:
        index = _parse(_Index, top.data, f"{reference}'s index")
        entries = tuple(
            IndexEntry(
                d.media_type,
                d.digest,
                _platform(d),
                d.annotations.get(_ATTESTATION[0]) == _ATTESTATION[1],
            )
            for d in index.manifests
        )
        entry = entries[_pick(index, entries, arch, reference)]
        fetched = source.fetch_manifest(entry.digest)
        _check_digest(fetched.data, entry.digest, f"{reference}'s manifest {entry.digest}")
        chosen = Fetched(fetched.media_type or entry.media_type, fetched.data, entry.digest)
    manifest_type = media_type_of(chosen)
    if manifest_type in INDEX_TYPES:
        raise ImageError(f"{reference}: an index inside an index is not an image Lambda runs")
    try:
        manifest = _parse(_Manifest, chosen.data, f"{reference}'s manifest")
    except ImageError:
        if manifest_type in MANIFEST_TYPES:
            raise
        raise ImageError(
            f"{reference} is a {manifest_type or 'document of no media type'}, not an image "
            "manifest: Lambda takes a Docker v2 schema 2 or an OCI image manifest",
            tip="push the image again with docker or buildx",
        ) from None
    with source.blob(manifest.config.digest) as stream:
        data = stream.read(CONFIG_LIMIT + 1)
    if len(data) > CONFIG_LIMIT:
        raise ImageError(f"{reference}'s config is over {CONFIG_LIMIT} bytes: not an image config")
    _check_digest(data, manifest.config.digest, f"{reference}'s config")
    config = _parse(_Config, data, f"{reference}'s config")
    rootfs = Rootfs(workdir)
    compressions, size = [], 0
    for layer in manifest.layers:
        if not valid_digest(layer.digest):
            raise ImageError(f"{reference}: a layer's digest {layer.digest!r} is not a digest")
        with source.blob(layer.digest) as blob:
            compression, layer_size = rootfs.apply(blob, layer.digest)
        compressions.append(compression)
        size += layer_size
    rootfs.finish()
    run = config.config or _RunConfig.model_validate({})
    python = _runtime_python(rootfs.paths)
    task, opt = workdir / TASK_ROOT.lstrip("/"), workdir / OPT.lstrip("/")
    return ImageFacts(
        reference=reference,
        media_type=media_type,
        index=entries,
        manifest_digest=chosen.digest or sha256_digest(chosen.data),
        manifest_media_type=manifest_type,
        config_media_type=manifest.config.media_type,
        layer_media_types=tuple(layer.media_type for layer in manifest.layers),
        layer_compressions=tuple(compressions),
        os=config.os,
        architecture=config.architecture,
        variant=config.variant,
        entrypoint=None if run.entrypoint is None else tuple(run.entrypoint),
        cmd=None if run.cmd is None else tuple(run.cmd),
        env=dict(e.partition("=")[::2] for e in run.env or ()),
        working_dir=run.working_dir,
        user=run.user,
        uncompressed_size=size,
        runtime_python=python,
        task_root=task if task.is_dir() else None,
        opt=opt if opt.is_dir() else None,
        runtime_files=_runtime_files(rootfs.paths, python),
        skipped=tuple(rootfs.skipped),
    )
