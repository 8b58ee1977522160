"""Facts about one shared object, read with pyelftools. No judgement here: see checks.py."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

_GLIBC_VERSION = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.\d+)?$")

# Magic numbers of the object formats a wrong host leaves behind.
_FOREIGN_MAGIC = {
    b"\xcf\xfa\xed\xfe": "a Mach-O object (macOS)",
    b"\xce\xfa\xed\xfe": "a Mach-O object (macOS)",
    b"\xca\xfe\xba\xbe": "a universal Mach-O object (macOS)",
    b"MZ": "a PE/COFF object (Windows)",
}


@dataclass(frozen=True)
class ElfFacts:
    machine: str  # e_machine as pyelftools names it, e.g. "EM_AARCH64"
    elf_class: int  # 32 or 64
    needed: tuple[str, ...]  # DT_NEEDED
    glibc_max: tuple[int, int] | None  # highest GLIBC_x.y in .gnu.version_r

    @property
    def is_musl(self) -> bool:
        return any(n == "libc.so" or n.startswith("libc.musl-") for n in self.needed)

    @property
    def glibc_text(self) -> str | None:
        return None if self.glibc_max is None else f"GLIBC_{self.glibc_max[0]}.{self.glibc_max[1]}"


class NotElf(Exception):
    """The bytes are not a (readable) ELF object. The message says what they are instead."""


def describe_foreign(data: bytes) -> str:
    for magic, what in _FOREIGN_MAGIC.items():
        if data.startswith(magic):
            return what
    return "not an ELF object"


def read_elf(data: bytes) -> ElfFacts:
    """The facts of an ELF object; :class:`NotElf` for anything else or anything broken."""
    if not data.startswith(b"\x7fELF"):
        raise NotElf(describe_foreign(data))
    try:
        elf = ELFFile(io.BytesIO(data))
        needed: list[str] = []
        glibc: list[tuple[int, int]] = []
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                needed.extend(str(tag.needed) for tag in section.iter_tags("DT_NEEDED"))  # type: ignore[attr-defined]
            elif isinstance(section, GNUVerNeedSection):
                for _verneed, auxiliaries in section.iter_versions():
                    for aux in auxiliaries:
                        match = _GLIBC_VERSION.match(aux.name)
                        if match:
                            glibc.append((int(match[1]), int(match[2])))
        return ElfFacts(
            machine=str(elf["e_machine"]),
            elf_class=elf.elfclass,
            needed=tuple(needed),
            glibc_max=max(glibc) if glibc else None,
        )
    except Exception as exc:  # pyelftools raises many types on hostile input
        raise NotElf(f"a malformed ELF object ({type(exc).__name__}: {exc})") from exc
