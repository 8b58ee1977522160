"""Facts about one ELF object (shared object or executable), read with pyelftools. No judgement
here: see checks.py.

What the dynamic loader needs is read from the dynamic segment, as the loader reads it, so an
object whose section headers were stripped (``sstrip``, some packers) is judged like any other:
DT_NEEDED, the version needs (DT_VERNEED: ``GLIBC_2.28``, ``GLIBC_ABI_DT_RELR``) and the undefined
dynamic symbols the object imports (for the Python C-API it calls).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from elftools.common.utils import struct_parse
from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile

_GLIBC_VERSION = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.\d+)?$")
# version needs that are not numbered, and the glibc release that first provides them
_GLIBC_NAMED = {"GLIBC_ABI_DT_RELR": (2, 36)}

# Magic numbers of the object formats a wrong host leaves behind.
_FOREIGN_MAGIC = {
    b"\xcf\xfa\xed\xfe": "a Mach-O object (macOS)",
    b"\xce\xfa\xed\xfe": "a Mach-O object (macOS)",
    b"\xca\xfe\xba\xbe": "a universal Mach-O object (macOS)",
    b"MZ": "a PE/COFF object (Windows)",
}
ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class ElfFacts:
    machine: str  # e_machine as pyelftools names it, e.g. "EM_AARCH64"
    elf_class: int  # 32 or 64
    needed: tuple[str, ...]  # DT_NEEDED
    glibc_needs: tuple[str, ...] = ()  # every GLIBC_* version it needs (DT_VERNEED)
    python_symbols: tuple[str, ...] = ()  # undefined dynamic symbols of the C-API (Py*, _Py*)

    @property
    def glibc_max(self) -> tuple[int, int] | None:
        """The newest glibc release its version needs ask for."""
        versions = [v for v in map(glibc_release, self.glibc_needs) if v is not None]
        return max(versions) if versions else None

    @property
    def is_musl(self) -> bool:
        return any(n == "libc.so" or n.startswith("libc.musl-") for n in self.needed)

    @property
    def glibc_text(self) -> str | None:
        """The need that asks for the newest glibc, as the object names it."""
        newest = self.glibc_max
        if newest is None:
            return None
        return next(n for n in sorted(self.glibc_needs) if glibc_release(n) == newest)


def glibc_release(need: str) -> tuple[int, int] | None:
    """The glibc release that provides a version need (``GLIBC_2.28`` -> (2, 28))."""
    match = _GLIBC_VERSION.match(need)
    if match:
        return int(match[1]), int(match[2])
    return _GLIBC_NAMED.get(need)


class NotElf(Exception):
    """The bytes are not a (readable) ELF object. The message says what they are instead."""


def describe_foreign(data: bytes) -> str:
    for magic, what in _FOREIGN_MAGIC.items():
        if data.startswith(magic):
            return what
    return "not an ELF object"


def is_foreign_binary(data: bytes) -> bool:
    """A Mach-O or PE object: a binary for macOS or Windows."""
    return any(data.startswith(magic) for magic in _FOREIGN_MAGIC)


def _version_needs(elf: ELFFile, dynamic: DynamicSegment) -> list[str]:
    """The names in DT_VERNEED, walked from the dynamic segment (no section headers needed)."""
    tags = {str(tag.entry.d_tag): int(tag.entry.d_val) for tag in dynamic.iter_tags()}
    address, count = tags.get("DT_VERNEED"), tags.get("DT_VERNEEDNUM", 0)
    if address is None:
        return []
    strings = dynamic._get_stringtable()
    offset = next(elf.address_offsets(address))
    names: list[str] = []
    for _ in range(min(count, 1024)):
        verneed = struct_parse(elf.structs.Elf_Verneed, elf.stream, stream_pos=offset)
        aux = offset + verneed["vn_aux"]
        for _ in range(min(verneed["vn_cnt"], 1024)):
            vernaux = struct_parse(elf.structs.Elf_Vernaux, elf.stream, stream_pos=aux)
            names.append(strings.get_string(vernaux["vna_name"]))
            if not vernaux["vna_next"]:
                break
            aux += vernaux["vna_next"]
        if not verneed["vn_next"]:
            break
        offset += verneed["vn_next"]
    return names


def _python_imports(dynamic: DynamicSegment) -> list[str]:
    names = []
    for symbol in dynamic.iter_symbols():
        name = symbol.name
        if symbol["st_shndx"] == "SHN_UNDEF" and name.startswith(("Py", "_Py")):
            names.append(name)
    return names


def read_elf(data: bytes, python_symbols: bool = False) -> ElfFacts:
    """The facts of an ELF object; :class:`NotElf` for anything else or anything broken. The
    C-API symbols it imports only with ``python_symbols`` (a walk of the dynamic symbols)."""
    if not data.startswith(ELF_MAGIC):
        raise NotElf(describe_foreign(data))
    try:
        elf = ELFFile(io.BytesIO(data))
        needed: list[str] = []
        needs: list[str] = []
        python: list[str] = []
        for segment in elf.iter_segments():
            if isinstance(segment, DynamicSegment):
                needed += [str(t.needed) for t in segment.iter_tags("DT_NEEDED")]  # type: ignore[attr-defined]
                needs += [n for n in _version_needs(elf, segment) if n.startswith("GLIBC_")]
                python += _python_imports(segment) if python_symbols else []
        return ElfFacts(
            machine=str(elf["e_machine"]),
            elf_class=elf.elfclass,
            needed=tuple(needed),
            glibc_needs=tuple(sorted(set(needs))),
            python_symbols=tuple(sorted(set(python))),
        )
    except Exception as exc:  # pyelftools raises many types on hostile input
        raise NotElf(f"a malformed ELF object ({type(exc).__name__}: {exc})") from exc
