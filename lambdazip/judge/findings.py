"""A finding: one way an artifact does not fit its target, with what to do about it."""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, field_validator


def printable(text: str) -> str:
    """A file name as text any output can carry: bytes that are not UTF-8 (kept by Python as
    surrogates) become ``\\xe9`` escapes instead of breaking JSON or a terminal."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Severity(str, enum.Enum):
    ERROR = "error"  # the artifact will fail (or cannot be deployed): the check fails
    WARNING = "warning"  # it works, but worse than it could: slower, bigger


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str  # stable, for machines: "elf-machine", "ext-suffix", ...
    severity: Severity
    path: str  # the file (or directory) in the artifact it is about
    expected: str
    found: str
    remedy: str

    @field_validator("path", "expected", "found", "remedy")
    @classmethod
    def _printable(cls, value: str) -> str:
        return printable(value)

    def line(self) -> str:
        return (
            f"{self.severity.value}: {self.path}: expected {self.expected}; "
            f"found {self.found}. {self.remedy}"
        )
