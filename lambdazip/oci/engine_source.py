"""An image in the engine, read as the judge reads any image (source.ImageSource).

The engine hands an image over as ``docker save`` writes it, spooled to a temporary file. Docker
25 and later write an OCI image layout, read by OciLayoutSource; earlier engines write their own
format (manifest.json naming a config and one uncompressed tar a layer), presented here as the
Docker v2 schema 2 manifest it stands for, its layers uncompressed (their digests are the
config's diff_ids). What media types the image will have in a registry is the pusher's to decide:
the engine's image is judged on everything else.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO, cast

from lambdazip.build.engine import Engine
from lambdazip.errors import ImageError
from lambdazip.judge.tree import safe_member_path
from lambdazip.oci.image import canonical
from lambdazip.oci.media_types import DOCKER_CONFIG, DOCKER_LAYER_TAR, DOCKER_MANIFEST
from lambdazip.oci.source import Fetched, OciLayoutSource, sha256_digest


class EngineSource:
    def __init__(self, engine: Engine, reference: str) -> None:
        self.reference = reference
        # kept (and removed by close()) rather than deleted on close: Windows opens a file by its
        # name only once it is closed, and an OCI layout is read by name
        spool = tempfile.NamedTemporaryFile(prefix="lambdazip-save-", delete=False)  # noqa: SIM115
        self._spool: IO[bytes] = spool
        self._path = Path(spool.name)
        self._oci: OciLayoutSource | None = None
        self._tar: tarfile.TarFile | None = None
        try:
            for chunk in engine.save(reference):
                self._spool.write(chunk)
            self._spool.flush()
            self._spool.seek(0)
            self._tar = tarfile.open(fileobj=self._spool)  # noqa: SIM115 - closed by close()
            self._members = {
                name: m
                for m in self._tar.getmembers()
                if m.isfile() and (name := safe_member_path(m.name)) is not None
            }
            if "index.json" in self._members and "oci-layout" in self._members:
                self._tar.close()
                self._tar = None
                self._spool.close()
                self._oci = OciLayoutSource(self._path)
            else:
                self._legacy = self._read_legacy()
        except BaseException:
            self.close()
            raise

    def _read(self, name: str) -> bytes:
        assert self._tar is not None
        member = self._members.get(name)
        stream = self._tar.extractfile(member) if member is not None else None
        if stream is None:
            raise ImageError(f"the engine's copy of {self.reference} has no {name}")
        with stream:
            return stream.read()

    def _read_legacy(self) -> tuple[bytes, bytes, dict[str, str]]:
        """(manifest, config, {layer digest: member name}) of the engine's own format."""
        entries = json.loads(self._read("manifest.json"))
        if not isinstance(entries, list) or len(entries) != 1:
            raise ImageError(f"the engine saved {self.reference} as more than one image")
        entry: dict[str, Any] = entries[0]
        config = self._read(str(entry["Config"]))
        diff_ids = json.loads(config).get("rootfs", {}).get("diff_ids", [])
        layers = [str(name) for name in entry.get("Layers", [])]
        if len(layers) != len(diff_ids):
            raise ImageError(
                f"the engine's copy of {self.reference} names a layer count its config does not"
            )
        sizes = [self._members[name].size if name in self._members else 0 for name in layers]
        manifest = canonical(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": {
                    "mediaType": DOCKER_CONFIG,
                    "digest": sha256_digest(config),
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": DOCKER_LAYER_TAR, "digest": d, "size": s}
                    for d, s in zip(diff_ids, sizes, strict=True)
                ],
            }
        )
        return manifest, config, dict(zip(diff_ids, layers, strict=True))

    def manifest(self) -> Fetched:
        if self._oci is not None:
            return self._oci.manifest()
        data = self._legacy[0]
        return Fetched(DOCKER_MANIFEST, data, sha256_digest(data))

    def fetch_manifest(self, digest: str) -> Fetched:
        if self._oci is not None:
            return self._oci.fetch_manifest(digest)
        return self.manifest()

    def blob(self, digest: str) -> BinaryIO:
        if self._oci is not None:
            return self._oci.blob(digest)
        _manifest, config, layers = self._legacy
        if digest == sha256_digest(config):
            copy = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
            copy.write(config)
            copy.seek(0)
            return cast(BinaryIO, copy)
        name = layers.get(digest)
        if name is None:
            raise ImageError(f"the engine's copy of {self.reference} has no blob {digest}")
        assert self._tar is not None
        stream = self._tar.extractfile(self._members[name])
        if stream is None:
            raise ImageError(f"the engine's copy of {self.reference} has no layer {name}")
        return cast(BinaryIO, stream)

    def close(self) -> None:
        if self._oci is not None:
            self._oci.close()
        if self._tar is not None:
            self._tar.close()
        self._spool.close()
        self._path.unlink(missing_ok=True)

    def __enter__(self) -> EngineSource:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
