"""The deterministic image layer: a function zip's files as a gzip'd tar under /var/task. Standard
library only.

Like the zip (lambdazip_zip), the layer is written INSIDE the build image by the runtime's own
interpreter, so its compressed bytes, and with them the image's manifest digest, depend on the
image's zlib and never on the host's. It is made from the checked zip itself, so the image holds
exactly the files that were probed and judged. What would leak into it, and how it is pinned:
- order: a directory before what it holds, each level sorted by name;
- time: every entry's mtime is SOURCE_DATE_EPOCH; the gzip header's time is 0 and names no file;
- owner: uid and gid 0, no user or group names; modes: 0755 for directories, the zip's own
  (0644, or 0755 for executables) for files;
- format: POSIX pax, which needs no extended header for the names and sizes of a Lambda tree;
- compression: gzip at one fixed level.

Run in the image as ``python3 lambdazip_layer.py ZIP OUT_DIR PREFIX EPOCH``; it writes
OUT_DIR/layer.tar.gz and OUT_DIR/layer.json (a LayerResult).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import zipfile
from dataclasses import asdict, dataclass

COMPRESS_LEVEL = 6  # as the zip's deflate: the same trade of size for time
LAYER = "layer.tar.gz"
LAYER_FACTS = "layer.json"
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Layer:
    """A written layer: the digest and size of the compressed blob (what a manifest names), the
    digest of the uncompressed tar (the config's diff_id) and its size."""

    digest: str
    size: int
    diff_id: str
    tar_size: int
    files: int


class _Hashing(io.RawIOBase):
    """Counts and hashes what is written through it on its way to ``sink``."""

    def __init__(self, sink: io.BufferedIOBase | gzip.GzipFile) -> None:
        self.sink = sink
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.sink.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)


def _mode(info: zipfile.ZipInfo) -> int:
    mode = (info.external_attr >> 16) & 0o777
    return 0o755 if mode & 0o111 else 0o644


def _entry(name: str, epoch: int, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type = kind
    entry.mode = mode
    entry.size = size
    entry.mtime = epoch
    entry.uid = entry.gid = 0
    entry.uname = entry.gname = ""
    return entry


def write(zip_path: str, dest: str, prefix: str, epoch: int) -> Layer:
    """Write the files of the zip at ``zip_path`` under ``prefix`` (e.g. ``var/task``) to the new
    file ``dest`` as a gzip'd tar; directories get entries of their own."""
    prefix = prefix.strip("/")
    with zipfile.ZipFile(zip_path) as archive:
        members = sorted(
            (i for i in archive.infolist() if not i.is_dir()), key=lambda i: i.filename
        )
        directories = {prefix}
        for member in members:
            parts = member.filename.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directories.add(prefix + "/" + "/".join(parts[:depth]))
        entries: list[tuple[str, zipfile.ZipInfo | None]] = [(d, None) for d in directories]
        entries += [(f"{prefix}/{m.filename}", m) for m in members]
        # a directory's entry before its contents: sorting on the path's parts does that
        entries.sort(key=lambda e: e[0].split("/"))
        with open(dest, "xb") as raw:
            compressed = _Hashing(raw)
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=compressed, compresslevel=COMPRESS_LEVEL, mtime=0
            ) as zipped:
                plain = _Hashing(zipped)
                with tarfile.open(
                    fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8"
                ) as tar:
                    for name, found in entries:
                        if found is None:
                            tar.addfile(_entry(name + "/", epoch, tarfile.DIRTYPE, 0o755))
                            continue
                        entry = _entry(name, epoch, tarfile.REGTYPE, _mode(found), found.file_size)
                        with archive.open(found) as content:
                            tar.addfile(entry, content)
    return Layer(
        digest="sha256:" + compressed.sha256.hexdigest(),
        size=compressed.size,
        diff_id="sha256:" + plain.sha256.hexdigest(),
        tar_size=plain.size,
        files=len(members),
    )


def main(argv: list[str]) -> int:
    zip_path, out_dir, prefix, epoch = argv
    layer = write(zip_path, os.path.join(out_dir, LAYER), prefix, int(epoch))
    with open(os.path.join(out_dir, LAYER_FACTS), "w") as fh:
        json.dump({"schema_version": 1, **asdict(layer)}, fh, sort_keys=True)
    os.chmod(
        os.path.join(out_dir, LAYER), stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
