"""The function's configuration as Lambda has it: its environment variables, from
``environment = {...}`` in [tool.lambdazip], then ``--env-file FILE`` (dotenv syntax, read by
python-dotenv), then ``--env NAME=VALUE``, later over earlier. Lambda's rules hold: a name is a
letter then letters, digits or underscores; the names Lambda sets itself are refused; all of it
together is at most 4 KB. The probe, the smoke event and invoke see it; the values never reach
the zip, the manifest, the SBOM or a line the tool prints (the names may)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import UsageError
from .inside.lambdazip_contract import RESERVED_VARIABLES

LIMIT = 4096  # bytes: Lambda's limit on a function's environment variables, all together
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]+")

Configuration = tuple[tuple[str, str], ...]  # sorted (name, value) pairs


def parse_env(text: str) -> tuple[str, str]:
    """``--env NAME=VALUE`` (an argparse type); the value may be empty or hold ``=``."""
    name, sep, value = text.partition("=")
    if not sep:
        raise UsageError(f"--env {name!r} is not NAME=VALUE", tip="e.g. --env TABLE_NAME=orders")
    return name.strip(), value


def read_env_file(path: Path) -> dict[str, str]:
    """A dotenv file's variables, as python-dotenv reads them (comments, ``export``, quotes,
    escapes); ``${VAR}`` is kept as written: nothing of the host's environment leaks in."""
    from dotenv import dotenv_values  # only for --env-file

    if not path.is_file():
        raise UsageError(f"--env-file {path} is not a file", tip="pass a file of NAME=VALUE lines")
    try:
        values = dotenv_values(path, interpolate=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --env-file {path}: {exc}", tip="fix the file") from None
    bare = [name for name, value in values.items() if value is None]
    if bare:
        raise UsageError(
            f"--env-file {path}: {bare[0]} has no value",
            tip=f"write {bare[0]}= for an empty value, or remove the line",
        )
    return {name: value for name, value in values.items() if value is not None}


def configuration(
    declared: Mapping[str, str] | None = None,
    files: Sequence[Path] = (),
    pairs: Sequence[tuple[str, str]] = (),
) -> Configuration:
    """The function's environment variables, validated as Lambda validates them."""
    merged: dict[str, str] = dict(declared or {})
    for path in files:
        merged.update(read_env_file(path))
    merged.update(pairs)
    for name in merged:
        if name in RESERVED_VARIABLES:
            raise UsageError(
                f"{name} is set by Lambda itself: a function's configuration may not set it",
                tip="use another name for your own setting (Lambda refuses this one)",
            )
        if not _NAME.fullmatch(name):
            raise UsageError(
                f"{name!r} is not a name Lambda accepts for an environment variable",
                tip="a letter, then letters, digits or underscores (at least two characters)",
            )
    size = len(json.dumps(merged, separators=(",", ":"), ensure_ascii=False).encode())
    if size > LIMIT:
        largest = max(merged, key=lambda n: len(n) + len(merged[n]))
        raise UsageError(
            f"the function's environment variables take {size:,} bytes, over the {LIMIT:,} "
            f"bytes Lambda allows (the largest: {largest})",
            tip="keep large settings in SSM Parameter Store or Secrets Manager and read them "
            "in the handler",
        )
    return tuple(sorted(merged.items()))


def configuration_json(pairs: Configuration) -> bytes:
    """The file the scripts in the image read (contract.read_configuration)."""
    return json.dumps(dict(pairs)).encode()
