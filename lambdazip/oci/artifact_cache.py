"""The shared artifact cache's sets in a registry: the protocol, no policy.

A build's artifact set (its zip, manifest and SBOM) is stored as one OCI 1.1 artifact: an image
manifest with ``artifactType`` ARTIFACT_SET, the spec's empty config, and the three files as its
layers (each titled with its file name), tagged with the build's cache key in the repository the
team names (``--cache-to``). Any registry that keeps OCI manifests keeps it: ECR, GHCR,
Artifactory, a self-hosted distribution registry. The manifest is made as canonical JSON, so two
runners that push the same set push the same bytes.

Pulling verifies every byte: the manifest against the digest the registry reports, each blob
against its descriptor (registry.py), and the files are written only to the caller's scratch
place; whether the set is the one wanted (its key, its zip's sha256, its SBOM) is the caller's
judgement (build/shared_cache.py).
"""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lambdazip.errors import DamagedBlob, RegistryError
from lambdazip.oci.image import canonical, digest_of
from lambdazip.oci.media_types import ARTIFACT_SET, OCI_EMPTY, OCI_MANIFEST
from lambdazip.oci.reference import Reference
from lambdazip.oci.registry import Registry

EMPTY = b"{}"  # the OCI empty descriptor's content
TITLE = "org.opencontainers.image.title"
KEY = "io.lambdazip.cache-key"
PUSH_ATTEMPTS = 4  # a manifest refused for a blob another pusher is writing: tried again
MAX_FILE = 10 * 1024**3  # no set's file is bigger than Lambda's largest artifact (an image)


@dataclass(frozen=True)
class SetFile:
    """One file of a set: its name in the output directory, media type and where it is."""

    name: str
    media_type: str
    path: Path


@dataclass(frozen=True)
class Stored:
    """Where a set is: ``REGISTRY/REPOSITORY@sha256:...``."""

    reference: str
    digest: str


def set_manifest(key: str, files: Sequence[tuple[SetFile, str, int]]) -> bytes:
    """The OCI manifest of a set: ``files`` as (file, digest, size), in the order given."""
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_SET,
        "config": {"mediaType": OCI_EMPTY, "digest": digest_of(EMPTY), "size": len(EMPTY)},
        "layers": [
            {
                "mediaType": f.media_type,
                "digest": digest,
                "size": size,
                "annotations": {TITLE: f.name},
            }
            for f, digest, size in files
        ],
        "annotations": {KEY: key},
    }
    return canonical(document)


def _sha256(path: Path) -> tuple[str, int]:
    from lambdazip.oci.store import sha256_of

    return sha256_of(path), path.stat().st_size


def push_set(repository: str, key: str, files: Sequence[SetFile], env: Mapping[str, str]) -> Stored:
    """Push the set's blobs (those the registry has are not sent), then its manifest under the
    tag ``key``. Raises RegistryError."""
    reference = Reference.parse(repository)
    described = [(f, *_sha256(f.path)) for f in files]
    manifest = set_manifest(key, described)
    with Registry.for_reference(reference, env) as registry:
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                pushed = _push_once(registry, reference.repository, key, described, manifest)
                break
            except RegistryError as exc:
                # another runner pushing the same blobs at this moment: the registry (CNCF
                # distribution's storage) counts one absent, or fails reading it, while it is
                # written; pushed again, a blob the registry has is not sent
                if attempt == PUSH_ATTEMPTS or not exc.racing:
                    raise
                time.sleep(random.uniform(0.1, 0.3) * attempt)  # noqa: S311 - apart, not in step
    return Stored(f"{reference.registry}/{reference.repository}@{pushed}", pushed)


def _push_once(
    registry: Registry,
    repository: str,
    key: str,
    described: Sequence[tuple[SetFile, str, int]],
    manifest: bytes,
) -> str:
    registry.push_blob(repository, digest_of(EMPTY), len(EMPTY), lambda: _bytes_stream(EMPTY))
    for file, digest, size in described:
        registry.push_blob(
            repository,
            digest,
            size,
            lambda path=file.path: path.open("rb"),  # type: ignore[misc]
        )
    return registry.put_manifest(repository, key, OCI_MANIFEST, manifest)


def _bytes_stream(data: bytes) -> BinaryIO:
    return io.BytesIO(data)


class NotStored(Exception):
    """The registry has no set under the key (a plain miss, not a fault)."""


class NotASet(Exception):
    """What the key names is not a set of this version's (said as the reason of a miss)."""


def pull_set(
    repository: str, key: str, wanted: Mapping[str, str], into: Path, env: Mapping[str, str]
) -> Stored:
    """The set tagged ``key``: each file whose name ``wanted`` maps to a media type, written
    (verified) to ``into / name``. Raises NotStored (no such tag), NotASet (something else is
    there) or RegistryError (the registry failed, or a byte differs from its digest)."""
    reference = Reference.parse(repository)
    with Registry.for_reference(reference, env) as registry:
        try:
            fetched = registry.get_manifest(reference.repository, key, accept=(OCI_MANIFEST,))
        except RegistryError as exc:
            if exc.status == 404:
                raise NotStored from None
            raise
        layers = _layers_of(fetched.data, key)
        if set(layers) != set(wanted):
            raise NotASet(f"it holds {', '.join(sorted(layers)) or 'nothing'}")
        for name, (media_type, digest, size) in layers.items():
            if media_type != wanted[name]:
                raise NotASet(f"its {name} is of type {media_type}, not {wanted[name]}")
            if not 0 <= size <= MAX_FILE:
                raise NotASet(f"its {name} claims {size} bytes")
            with (into / name).open("wb") as out:
                got = registry.get_blob(reference.repository, digest, out, size)
            if got != size:
                raise DamagedBlob(
                    f"reading {name} of the set {key[:12]}: {got} bytes, not the {size} its "
                    "manifest says",
                    tip="the registry's copy is damaged: delete it there",
                )
    return Stored(f"{reference.registry}/{reference.repository}@{fetched.digest}", fetched.digest)


def _layers_of(data: bytes, key: str) -> dict[str, tuple[str, str, int]]:
    """{file name: (media type, digest, size)} of a set's manifest; NotASet if it is none."""
    try:
        document = json.loads(data)
        if document.get("artifactType") != ARTIFACT_SET:
            said = document.get("artifactType")
            raise NotASet(f"it is not a lambdazip set (artifactType {said})")
        if document.get("annotations", {}).get(KEY) != key:
            raise NotASet("its manifest names another key")
        found = {}
        for layer in document["layers"]:
            name = layer["annotations"][TITLE]
            if not isinstance(name, str) or "/" in name or "\\" in name or name in ("", ".", ".."):
                raise NotASet(f"it names a file {name!r}")
            found[name] = (str(layer["mediaType"]), str(layer["digest"]), int(layer["size"]))
        return found
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotASet(f"its manifest is not one ({type(exc).__name__})") from None
