"""What the scripts in the image write back to the host, as versioned types: the pack, the install,
the wheels installed, the slimming and invoke's outcome. The scripts write them with dump(); the
host reads them with load(), which validates every field against its type and refuses another
schema. Standard library only, beside lambdazip_contract in the image."""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields, is_dataclass
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

RESULT_SCHEMA = 1  # of every result below; the host refuses another


class ResultError(ValueError):
    """A result file that is not what this contract describes (the message says where)."""


@dataclass(frozen=True)
class Packed:
    """The zip packed in the image (lambdazip_zip.write)."""

    sha256: str
    zipped_size: int
    unzipped_size: int
    files: int


@dataclass(frozen=True)
class PackResult:
    """OUT_DIR/PACKED: the zip, what made its bytes, and what was left out of it (path, why)."""

    packed: Packed
    producer: dict[str, Any]  # lambdazip_zip.producer(): python, implementation, zlib, level
    dropped: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Wheel:
    filename: str
    sha256: str


@dataclass(frozen=True)
class WheelsResult:
    """OUT_DIR/WHEELS: the file each distribution was installed from (pip's report)."""

    wheels: dict[str, Wheel]


@dataclass(frozen=True)
class Removal:
    path: str
    reason: str  # --exclude NAME, --prune, --strip
    bytes: int


@dataclass(frozen=True)
class SlimResult:
    """OUT_DIR/SLIMMED: what --exclude, --prune and --strip removed."""

    removals: tuple[Removal, ...]


@dataclass(frozen=True)
class InstallResult:
    """OUT_DIR/INSTALLED: the installer that ran (its version line) and how long each step took."""

    installer: str
    timings: dict[str, float]


@dataclass(frozen=True)
class Invocation:
    """One event's outcome, as Lambda reports it (invoke.py)."""

    ok: bool
    result: Any
    error: dict[str, Any] | None
    init_ms: float | None  # the first invocation of a sandbox only: a cold start
    duration_ms: float | None
    request_id: str | None = None
    billed_ms: int | None = None
    memory_mb: int | None = None
    max_memory_mb: int | None = None
    report: str | None = None  # CloudWatch's REPORT line

    @classmethod
    def failed(cls, kind: str, message: str, memory: int) -> Invocation:
        """An outcome the runtime could not write (the container ended first)."""
        error = {"errorType": kind, "errorMessage": message}
        return cls(False, None, error, None, None, memory_mb=memory)


@dataclass(frozen=True)
class InvokeOutcome:
    """OUTCOME: what invoke.py saw; ``image`` (its Python and machine) when they are not the
    target's, ``no_runtime_client`` when the image has no awslambdaric."""

    ok: bool
    invocations: tuple[Invocation, ...] = ()
    image: dict[str, str] | None = None
    no_runtime_client: bool = False


def dump(result: Any) -> str:
    """A result as its file holds it."""
    return json.dumps(
        {"schema_version": RESULT_SCHEMA, **asdict(result)}, sort_keys=True, default=str
    )


def load(kind: type[_R], text: str | bytes) -> _R:
    """The result of type ``kind`` a file holds, or ResultError naming what is wrong."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ResultError(f"{kind.__name__} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ResultError(f"{kind.__name__} is not a JSON object")
    version = document.pop("schema_version", None)
    if version != RESULT_SCHEMA:
        raise ResultError(f"{kind.__name__} schema {version!r}, expected {RESULT_SCHEMA}")
    result: _R = _typed(document, kind, kind.__name__)
    return result


_R = TypeVar("_R")


def _typed(value: Any, hint: Any, where: str) -> Any:
    """``value`` (parsed JSON) as ``hint`` says it is, or ResultError."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, UnionType):
        for option in args:
            try:
                return _typed(value, option, where)
            except ResultError:
                continue
        raise ResultError(f"{where} is {type(value).__name__}, not {hint}")
    if is_dataclass(hint):
        if not isinstance(value, dict):
            raise ResultError(f"{where} is not an object")
        hints = get_type_hints(hint)
        unknown = sorted(set(value) - set(hints))
        if unknown:
            raise ResultError(f"{where} has unknown keys: {', '.join(unknown)}")
        missing = [
            f.name
            for f in fields(hint)
            if f.name not in value and f.default is MISSING and f.default_factory is MISSING
        ]
        if missing:
            raise ResultError(f"{where} lacks {', '.join(missing)}")
        made: Any = hint  # a dataclass: called with its fields
        return made(**{k: _typed(v, hints[k], f"{where}.{k}") for k, v in value.items()})
    if origin is tuple:
        if not isinstance(value, list):
            raise ResultError(f"{where} is not a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ResultError(f"{where} has {len(value)} items, not {len(args)}")
        return tuple(
            _typed(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ResultError(f"{where} is not an object")
        return {k: _typed(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if hint is type(None):
        if value is None:
            return None
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, hint):
        return value
    raise ResultError(f"{where} is {type(value).__name__}, not {getattr(hint, '__name__', hint)}")
