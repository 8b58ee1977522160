"""The one exception family, and the one table of exit codes. Each class carries its exit code;
each instance says what failed and, in ``tip``, what to do. The CLI catches them once and prints a
single line (plus the tip). Each code means one thing; subclasses share their parent's code and
meaning. docs/errors.md's exit-code table is generated from EXIT_CODES
(``python -m tests.bad_inputs``), and a test fails if they drift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic stays out of commands that never meet a finding (a no-op build)
    from lambdazip.judge.findings import Finding


class LambdaZipError(Exception):
    """A failure of no more specific kind (the base of every error a user can hit)."""

    exit_code = 1

    def __init__(self, message: str, *, tip: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tip = tip


class UsageError(LambdaZipError):
    """The command line or its inputs are wrong."""

    exit_code = 2


class CheckFailed(LambdaZipError):
    """The artifact does not fit its target (the findings were printed)."""

    exit_code = 3


class BuildChecksFailed(CheckFailed):
    """A build's result does not fit its target: nothing was written."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__(
            f"the build does not fit its target: {len(findings)} error(s); no artifact was written",
            tip="fix the errors listed above",
        )
        self.findings = findings


class PublishRefused(CheckFailed):
    """A zip does not fit the runtime and architecture it would be published for: not published."""

    def __init__(self, what: str, findings: list[Finding]) -> None:
        super().__init__(
            f"{what}: {len(findings)} error(s); nothing was published",
            tip="fix the errors listed above, or rebuild for the target its manifest names",
        )
        self.findings = findings


class ArtifactError(LambdaZipError):
    """An input artifact cannot be read at all (a missing path, not a zip or a directory)."""

    exit_code = 4


class OutputError(LambdaZipError):
    """The output cannot be written."""

    exit_code = 5


class EngineError(LambdaZipError):
    """The Docker engine cannot be reached, is too old, was lost, or cannot run the platform."""

    exit_code = 6


class EmulationMissing(EngineError):
    """The engine cannot run containers of the target's architecture."""


class EngineLost(EngineError):
    """The connection to the engine broke in the middle of a job."""


class ImageError(LambdaZipError):
    """An image is absent and cannot be pulled, cannot be built, or is for the wrong platform."""

    exit_code = 7


class ContainerError(LambdaZipError):
    """A container could not be created, fed, run or read."""

    exit_code = 8


class BuildFailed(LambdaZipError):
    """The installer failed inside the image (no wheel for the target, a hash mismatch, ...)."""

    exit_code = 9


class InvokeFailed(LambdaZipError):
    """The handler raised, timed out, or could not be imported or called."""

    exit_code = 10


class MatrixFailed(LambdaZipError):
    """At least one target of `matrix` failed (each was reported)."""

    exit_code = 11


class PublishError(LambdaZipError):
    """Publishing to AWS Lambda failed."""

    exit_code = 12


class UnsafeArchive(LambdaZipError):
    """What came out of the container is not a tree we will write: links out, devices, too big."""

    exit_code = 13


class DeployedError(LambdaZipError):
    """A deployed function or layer could not be read from AWS (check --function/--layer-arn)."""

    exit_code = 15


class TimedOut(LambdaZipError):
    """A container did not finish within its time limit (and was killed)."""

    exit_code = 14


class NotReproduced(LambdaZipError):
    """`verify`: the rebuild from the manifest's inputs did not give the same bytes."""

    exit_code = 16


class RegistryError(LambdaZipError):
    """An image registry cannot be reached, refuses the credentials, or lacks what was asked."""

    exit_code = 17

    def __init__(
        self,
        message: str,
        *,
        tip: str | None = None,
        status: int | None = None,
        racing: bool = False,
    ) -> None:
        super().__init__(message, tip=tip)
        # the HTTP status of the registry's refusal; 0: it did not answer; None: not a refusal
        self.status = status
        # a refusal that another client writing the same content at this moment can cause
        # (asked again, it may succeed): see Registry.blob_exists and put_manifest
        self.racing = racing


class DamagedBlob(RegistryError):
    """What a registry sent is not what its digest names (a damaged or truncated copy)."""


INTERRUPTED = 130  # Ctrl-C or SIGTERM: everything was cleaned up, nothing was written
BROKEN_PIPE = 141  # 128 + SIGPIPE, as for any program whose reader went away

# code -> (class, meaning): the table docs/errors.md shows
EXIT_CODES: dict[int, tuple[str, str]] = {0: ("", "success (warnings may have been printed)")}
for _class in (
    LambdaZipError,
    UsageError,
    CheckFailed,
    ArtifactError,
    OutputError,
    EngineError,
    ImageError,
    ContainerError,
    BuildFailed,
    InvokeFailed,
    MatrixFailed,
    PublishError,
    UnsafeArchive,
    TimedOut,
    DeployedError,
    NotReproduced,
    RegistryError,
):
    assert _class.exit_code not in EXIT_CODES, f"exit code {_class.exit_code} is taken"
    EXIT_CODES[_class.exit_code] = (_class.__name__, (_class.__doc__ or "").strip())
EXIT_CODES[INTERRUPTED] = ("", "interrupted (Ctrl-C, SIGTERM): cleaned up, nothing written")
EXIT_CODES[BROKEN_PIPE] = (
    "",
    "the reader of the output went away (`... | head -1`): nothing more said",
)


def one_line(text: str, limit: int = 300) -> str:
    """What another program said, as part of one line of ours: markup dropped (a proxy's HTML
    page), whitespace and line breaks collapsed, at most ``limit`` characters."""
    import re

    words = " ".join(re.sub(r"<[^>]*>", " ", text).split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "\u2026"


def exit_code_table() -> str:
    """EXIT_CODES as a markdown table."""
    lines = ["| exit | error | meaning |", "|---:|---|---|"]
    for code, (name, meaning) in sorted(EXIT_CODES.items()):
        lines.append(f"| {code} | {f'`{name}`' if name else ''} | {meaning} |")
    return "\n".join(lines) + "\n"
