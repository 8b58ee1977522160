"""The host's blob store: content-addressed files under the user's cache directory.

An image build needs blobs beyond the engine's reach: the compressed layer written in the build
image, a base image's compressed layers (for a manifest digest, an OCI archive or a push) and its
config. The engine (with its classic image store) keeps layers uncompressed and without their
registry digests, so they are kept here, each under its own sha256, written whole and renamed
into place: a reader never sees half a blob, and two builds writing the same blob both succeed.
Small JSON notes (which compressed blob a diff_id became, a base image's config) live beside
them under ``notes/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from lambdazip.errors import OutputError
from lambdazip.oci.reference import DIGEST

CACHE_VARIABLE = "LAMBDAZIP_CACHE_DIR"
CHUNK = 1024 * 1024


def cache_root(env: Mapping[str, str]) -> Path:
    """LAMBDAZIP_CACHE_DIR, else the platform's user cache directory, + lambdazip."""
    if env.get(CACHE_VARIABLE):
        return Path(env[CACHE_VARIABLE])
    if sys.platform == "win32" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "lambdazip" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "lambdazip"
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lambdazip"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def of(cls, env: Mapping[str, str]) -> BlobStore:
        return cls(cache_root(env) / "oci")

    def path(self, digest: str) -> Path:
        if not DIGEST.fullmatch(digest):  # a digest never becomes a path of its choosing
            raise OutputError(f"{digest!r} is not a sha256 digest", tip="build again with --force")
        algorithm, _, hexdigest = digest.partition(":")
        return self.root / "blobs" / algorithm / hexdigest

    def has(self, digest: str) -> bool:
        return bool(DIGEST.fullmatch(digest)) and self.path(digest).is_file()

    def _staging(self, place: Path) -> Path:
        try:
            place.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create the cache directory {place.parent}: {exc.strerror}",
                tip=f"set {CACHE_VARIABLE} to a writable directory",
            ) from exc
        return place.with_name(f".{place.name}.{secrets.token_hex(6)}.part")

    def put_file(self, source: Path, digest: str | None = None) -> str:
        """Move ``source`` (a file of ours) into the store; its digest, checked if given."""
        found = sha256_of(source)
        if digest is not None and found != digest:
            raise OutputError(f"a blob's content is not its digest: {digest} is {found}")
        place = self.path(found)
        self._staging(place)
        source.replace(place)
        return found

    def put_bytes(self, data: bytes) -> str:
        """``data`` as a blob (kept if the store has it already); its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.has(digest):
            scratch = self.scratch("bytes")
            scratch.write_bytes(data)
            self.put_file(scratch, digest)
        return digest

    def put_stream(self, stream: BinaryIO, digest: str) -> Path:
        """Write ``stream`` as the blob ``digest`` (verified)."""
        place = self.path(digest)
        staged = self._staging(place)
        try:
            hasher = hashlib.sha256()
            with staged.open("xb") as out:
                for chunk in iter(lambda: stream.read(CHUNK), b""):
                    hasher.update(chunk)
                    out.write(chunk)
            if "sha256:" + hasher.hexdigest() != digest:
                raise OutputError(f"a blob's content is not its digest {digest}")
            staged.replace(place)
        finally:
            with contextlib.suppress(OSError):
                staged.unlink(missing_ok=True)
        return place

    def scratch_directory(self) -> Path:
        """A new directory in the store (the same file system as the blobs: a move into place
        is a rename), for the caller to fill and remove."""
        import tempfile

        place = self.root / "tmp"
        self._staging(place / "x")
        return Path(tempfile.mkdtemp(prefix="unpacked-", dir=place))

    def scratch(self, name: str) -> Path:
        """A new file's path in the store, for a writer to fill and put_file() to take."""
        place = self.root / "tmp" / name
        return self._staging(place)

    def note(self, name: str) -> dict[str, Any] | None:
        try:
            value = json.loads((self.root / "notes" / f"{name}.json").read_bytes())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def write_note(self, name: str, value: Mapping[str, Any]) -> None:
        place = self.root / "notes" / f"{name}.json"
        staged = self._staging(place)
        try:
            staged.write_text(json.dumps(value, sort_keys=True))
            staged.replace(place)
        except OSError:  # a note is a cache: losing one costs time, never correctness
            with contextlib.suppress(OSError):
                staged.unlink(missing_ok=True)
