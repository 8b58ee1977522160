"""Where an image's manifests and blobs come from: a registry, an OCI image layout on disk, the
engine. The judge (judge/image.py) reads every image through :class:`ImageSource`, so it never
knows which; this module also holds the smallest source, :class:`OciLayoutSource`, which reads
an OCI image layout (image-spec's ``image-layout.md``): a directory or a tar of one, as
``docker buildx build --output type=oci`` and ``docker save`` (Docker 25+) write.

A source hands bytes over as they are stored: it does not check digests (the gatherer does, for
every source alike) and it never trusts a digest as a path.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol, cast

from lambdazip.errors import ArtifactError, ImageError
from lambdazip.judge.tree import safe_member_path
from lambdazip.oci.media_types import (
    OCI_INDEX,
    OCI_MANIFEST,
)

# algorithm:hex, as image-spec's descriptor.md allows them; anything else never becomes a path
_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")


def valid_digest(digest: str) -> bool:
    return bool(_DIGEST.match(digest))


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Fetched:
    """A manifest (or an index) as its source stored it: the bytes its digest is taken over, and
    the media type the source says it has ("" if it says none)."""

    media_type: str
    data: bytes
    digest: str


class ImageSource(Protocol):
    """What the gatherer reads an image through."""

    def manifest(self) -> Fetched:
        """What the reference names: one image manifest, or an index of them."""
        ...

    def fetch_manifest(self, digest: str) -> Fetched:
        """A manifest an index names, by digest."""
        ...

    def blob(self, digest: str) -> BinaryIO:
        """A config or layer blob, as a stream the caller closes."""
        ...


def media_type_of(fetched: Fetched) -> str:
    """The media type of a manifest: what the source says, else the document's ``mediaType``,
    else its shape (an OCI manifest may leave ``mediaType`` out)."""
    if fetched.media_type and fetched.media_type not in ("application/json", "text/plain"):
        return fetched.media_type
    try:
        document = json.loads(fetched.data)
    except ValueError:
        return fetched.media_type
    if not isinstance(document, dict):
        return fetched.media_type
    declared = document.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if "manifests" in document:
        return OCI_INDEX
    if "layers" in document:
        return OCI_MANIFEST
    return fetched.media_type


class OciLayoutSource:
    """An OCI image layout: ``oci-layout``, ``index.json``, ``blobs/<alg>/<hex>``, in a directory
    or a tar. ``manifest()`` is index.json's one entry when it has exactly one (or the entry
    whose ``org.opencontainers.image.ref.name`` is ``tag``), else index.json itself as an index."""

    def __init__(self, path: Path, tag: str | None = None) -> None:
        self.path = path
        self.tag = tag
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}
        if path.is_file():
            try:
                self._tar = tarfile.open(path)  # noqa: SIM115 (closed by close())
            except (tarfile.TarError, OSError) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a tar"
                raise ArtifactError(
                    f"{path} is not a directory or a tar of an OCI image layout ({why})",
                    tip="write one with docker buildx build --output type=oci,dest=IMAGE.tar",
                ) from exc
            for member in self._tar.getmembers():
                name = safe_member_path(member.name)
                if name is not None and member.isfile():
                    self._members[name] = member
        elif not path.is_dir():
            raise ArtifactError(
                f"{path} does not exist",
                tip="pass an OCI image layout: a directory or a tar with oci-layout and index.json",
            )
        try:
            self._index = self._read_index()
        except BaseException:
            self.close()
            raise

    def _read_index(self) -> dict[str, Any]:
        members = self._members
        if self._tar is not None and "oci-layout" not in members and "manifest.json" in members:
            raise ImageError(
                f"{self.path} is a `docker save` archive of an older engine, not an OCI image "
                "layout",
                tip=f"load it (docker load -i {self.path}) and check the image by name",
            )
        try:
            layout = json.loads(self._read("oci-layout"))
            index = json.loads(self._read("index.json"))
        except ValueError as exc:
            raise ImageError(f"{self.path}: oci-layout or index.json is not JSON ({exc})") from exc
        version = layout.get("imageLayoutVersion") if isinstance(layout, dict) else None
        if not str(version).startswith("1."):
            raise ImageError(
                f"{self.path}: not an OCI image layout (oci-layout names version {version!r})",
                tip="write one with docker buildx build --output type=oci,dest=IMAGE.tar",
            )
        if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
            raise ImageError(f"{self.path}: index.json has no manifests list")
        return index

    def _open(self, name: str) -> BinaryIO:
        if self._tar is None:
            try:
                return (self.path / name).open("rb")
            except OSError as exc:
                raise ImageError(f"{self.path}: no {name} in the image layout") from exc
        member = self._members.get(name)
        stream = self._tar.extractfile(member) if member is not None else None
        if stream is None:
            raise ImageError(f"{self.path}: no {name} in the image layout")
        return cast(BinaryIO, stream)

    def _read(self, name: str) -> bytes:
        with self._open(name) as stream:
            return stream.read()

    def manifest(self) -> Fetched:
        entries = [e for e in self._index["manifests"] if isinstance(e, dict)]
        if self.tag is not None:
            named = "org.opencontainers.image.ref.name"
            entries = [e for e in entries if (e.get("annotations") or {}).get(named) == self.tag]
            if not entries:
                raise ImageError(f"{self.path}: index.json names no image {self.tag!r}")
        if len(entries) == 1:
            entry = entries[0]
            digest = str(entry.get("digest", ""))
            fetched = self.fetch_manifest(digest)
            return Fetched(str(entry.get("mediaType") or fetched.media_type), fetched.data, digest)
        data = self._read("index.json")
        return Fetched(str(self._index.get("mediaType", OCI_INDEX)), data, sha256_digest(data))

    def fetch_manifest(self, digest: str) -> Fetched:
        data = self._read(self._blob_path(digest))
        fetched = Fetched("", data, digest)
        return Fetched(media_type_of(fetched), data, digest)

    def blob(self, digest: str) -> BinaryIO:
        return self._open(self._blob_path(digest))

    def _blob_path(self, digest: str) -> str:
        if not valid_digest(digest):
            raise ImageError(f"{self.path}: {digest!r} is not a digest (algorithm:hex)")
        algorithm, _, hexadecimal = digest.partition(":")
        return f"blobs/{algorithm}/{hexadecimal}"

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()

    def __enter__(self) -> OciLayoutSource:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
