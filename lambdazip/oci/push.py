"""`image --push REF`: the image's one manifest and its blobs, to any registry.

The bytes pushed are the bytes built: the blobs from the host's store (the base's fetched from
the registry it came from, or mounted there when it is the same registry), then the manifest,
whose digest the registry reports back and which must be the one recorded. Not `docker push`:
the engine would compress the base's layers again, and a digest another compressor makes is not
the one built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.build.images import Progress
from lambdazip.errors import RegistryError
from lambdazip.oci.image import digest_of
from lambdazip.oci.media_types import DOCKER_MANIFEST
from lambdazip.oci.reference import Reference
from lambdazip.oci.registry import Registry

if TYPE_CHECKING:
    from lambdazip.outputs.image_record import ImageRecord


def push(
    target: str,
    manifest: bytes,
    blobs: Sequence[tuple[str, Path]],
    record: ImageRecord,
    env: Mapping[str, str],
    progress: Progress,
) -> str:
    """Push; ``REGISTRY/REPOSITORY@DIGEST`` as the registry reports it."""
    reference = Reference.parse(target)
    digest = digest_of(manifest)
    if reference.digest is not None and reference.digest != digest:
        raise RegistryError(
            f"--push {target} names the digest {reference.digest}, but the image is {digest}",
            tip="push by tag, or name the image's own digest",
        )
    mount_from = _same_registry_source(record, reference)
    registry = Registry.for_reference(reference, env)
    try:
        total = len(blobs)
        for number, (blob, path) in enumerate(blobs, 1):
            size = path.stat().st_size
            progress.step(f"pushing blob {number}/{total} ({size:,} bytes) to {reference.registry}")
            registry.push_blob(
                reference.repository,
                blob,
                size,
                lambda path=path: path.open("rb"),  # type: ignore[misc]
                mount_from=mount_from,
            )
        progress.step(f"pushing the manifest to {reference}")
        pushed = registry.put_manifest(
            reference.repository, reference.tag or digest, DOCKER_MANIFEST, manifest
        )
    finally:
        registry.close()
    if pushed != digest:
        raise RegistryError(
            f"{reference.registry} stored the manifest as {pushed}, not as built ({digest})",
            tip="the registry rewrote it: push to one that keeps manifests as given",
        )
    return f"{reference.registry}/{reference.repository}@{pushed}"


def _same_registry_source(record: ImageRecord, reference: Reference) -> str | None:
    """The base's repository, if it is on the registry pushed to: its layers can be mounted."""
    if not record.base_layers_from.startswith("registry "):
        return None
    source = Reference.parse(record.base_layers_from.removeprefix("registry "))
    return source.repository if source.registry == reference.registry else None
