"""A base image's config and compressed layers: what an image built on it names and pushes.

The engine (with its classic store) keeps a base's layers uncompressed and without their
registry digests. Where the base came from a registry (it has a repo digest), that registry's
manifest for it is read and its layers' blobs are named as they are there: the same bytes, so
the same manifest digest from every host, and nothing compressed here. A base that came from no
registry (built or imported locally) is read out of the engine once and its layers gzip'd into
the blob store. Either way the result is noted per base ID and never worked out again.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from lambdazip.build.engine import Engine, ImageInfo
from lambdazip.build.images import Progress
from lambdazip.errors import ImageError, RegistryError, UsageError
from lambdazip.oci.image import Descriptor, digest_of
from lambdazip.oci.media_types import DOCKER_LAYER_GZIP
from lambdazip.oci.store import BlobStore
from lambdazip.targets import Target

if TYPE_CHECKING:
    from lambdazip.oci.reference import Reference
    from lambdazip.oci.registry import Registry


@dataclass(frozen=True)
class BaseLayers:
    """A base image's config and compressed layers, and where the blobs can be had."""

    config: bytes
    layers: tuple[Descriptor, ...]
    source: str  # "registry REGISTRY/REPOSITORY@DIGEST" or "compressed here"
    registry: str | None  # that reference, to fetch blobs from, if any


def base_layers(
    engine: Engine,
    base: ImageInfo,
    target: Target,
    store: BlobStore,
    env: Mapping[str, str],
    progress: Progress,
) -> BaseLayers:
    """The base's config and compressed layers, known once per base ID."""
    # by where it can come from too: the same image pulled from a registry later takes that
    # registry's blobs, not the ones compressed here before
    where = hashlib.sha256(json.dumps(sorted(base.repo_digests)).encode()).hexdigest()[:16]
    name = f"base-{base.id.removeprefix('sha256:')}-{where}"
    known = store.note(name)
    if known is not None and store.has(str(known.get("config"))):
        return BaseLayers(
            config=store.path(str(known["config"])).read_bytes(),
            layers=tuple(Descriptor(**d) for d in known["layers"]),
            source=str(known["source"]),
            registry=known.get("registry"),
        )
    found = _from_registry(base, target, store, env, progress)
    if found is None:
        found = _compressed_here(engine, base, store, progress)
    store.write_note(
        name,
        {
            "config": digest_of(found.config),
            "layers": [
                {"media_type": d.media_type, "digest": d.digest, "size": d.size}
                for d in found.layers
            ],
            "source": found.source,
            "registry": found.registry,
        },
    )
    return found


def _from_registry(
    base: ImageInfo,
    target: Target,
    store: BlobStore,
    env: Mapping[str, str],
    progress: Progress,
) -> BaseLayers | None:
    """The manifest the base was pulled by (its repo digest), if the registry still serves it
    and its config is this very image (the engine's image ID is its config's digest)."""
    from lambdazip.oci.reference import Reference
    from lambdazip.oci.registry import Registry

    named = base.reference.rsplit("@", 1)[0]
    named = named.rsplit(":", 1)[0] if "/" not in named.rsplit(":", 1)[-1] else named
    # the repository the user named first: an image pulled from several has their digests all
    ordered = sorted(base.repo_digests, key=lambda d: d.rsplit("@", 1)[0] != named)
    for repo_digest in ordered:
        try:
            reference = Reference.parse(repo_digest)
            with Registry.for_reference(reference, env) as registry:
                found = _registry_layers(registry, reference, base, target, store, progress)
        except (RegistryError, UsageError, ValueError, KeyError, TypeError) as exc:
            progress.detail(f"the base's registry cannot serve it: {exc}")
            continue
        if found is not None:
            return found
    return None


def _registry_layers(
    registry: Registry,
    reference: Reference,
    base: ImageInfo,
    target: Target,
    store: BlobStore,
    progress: Progress,
) -> BaseLayers | None:
    """The base's layers as ``reference``'s registry has them, if its manifest is of this very
    image (its config's digest is the engine's image ID) and its layers are gzip'd."""
    progress.step(f"reading the base's manifest from {reference.registry}")
    fetched = registry.get_manifest(reference.repository, str(reference.digest))
    document = json.loads(fetched.data)
    if "manifests" in document:  # an index: this platform's manifest
        chosen = _platform_entry(document, target)
        if chosen is None:
            return None
        fetched = registry.get_manifest(reference.repository, chosen)
        document = json.loads(fetched.data)
    if document.get("config", {}).get("digest") != base.id:
        return None
    layers = tuple(
        Descriptor(str(d["mediaType"]), str(d["digest"]), int(d["size"]))
        for d in document["layers"]
    )
    if any(not d.media_type.endswith("gzip") for d in layers):
        return None
    if not store.has(base.id):
        with tempfile.TemporaryFile() as spool:
            registry.get_blob(reference.repository, base.id, spool)
            spool.seek(0)
            store.put_stream(spool, base.id)
    where = f"{reference.registry}/{reference.repository}@{fetched.digest}"
    return BaseLayers(store.path(base.id).read_bytes(), layers, f"registry {where}", where)


def _platform_entry(index: dict[str, Any], target: Target) -> str | None:
    want = target.arch.info.oci_architecture
    for entry in index.get("manifests", []):
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == want:
            return str(entry["digest"])
    return None


def _compressed_here(
    engine: Engine, base: ImageInfo, store: BlobStore, progress: Progress
) -> BaseLayers:
    """Read the base out of the engine (``docker save``, in either format: engine_source.py) and
    gzip its uncompressed layers into the store (a gzip'd one is kept as it is). Once per base:
    an image that came from no registry has no other compressed form."""
    from lambdazip.oci.engine_source import EngineSource

    progress.step(f"reading the base {base.reference} out of the engine and compressing its layers")
    with EngineSource(engine, base.id) as source:
        manifest = json.loads(source.manifest().data)
        config_digest = str(manifest["config"]["digest"])
        with source.blob(config_digest) as stream:
            config = stream.read()
        if digest_of(config) != base.id:
            raise ImageError(
                f"the engine's copy of {base.reference} has no config of its ID {base.id}",
                tip="pull or build the base image again",
            )
        layers = []
        for layer in manifest["layers"]:
            media_type, digest = str(layer["mediaType"]), str(layer["digest"])
            with source.blob(digest) as stream:
                if media_type.endswith("gzip"):
                    store.put_stream(stream, digest)
                    layers.append(Descriptor(DOCKER_LAYER_GZIP, digest, int(layer["size"])))
                else:
                    layers.append(_gzip_into(store, stream))
    store.put_bytes(config)  # its digest is base.id, checked above
    return BaseLayers(config, tuple(layers), "compressed here", None)


def _gzip_into(store: BlobStore, content: IO[bytes]) -> Descriptor:
    scratch = store.scratch("layer")
    with (
        scratch.open("xb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as out,
    ):
        for chunk in iter(lambda: content.read(1024 * 1024), b""):
            out.write(chunk)
    size = scratch.stat().st_size
    return Descriptor(DOCKER_LAYER_GZIP, store.put_file(scratch), size)
