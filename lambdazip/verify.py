"""`verify`: is a zip what its manifest says it was built from? The comparison of the original
and the rebuild, member by member: pure, over two zip files."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from .report import Manifest


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


def first_difference(
    original: Path, rebuilt: Path, manifest: Manifest, rebuilt_manifest: Manifest | None
) -> Difference | None:
    """None when every member is equal in name, content and stored bytes."""
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
                and a.open(one).read() == b.open(two).read()
            )
            if not same:
                return Difference(
                    name,
                    _describe(one),
                    _describe(two),
                    _why(one, two, name, manifest, rebuilt_manifest),
                )
    return None


def _why(
    one: zipfile.ZipInfo | None,
    two: zipfile.ZipInfo | None,
    name: str,
    manifest: Manifest,
    rebuilt: Manifest | None,
) -> str:
    before = {d.name: d.version for d in manifest.distributions}
    after = {d.name: d.version for d in rebuilt.distributions} if rebuilt else {}
    moved = sorted(
        f"{n} {before.get(n, 'absent')} -> {after.get(n, 'absent')}"
        for n in set(before) | set(after)
        if before.get(n) != after.get(n)
    )
    if rebuilt is not None and moved:
        return "the installer chose other distributions: " + ", ".join(moved[:3])
    if one is None or two is None:
        return "the file is only in the " + ("rebuild" if one is None else "original")
    if (one.CRC, one.file_size) == (two.CRC, two.file_size):
        packer = manifest.packed_by, rebuilt.packed_by if rebuilt else None
        return (
            "the same content deflated differently (packed by "
            f"{_packer(packer[0])} then, {_packer(packer[1])} now)"
            if one.compress_size != two.compress_size or packer[0] != packer[1]
            else "the same content with other metadata (mode or time)"
        )
    if name.endswith(".pyc"):
        return "the bytecode differs (another compiler, or sources that differ)"
    return "the content differs"


def _packer(packer: object) -> str:
    if packer is None:
        return "the host (an older lambdazip)"
    python = getattr(packer, "python", "?")
    zlib = getattr(packer, "zlib", "?")
    return f"Python {python} with zlib {zlib} in the image"
