"""The one exception family. Each class carries its exit code; each instance says what failed and,
in ``tip``, what to do. The CLI catches them once and prints a single line (plus the tip)."""

from __future__ import annotations


class LambdaZipError(Exception):
    """Base of every error a user can hit."""

    exit_code = 1

    def __init__(self, message: str, *, tip: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tip = tip


class UsageError(LambdaZipError):
    """The command line or its inputs are wrong."""

    exit_code = 2


class CheckFailed(LambdaZipError):
    """The artifact does not fit its target (findings were printed)."""

    exit_code = 3


class ArtifactError(LambdaZipError):
    """An input artifact cannot be read at all (missing path, not a zip or directory)."""

    exit_code = 4


class OutputError(LambdaZipError):
    """The output cannot be written."""

    exit_code = 5
