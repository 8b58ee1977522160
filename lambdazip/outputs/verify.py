"""`verify`: is a zip what its manifest says it was built from? The comparison of the original
and the rebuild, member by member: pure, over two zip files."""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lambdazip.outputs.report import Manifest, PackerModel


@dataclass(frozen=True)
class Difference:
    """The first member (in archive order) where two zips differ, and how."""

    member: str
    original: str  # "size 12, CRC 0x1a2b3c4d" or "absent"
    rebuilt: str
    why: str


def _describe(info: zipfile.ZipInfo | None) -> str:
    if info is None:
        return "absent"
    return f"size {info.file_size:,}, CRC {info.CRC:#010x}, stored {info.compress_size:,}"


def _stored(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes as stored in the zip (deflated, not inflated): after its local header,
    whose name and extra-field lengths are at offset 26."""
    fh = archive.fp
    assert fh is not None
    fh.seek(info.header_offset + 26)
    name_length, extra_length = struct.unpack("<HH", fh.read(4))
    fh.seek(info.header_offset + 30 + name_length + extra_length)
    return fh.read(info.compress_size)


def first_difference(
    original: Path, rebuilt: Path, manifest: Manifest, rebuilt_manifest: Manifest
) -> Difference:
    """The first member (by name) whose name, metadata or stored bytes differ; for two zips of
    different bytes with equal members, the archive itself."""
    with zipfile.ZipFile(original) as a, zipfile.ZipFile(rebuilt) as b:
        left = {i.filename: i for i in a.infolist()}
        right = {i.filename: i for i in b.infolist()}
        for name in sorted(set(left) | set(right)):
            one, two = left.get(name), right.get(name)
            same = (
                one is not None
                and two is not None
                and (one.CRC, one.file_size, one.compress_size, one.external_attr, one.date_time)
                == (two.CRC, two.file_size, two.compress_size, two.external_attr, two.date_time)
                and _stored(a, one) == _stored(b, two)
            )
            if not same:
                return Difference(
                    name,
                    _describe(one),
                    _describe(two),
                    _why(one, two, name, manifest, rebuilt_manifest),
                )
        order = list(left) != list(right)
    return Difference(
        "(the zip itself)",
        "members in another order" if order else "equal members",
        "members in archive order" if order else "equal members",
        "the members are equal; the archive's own records (order, headers) differ",
    )


def _why(
    one: zipfile.ZipInfo | None,
    two: zipfile.ZipInfo | None,
    name: str,
    manifest: Manifest,
    rebuilt: Manifest,
) -> str:
    before = {d.name: d.version for d in manifest.distributions}
    after = {d.name: d.version for d in rebuilt.distributions}
    moved = sorted(
        f"{n} {before.get(n, 'absent')} -> {after.get(n, 'absent')}"
        for n in set(before) | set(after)
        if before.get(n) != after.get(n)
    )
    if moved:
        return "the installer chose other distributions: " + ", ".join(moved[:3])
    if one is None or two is None:
        return "the file is only in the " + ("rebuild" if one is None else "original")
    if (one.CRC, one.file_size) == (two.CRC, two.file_size):
        then, now = manifest.packed_by, rebuilt.packed_by
        if (one.external_attr, one.date_time) != (two.external_attr, two.date_time):
            return "the same content with other metadata (mode or time)"
        return (
            f"the same content deflated differently (packed by {_packer(then)} then, "
            f"{_packer(now)} now)"
        )
    if name.endswith(".pyc"):
        return "the bytecode differs (another compiler, or sources that differ)"
    return "the content differs"


def _packer(packer: PackerModel | None) -> str:
    if packer is None:
        return "the host (an older lambdazip)"
    return f"Python {packer.python} with zlib {packer.zlib} in the image"
