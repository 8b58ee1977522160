"""``[tool.lambdazip]`` in pyproject.toml: the layers and functions of a project, each with its
dependencies and targets, validated by pydantic (an unknown key is an error naming it).

    [tool.lambdazip]
    python = ["3.13"]            # the targets of every artifact that names none
    arch = ["x86_64", "arm64"]
    output-dir = "dist"
    installer = "uv"             # any build option (inputs/build_inputs.py), for every artifact
    strip = true

    [tool.lambdazip.engines]     # optional: each architecture's Docker engine (--engine overrides)
    arm64 = "ssh://builder@graviton.internal"

    [tool.lambdazip.layers.deps]
    group = ["lambda"]           # or: lock = "pylock.toml" / requirements = "layer.txt"
    exclude = ["boto3"]          # a build option for this artifact alone

    [tool.lambdazip.functions.api]
    src = "src"
    handler = "orders.app.handler"
    layers = ["deps"]            # Lambda's order; what they provide is left out of the function
    smoke-event = "events/order.json"
    environment = { TABLE_NAME = "orders" }   # its configuration: --env's values
    env-file = ".env.api"        # and --env-file's (over environment)
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lambdazip.errors import UsageError
from lambdazip.inputs.build_inputs import check_table, config_keys
from lambdazip.targets import MAX_LAYERS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the 3.10 host
    import tomli as tomllib


class _Strict(BaseModel):
    """A table whose keys are its fields and the build options BuildInputs declares
    (inputs/build_inputs.py: installer, bytecode, group, extra, exclude, prune, strip, ...),
    which load_config checks by that declaration."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    @property
    def options(self) -> dict[str, Any]:
        """The build options this table sets, by their keys."""
        return dict(self.model_extra or {})


class Dependencies(_Strict):
    """Where an artifact's dependencies come from: one lock or requirements file (default: the
    project's, as --project finds it), and which of its groups and extras."""

    lock: str | None = None  # a pylock.toml or uv.lock, relative to the project
    requirements: str | None = None  # a hash-locked requirements file
    python: list[str] = []  # the targets: default [tool.lambdazip]'s
    arch: list[str] = []

    @model_validator(mode="after")
    def _one_source(self) -> Dependencies:
        if self.lock is not None and self.requirements is not None:
            raise ValueError("give lock or requirements, not both")
        return self

    def file(self, project: Path) -> Path | None:
        chosen = self.lock or self.requirements
        return None if chosen is None else project / chosen


class Layer(Dependencies):
    pass


class Function(Dependencies):
    src: str
    handler: str | None = None
    layers: list[str] = []
    smoke_event: str | None = Field(default=None, alias="smoke-event")
    # its configuration on Lambda, for the import check and the smoke event (never in the zip):
    # values here, and (over them) from a dotenv file kept out of version control
    environment: dict[str, str] = {}
    env_file: str | None = Field(default=None, alias="env-file")


class ProjectConfig(_Strict):
    python: list[str] = []
    arch: list[str] = []
    output_dir: str = Field(default="dist", alias="output-dir")
    engines: dict[Literal["x86_64", "arm64"], str] = {}  # a DOCKER_HOST URL or a docker context
    layers: dict[str, Layer] = {}
    functions: dict[str, Function] = {}

    @model_validator(mode="after")
    def _known_layers(self) -> ProjectConfig:
        seen: dict[str, tuple[str, str]] = {}  # NAME-python3.X-ARCH.zip: one file for two
        for kind, names in (("layers", self.layers), ("functions", self.functions)):
            for name in names:
                first = seen.setdefault(name.casefold(), (kind, name))
                if first == (kind, name):
                    continue
                where = "" if first[1] == name else ", one on a case-insensitive file system"
                raise ValueError(
                    f"{first[0]}.{first[1]} and {kind}.{name} would write the same files "
                    f"({name}-python3.X-ARCH.zip and its manifest{where}): give one another name"
                )
        for name, function in self.functions.items():
            if len(function.layers) > MAX_LAYERS:
                raise ValueError(
                    f"functions.{name} uses {len(function.layers)} layers; a Lambda function "
                    f"may use at most {MAX_LAYERS}"
                )
            if len(set(function.layers)) != len(function.layers):
                twice = next(x for x in function.layers if function.layers.count(x) > 1)
                raise ValueError(
                    f"functions.{name} names layer {twice!r} twice: Lambda takes each once"
                )
            for layer in function.layers:
                if layer not in self.layers:
                    raise ValueError(
                        f"functions.{name} uses layer {layer!r}, which is not declared"
                    )
        return self


def table_of(kind: str, name: str) -> str:
    """An artifact's table as it is written in pyproject.toml: [tool.lambdazip.functions.api],
    [tool.lambdazip.layers."shared.libs"] (a name that is not a bare TOML key is quoted)."""
    key = name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)
    return f"[tool.lambdazip.{kind}.{key}]"


@contextlib.contextmanager
def named_by(table: str) -> Iterator[None]:
    """A UsageError raised inside said as its table's: "[tool.lambdazip.functions.api] ..."
    (the file's terms, not a command line's)."""
    try:
        yield
    except UsageError as exc:
        raise UsageError(f"{table} {exc.message}", tip=exc.tip) from None


def load_config(project: Path) -> ProjectConfig:
    """The project's ``[tool.lambdazip]``, or UsageError naming the key that is wrong."""
    path = project / "pyproject.toml"
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{path} does not exist", tip="run in the project's directory, or pass --project DIR"
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", tip="fix the file") from None
    table = data.get("tool", {}).get("lambdazip")
    if not isinstance(table, dict) or not (table.get("layers") or table.get("functions")):
        raise UsageError(
            f"{path} declares no [tool.lambdazip] layers or functions",
            tip="add [tool.lambdazip.layers.NAME] or [tool.lambdazip.functions.NAME] (see "
            "docs/projects.md)",
        )
    try:
        config = ProjectConfig.model_validate(table)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        what = (
            "is not a known key"
            if error["type"] == "extra_forbidden"
            else error["msg"].removeprefix("Value error, ")
        )
        key = f"tool.lambdazip.{where}" if where else "tool.lambdazip"
        keys = (
            "see docs/projects.md for the [tool.lambdazip] keys: python, arch, output-dir, "
            "engines, layers, functions (src, handler, layers, smoke-event, environment, env-file, "
            f"lock, requirements) and the build options ({', '.join(config_keys())})"
        )
        raise UsageError(
            f"{path}: [{key}] {what}",
            tip=keys if error["type"] == "extra_forbidden" else f"fix it in {path}",
        ) from None
    _check_options(path, "tool.lambdazip", config)
    for kind, tables in (("layers", config.layers), ("functions", config.functions)):
        for name, spec in tables.items():
            _check_options(path, f"tool.lambdazip.{kind}.{name}", spec)
    return config


def _check_options(path: Path, where: str, table: _Strict) -> None:
    """A key that is neither a field nor a declared build option is an error naming it; a
    declared one's value must be of its type."""
    known = config_keys()
    for key in table.options:
        if key not in known:
            raise UsageError(
                f"{path}: [{where}.{key}] is not a known key",
                tip="see docs/projects.md for the [tool.lambdazip] keys, and docs/options.md for "
                "the build options",
            )
    check_table(table.options, f"{path} [{where}]")
