"""Typed options, one frozen dataclass per command: cli/parser.py parses argv into one of these,
and the command's module in cli/commands/ reads nothing else. Field names are the argparse
destinations; the build options are not fields but ``given`` (inputs/build_inputs.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lambdazip.inputs.build_inputs import Given
from lambdazip.inputs.shards import Shard
from lambdazip.targets import Arch, Kind, Runtime


@dataclass(frozen=True)
class CheckOptions:
    path: Path | None  # a local zip or directory; or one of:
    function: str | None  # a deployed function (name or ARN), with its layers
    layer_arn: str | None  # a deployed layer version
    qualifier: str | None
    region: str | None
    python: Runtime | None  # default: the manifest's, or the deployed configuration's
    arch: Arch | None
    kind: Kind | None
    layers: tuple[Path, ...]
    json: bool
    image: str | None = None  # a function image: the engine's, a registry's or an OCI layout


@dataclass(frozen=True)
class ProbeOptions:
    path: Path
    python: Runtime
    arch: Arch
    kind: Kind | None
    base_image: str | None
    json: bool
    layers: tuple[Path, ...] = ()  # a function's layers, at /opt while it is probed
    env: tuple[tuple[str, str], ...] = ()  # the function's configuration: --env NAME=VALUE
    env_files: tuple[Path, ...] = ()  # and --env-file FILE
    strict_import: bool = False
    handler: str | None = None  # MODULE.FUNCTION: imported first, as Lambda does


@dataclass(frozen=True)
class InstallOptions:
    """What every build (layer, function, each target of matrix) is given."""

    requirements: Path | None  # None: found in --project (or the current directory)
    output_dir: Path
    ca_bundle: Path | None
    json: bool
    project: Path | None  # pylock.toml, uv.lock or requirements.txt found there
    given: Given  # the build options (inputs/build_inputs.py) the command line gave


@dataclass(frozen=True)
class BuildOptions(InstallOptions):
    kind: Kind
    python: Runtime
    arch: Arch
    name: str | None
    base_image: str | None
    print_plan: bool
    src: Path | None = None  # a function's
    handler: str | None = None
    smoke_event: Path | None = None
    include: tuple[str, ...] = ()  # --src files to pack although the defaults leave them out
    layers: tuple[Path, ...] = ()  # a function's layer zips: at /opt for its checks
    env: tuple[tuple[str, str], ...] = ()  # the function's configuration: --env NAME=VALUE
    env_files: tuple[Path, ...] = ()  # and --env-file FILE


@dataclass(frozen=True)
class ImageOptions(BuildOptions):
    """`lambdazip image`: the function's inputs, and where the image goes."""

    tag: str | None = None  # default: NAME:python3.X-ARCH
    oci_archive: Path | None = None
    push: str | None = None


@dataclass(frozen=True)
class MatrixOptions(InstallOptions):
    pythons: tuple[Runtime, ...]
    arches: tuple[Arch, ...]
    base_images: tuple[str, ...]
    jobs: int


@dataclass(frozen=True)
class ProjectOptions:
    """`lambdazip build`: every layer and function [tool.lambdazip] declares."""

    project: Path | None  # default: the current directory
    only: tuple[str, ...]  # these artifacts (and the layers they use)
    pythons: tuple[Runtime, ...]  # override the file's targets
    arches: tuple[Arch, ...]
    base_images: tuple[str, ...]  # PY/ARCH=IMAGE
    output_dir: Path | None  # default: the file's output-dir
    ca_bundle: Path | None
    json: bool
    given: Given  # the build options the command line gave: over the file's
    shard: Shard | None = None  # only this share of the artifacts (and the layers they use)
    only_arch: Arch | None = None  # only the targets of this architecture
    shards: int | None = None  # --list: into how many shards
    list: bool = False  # print the artifacts (and their shards), build nothing
    watch: bool = False  # build again after every change of an input, until Ctrl-C


@dataclass(frozen=True)
class InvokeOptions:
    zip: Path | None
    handler: str | None
    events: tuple[Path, ...]  # in turn, to one sandbox; "-" is standard input
    layers: tuple[Path, ...]
    python: Runtime | None
    arch: Arch | None
    base_image: str | None
    timeout: float
    memory: int
    json: bool
    ephemeral_storage: int = 512  # MB of /tmp
    repeat: int = 1  # each event this many times
    env: tuple[tuple[str, str], ...] = ()
    env_files: tuple[Path, ...] = ()
    image: str | None = None  # a function image instead of a zip


@dataclass(frozen=True)
class PublishOptions:
    zip: Path
    layer_name: str
    region: str | None
    s3_bucket: str | None
    json: bool
    new_version: bool = False  # publish even if the latest version holds the same bytes


@dataclass(frozen=True)
class CacheOptions:
    action: str  # export | import
    file: Path
    python: Runtime
    arch: Arch
    base_image: str | None


@dataclass(frozen=True)
class VerifyOptions:
    zip: Path  # its .manifest.json beside it says what it was built from
    requirements: Path | None  # default: the path the manifest records
    src: Path | None  # a function's; default: the manifest's
    ca_bundle: Path | None
    output_dir: Path | None  # keep the rebuild here (default: a temporary directory)
    json: bool
    env: tuple[tuple[str, str], ...] = ()  # the configuration's values (the manifest has names)
    env_files: tuple[Path, ...] = ()


Options = (
    CheckOptions
    | ProbeOptions
    | BuildOptions
    | MatrixOptions
    | InvokeOptions
    | PublishOptions
    | CacheOptions
    | VerifyOptions
    | ProjectOptions
)
