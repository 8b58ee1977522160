"""Read a requirements file on the host before anything starts: every line a valid requirement
(parsed by packaging), and every requirement pinned by hash unless the user allows otherwise."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lambdazip.errors import UsageError

HASH = re.compile(r"\s--hash[=\s]+(\S+)")
# NAME==VERSION, the form every lock writes: a valid requirement (PEP 508 name, PEP 440 public
# version) without packaging's parser, which costs a no-op build more than the rest of its work
_PINNED = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?==\d+(?:\.\d+)*"
    r"(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?"
)
# how to lock with hashes, with what users have (never this repository's own Makefile)
LOCK_COMMAND = (
    "`uv pip compile --generate-hashes requirements.in -o requirements.txt` (or `uv lock`)"
)
_TIP_LOCK = f"lock them with hashes: {LOCK_COMMAND}; or pass --allow-unhashed"


@dataclass(frozen=True)
class Requirements:
    path: Path
    text: str
    requirements: tuple[str, ...]  # the requirement of each logical line, e.g. "pydantic==2.14.3"
    hashed: tuple[bool, ...]  # whether that line carries --hash

    @property
    def all_hashed(self) -> bool:
        return bool(self.hashed) and all(self.hashed)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, line) with continuations joined and comments dropped, as pip reads."""
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        if pending.strip():
            lines.append((start, pending.strip()))
        pending = ""
    if pending.strip():
        lines.append((start, pending.strip()))
    return lines


def read_requirements(path: Path, *, allow_unhashed: bool, allow_empty: bool) -> Requirements:
    if not path.exists():
        raise UsageError(
            f"requirements file {path} does not exist",
            tip=f"pass -r PATH (a hash-locked pip requirements file, e.g. from {LOCK_COMMAND})",
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a BOM (Windows editors) is fine, as for pip
    except IsADirectoryError:
        raise UsageError(f"requirements file {path} is a directory", tip="pass a file") from None
    except OSError as exc:
        raise UsageError(
            f"cannot read requirements file {path}: {exc.strerror}", tip="check its permissions"
        ) from None
    except UnicodeDecodeError:
        raise UsageError(
            f"requirements file {path} is not UTF-8 text", tip="pass a pip requirements file"
        ) from None
    requirements: list[str] = []
    hashed: list[bool] = []
    for number, line in logical_lines(text):
        if line.startswith("-"):
            raise UsageError(
                f"{path}:{number}: the option {line.split()[0]!r} is not supported here",
                tip="keep only requirements (with --hash) in the file; index settings go in "
                "PIP_INDEX_URL / PIP_EXTRA_INDEX_URL",
            )
        spec = HASH.split(line, maxsplit=1)[0].strip()
        try:
            if not _PINNED.fullmatch(spec):
                from packaging.requirements import Requirement

                Requirement(spec)
        except ValueError as exc:  # packaging's InvalidRequirement
            raise UsageError(
                f"{path}:{number}: {spec!r} is not a valid requirement "
                f"({str(exc).splitlines()[0]})",
                tip="write it as NAME==VERSION, e.g. pydantic==2.14.3",
            ) from None
        requirements.append(spec)
        hashed.append(bool(HASH.search(f" {line}")))
    if not requirements and not allow_empty:
        raise UsageError(
            f"requirements file {path} lists nothing to install",
            tip="add the packages the layer should hold, e.g. pydantic",
        )
    if requirements and not all(hashed) and not allow_unhashed:
        missing = [r for r, h in zip(requirements, hashed, strict=True) if not h]
        raise UsageError(
            f"{path}: {len(missing)} requirement(s) without --hash ({', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}): unverified downloads are refused",
            tip=_TIP_LOCK,
        )
    return Requirements(path, text, tuple(requirements), tuple(hashed))
