"""The function's configuration as Lambda has it: its environment variables, from
``environment = {...}`` in [tool.lambdazip], then ``--env-file FILE`` (dotenv syntax, read by
python-dotenv), then ``--env NAME=VALUE``, later over earlier. Lambda's rules hold: a name is a
letter then letters, digits or underscores; the names Lambda sets itself are refused; all of it
together is at most 4 KB. The probe, the smoke event and invoke see it; the values never reach
the zip, the manifest, the SBOM or a line the tool prints (the names may)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from lambdazip.errors import UsageError
from lambdazip.inside.lambdazip_contract import RESERVED_VARIABLES

LIMIT = 4096  # bytes: Lambda's limit on a function's environment variables, all together
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]+")

Configuration = tuple[tuple[str, str], ...]  # sorted (name, value) pairs


def parse_env(text: str) -> tuple[str, str]:
    """``--env NAME=VALUE`` (an argparse type); the value may be empty or hold ``=``. A wrong
    one is not echoed: it may be a value given without its name."""
    name, sep, value = text.partition("=")
    if not sep:
        raise UsageError(
            "an --env is not NAME=VALUE (it has no =)", tip="e.g. --env TABLE_NAME=orders"
        )
    return name.strip(), value


def read_env_file(path: Path) -> dict[str, str]:
    """A dotenv file's variables, as python-dotenv's parser reads them (comments, ``export``,
    quotes, escapes); ``${VAR}`` is kept as written: nothing of the host's environment leaks in.
    A line it cannot read is an error naming its number, never its text (a value may be on it)."""
    from dotenv.parser import parse_stream  # only for --env-file

    if not path.is_file():
        raise UsageError(f"--env-file {path} is not a file", tip="pass a file of NAME=VALUE lines")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --env-file {path}: {exc}", tip="fix the file") from None
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            raise UsageError(
                f"--env-file {path}: line {line} is not NAME=VALUE",
                tip="write NAME=VALUE (quote a value with spaces), or start the line with #",
            )
        if binding.key is None:
            continue  # a comment or a blank line
        if binding.value is None:
            raise UsageError(
                f"--env-file {path}: line {line} has no =",
                tip="write NAME= for an empty value, or remove the line",
            )
        values[binding.key] = binding.value
    return values


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
