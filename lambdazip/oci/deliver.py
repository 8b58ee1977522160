"""What is done with a built image besides loading it: the OCI archive and the push.

Both need every blob: the base's come from the store (compressed here) or from the registry the
base was pulled from (fetched into the store once); the config is made again from the base's
and the record, and must have the recorded digest, as must the manifest: what is delivered is
what was built and proven, or nothing.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.build.images import Progress
from lambdazip.errors import ImageError
from lambdazip.oci.image import Descriptor, digest_of, image_config, image_manifest, oci_archive
from lambdazip.oci.store import BlobStore
from lambdazip.outputs.archive import written_in_place

if TYPE_CHECKING:
    from lambdazip.outputs.image_record import ImageRecord


def image_bytes(record: ImageRecord, store: BlobStore) -> tuple[bytes, bytes]:
    """The image's config and manifest, made again from the base's config (in the store) and the
    record; each must have the recorded digest."""
    base_config = store.path(record.base_image.id)
    if not base_config.is_file():
        raise ImageError(
            f"the blob store lacks the config of the base {record.base_image.reference}",
            tip="build again with --force",
        )
    config = image_config(
        json.loads(base_config.read_bytes()),
        [(layer.diff_id, layer.what) for layer in record.layers],
        record.cmd,
        record.epoch,
        record.target.runtime,
    )
    layers = [Descriptor(d.media_type, d.digest, d.size) for d in record.base_layers]
    layers += [Descriptor(d.media_type, d.digest, d.size) for d in record.layers]
    manifest = image_manifest(config, layers)
    if digest_of(config) != record.image_id or digest_of(manifest) != record.manifest_digest:
        raise ImageError(
            f"{record.tag} made again is not the image recorded ({record.manifest_digest})",
            tip="build again with --force",
        )
    store.put_bytes(config)
    return config, manifest


def blobs(
    record: ImageRecord, store: BlobStore, env: Mapping[str, str], progress: Progress
) -> list[tuple[str, Path]]:
    """Every blob the manifest names, config first, each a file in the store: the base's fetched
    from the registry it came from when not here yet."""
    wanted = [record.image_id, *(layer.digest for layer in record.base_layers)]
    wanted += [layer.digest for layer in record.layers]
    missing = [d for d in wanted if not store.has(d)]
    if missing:
        if not record.base_layers_from.startswith("registry "):
            raise ImageError(
                f"the blob store lacks {len(missing)} blob(s) of {record.tag}",
                tip="build again with --force",
            )
        from lambdazip.oci.reference import Reference
        from lambdazip.oci.registry import Registry

        reference = Reference.parse(record.base_layers_from.removeprefix("registry "))
        with Registry.for_reference(reference, env) as registry:
            for digest in missing:
                progress.step(f"fetching the base's layer {digest[:19]} from {reference.registry}")
                with tempfile.TemporaryFile() as spool:
                    registry.get_blob(reference.repository, digest, spool)
                    spool.seek(0)
                    store.put_stream(spool, digest)
    return [(d, store.path(d)) for d in wanted]


def write_oci_archive(
    dest: Path,
    record: ImageRecord,
    store: BlobStore,
    env: Mapping[str, str],
    progress: Progress,
) -> None:
    """The image as an OCI layout tarball at ``dest``, written whole, then moved into place."""
    _config, manifest = image_bytes(record, store)
    found = blobs(record, store, env, progress)
    progress.step(f"writing {dest}")
    with written_in_place(dest, tip="check --oci-archive's directory") as out:
        oci_archive(out, manifest, found, record.tag)


def push_image(
    target: str,
    record: ImageRecord,
    store: BlobStore,
    env: Mapping[str, str],
    progress: Progress,
) -> str:
    """Push the image to ``target``; REGISTRY/REPOSITORY@DIGEST as the registry reports it."""
    from lambdazip.oci.push import push

    _config, manifest = image_bytes(record, store)
    return push(target, manifest, blobs(record, store, env, progress), record, env, progress)
