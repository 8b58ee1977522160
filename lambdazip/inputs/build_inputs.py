"""The options every build command takes, declared once: a field of ``BuildInputs`` is an option's
name, type, default, help, validation and where it may come from. From that one declaration come
the command-line flags of layer, function, matrix and build (cli/arguments.py), the environment
variables (``LAMBDAZIP_<FLAG>``), the keys of ``[tool.lambdazip]`` (top level, and each layer or
function), the help text with its real default, what the manifest records and what `verify` reads
back. The precedence, as cibuildwheel's: the command line, then the environment, then the
artifact's table, then the file's top level, then the default.

Adding an option: one field here with ``declare(...)``; then use ``plan.inputs.NAME`` where it
acts. tests/test_build_inputs.py fails if the manifest forgets a recorded one."""

from __future__ import annotations

import dataclasses
import enum
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdazip.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the 3.10 host
    import tomli as tomllib

Given = tuple[tuple[str, Any], ...]  # the options the command line gave: (field, value)


class Installer(str, enum.Enum):
    PIP = "pip"  # the image's own
    UV = "uv"  # pinned and hash-verified (lambdazip/inside/uv-requirements.txt)


class Bytecode(str, enum.Enum):
    CHECKED_HASH = "checked-hash"
    UNCHECKED_HASH = "unchecked-hash"
    NONE = "none"


DEFAULT_INSTALLER = Installer.UV  # faster on every target of bench/ (BENCHMARKS.md)
DEFAULT_BYTECODE = Bytecode.UNCHECKED_HASH  # /opt and /var/task are read-only: sources never change


@dataclass(frozen=True)
class Declared:
    """How one field of BuildInputs reaches a build."""

    flag: str  # --strip
    help: str  # what it does; the default is added from the field
    metavar: str | None = None
    group: str = ""  # an argparse group's title ("" the command's own options)
    config: bool = True  # may be set in [tool.lambdazip]
    off: tuple[str, Any, str] | None = None  # a second flag setting one value: (flag, value, help)
    recorded: str = ""  # why the manifest leaves it out ("": it is recorded, and verify uses it)
    # a text option (its default None): what makes the text a value, raising UsageError
    text: Callable[[str], Any] | None = None

    @property
    def key(self) -> str:
        """Its key in [tool.lambdazip]: the flag without dashes."""
        return self.flag.removeprefix("--")

    @property
    def variable(self) -> str:
        return "LAMBDAZIP_" + self.key.upper().replace("-", "_")


def declare(default: Any, flag: str, help: str, **more: Any) -> Any:
    return dataclasses.field(default=default, metadata={"declared": Declared(flag, help, **more)})


SLIM = "smaller, on request (each removal is in the manifest)"
SHARED = (
    "a shared artifact cache: sets (zip, manifest, SBOM) kept in an OCI registry under their "
    "cache key, with docker's login (or, for ECR, boto3's); a registry that fails only warns"
)
NOT_THE_BYTES = "decides where the artifact comes from and goes, not its bytes"


def cache_repository(text: str) -> str:
    """A shared cache's REF: a registry repository (its tags are the builds' keys)."""
    from lambdazip.oci.reference import Reference

    tip = "name a repository, e.g. ghcr.io/acme/lambdazip-cache: its tags are the builds' keys"
    try:  # registries take lower-case repository names only (GHCR's OWNER/REPO may have capitals)
        reference = Reference.parse(text.strip().lower())
    except UsageError as exc:
        raise UsageError(f"the cache {text!r} is not a repository's name ({exc.message})",
                         tip=tip) from None  # fmt: skip
    if reference.tag is not None or reference.digest is not None:
        raise UsageError(f"the cache {text!r} names a tag or digest", tip=tip)
    return f"{reference.registry}/{reference.repository}"


@dataclass(frozen=True)
class BuildInputs:
    """How a build installs, slims, judges and reuses: everything but what goes in (the
    requirements, a function's code and layers) and where (the target and its image)."""

    installer: Installer = declare(
        DEFAULT_INSTALLER, "--installer", "pip (the image's) or uv (pinned, hash-verified)"
    )
    bytecode: Bytecode = declare(
        DEFAULT_BYTECODE,
        "--bytecode",
        "PEP 552 hash-based .pyc compiled by the runtime",
        off=(
            "--no-bytecode",
            Bytecode.NONE,
            "ship no .pyc: the smallest zip, the slowest cold start",
        ),
    )
    groups: tuple[str, ...] = declare(
        (), "--group", "a dependency group of the lock to install (PEP 735)", metavar="NAME"
    )
    extras: tuple[str, ...] = declare(
        (), "--extra", "an extra of the project to install", metavar="NAME"
    )
    exclude: tuple[str, ...] = declare(
        (),
        "--exclude",
        "remove an installed distribution (e.g. boto3, which the runtime also has: a warning "
        "says its version there)",
        metavar="NAME",
        group=SLIM,
    )
    prune: bool = declare(
        False,
        "--prune",
        "remove tests/, test/, docs/, doc/, examples/ folders inside distributions (type stubs "
        "stay)",
        group=SLIM,
    )
    strip: bool = declare(
        False,
        "--strip",
        "strip debug symbols from shared objects, with the image's strip (binutils)",
        group=SLIM,
    )
    strict_import: bool = declare(
        False,
        "--strict-import",
        "fail the build when a module's own code raises while importing for an unclear reason, "
        "not only warn (packaging faults always fail; configuration ones only warn)",
    )
    allow_unhashed: bool = declare(
        False,
        "--allow-unhashed",
        "install requirements that carry no --hash",
        recorded="the manifest records require_hashes, what the lock carried; verify allows "
        "unhashed requirements exactly when the build had them",
    )
    cache: str | None = declare(
        None,
        "--cache",
        "both --cache-from and --cache-to this repository",
        metavar="REF",
        group=SHARED,
        recorded=NOT_THE_BYTES,
        text=cache_repository,
    )
    cache_from: str | None = declare(
        None,
        "--cache-from",
        "take a set built from the same inputs from this registry repository, verified by "
        "digest, instead of building it (no container starts)",
        metavar="REF",
        group=SHARED,
        recorded=NOT_THE_BYTES,
        text=cache_repository,
    )
    cache_to: str | None = declare(
        None,
        "--cache-to",
        "push each set built here to this registry repository",
        metavar="REF",
        group=SHARED,
        recorded=NOT_THE_BYTES,
        text=cache_repository,
    )
    no_cache: bool = declare(
        False,
        "--no-cache",
        "neither reuse an up-to-date artifact, nor a shared cache's, nor the download cache "
        "volume (a set built is still pushed to --cache-to)",
        config=False,
        recorded="decides whether to build and where downloads come from, not the bytes",
    )
    force: bool = declare(
        False,
        "--force",
        "build even if the artifact is up to date",
        config=False,
        recorded="decides whether to build, not the bytes",
    )

    @property
    def pull_from(self) -> str | None:
        """The shared cache a set is taken from, if any (none when rebuilding is asked)."""
        if self.no_cache or self.force:
            return None
        return self.cache_from or self.cache

    @property
    def push_to(self) -> str | None:
        return self.cache_to or self.cache

    def record(self) -> dict[str, Any]:
        """The recorded inputs, as the manifest's JSON holds them (InputsModel)."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f, declared in declarations()
            if not declared.recorded
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any], **more: Any) -> BuildInputs:
        """What a manifest recorded, as a build's inputs again (for `verify`); ``more`` sets the
        ones it does not record."""
        values = {
            f.name: _parse(f, declared, record[f.name], "the manifest")
            for f, declared in declarations()
            if not declared.recorded and record.get(f.name) is not None
        }
        return cls(**values, **more)


def declarations() -> list[tuple[dataclasses.Field[Any], Declared]]:
    return [(f, f.metadata["declared"]) for f in dataclasses.fields(BuildInputs)]


def default_text(field: dataclasses.Field[Any]) -> str:
    """The default as a user types it."""
    default = field.default
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, tuple) or default is None:
        return "none"
    return str(_plain(default))


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse(field: dataclasses.Field[Any], declared: Declared, raw: Any, where: str) -> Any:
    """A value from the environment (a string) or a TOML table (its own type), as the field's."""
    default = field.default
    said = (
        f"{where}={raw!r}" if where == declared.variable else f"{where}: {declared.key} = {raw!r}"
    )
    if declared.text is not None:
        if not isinstance(raw, str):
            raise UsageError(f"{said} is not a string", tip=f'e.g. {declared.key} = "..."')
        if not raw.strip():  # an empty variable is an unset one (a CI expression's '' branch)
            return None
        try:
            return declared.text(raw)
        except UsageError as exc:
            raise UsageError(f"{said}: {exc.message}", tip=exc.tip) from None
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise UsageError(
            f"{said} is not true or false",
            tip=f"set it to true or false (1 or 0 in {declared.variable})",
        )
    if isinstance(default, tuple):
        items = re.split(r"[\s,]+", raw.strip()) if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise UsageError(
                f"{said} is not a list of names",
                tip=f'e.g. {declared.key} = ["name"]',
            )
        return tuple(i for i in items if i)
    kind = choice_type(field)
    choices = [c.value for c in kind if c.value not in _off_values(declared)]
    if isinstance(raw, str) and raw in choices:
        return kind(raw)
    raise UsageError(
        f"{said} is not one of {', '.join(choices)}",
        tip=f"set {declared.variable if where == declared.variable else declared.key} to one of: "
        f"{', '.join(choices)}",
    )


def choice_type(field: dataclasses.Field[Any]) -> type[enum.Enum]:
    """The enum of a field whose values are named choices."""
    kind = type(field.default)
    assert issubclass(kind, enum.Enum), field.name
    return kind


def _off_values(declared: Declared) -> list[Any]:
    return [_plain(declared.off[1])] if declared.off else []


def resolve(
    given: Given,
    env: Mapping[str, str] = {},
    tables: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> BuildInputs:
    """The inputs of a build: each from the command line (``given``), else the environment, else
    the first of ``tables`` (where, [tool.lambdazip] keys) that sets it, else the default."""
    chosen = dict(given)
    for field, declared in declarations():
        if field.name in chosen:
            continue
        if env.get(declared.variable) is not None:
            chosen[field.name] = _parse(field, declared, env[declared.variable], declared.variable)
            continue
        for where, table in tables:
            if declared.config and declared.key in table:
                chosen[field.name] = _parse(field, declared, table[declared.key], where)
                break
    return BuildInputs(**chosen)


def config_keys() -> dict[str, Declared]:
    """The keys of [tool.lambdazip] (and of each layer and function) the declaration adds."""
    return {d.key: d for _f, d in declarations() if d.config}


def check_table(table: Mapping[str, Any], where: str) -> None:
    """Each declared key of a [tool.lambdazip] table has a value of its type."""
    for field, declared in declarations():
        if declared.config and declared.key in table:
            _parse(field, declared, table[declared.key], where)


def top_level_options(project: Path) -> list[tuple[str, dict[str, Any]]]:
    """The build options at the top of [tool.lambdazip] in ``project``'s pyproject.toml, for the
    commands that build one artifact (layer, function, matrix); none without the file."""
    path = project / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", tip="fix the file") from None
    table = data.get("tool", {}).get("lambdazip")
    if not isinstance(table, dict):
        return []
    options = {k: v for k, v in table.items() if k in config_keys()}
    where = f"{path} [tool.lambdazip]"
    check_table(options, where)
    return [(where, options)]
