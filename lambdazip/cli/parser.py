"""The command line's grammar: one parser a command, built only for the command given (argparse
builds a parser in milliseconds a command, which a no-op build would notice); the parsed
namespace becomes its command's frozen options (inputs/options.py)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from lambdazip import __version__
from lambdazip.cli.arguments import (
    add_build_inputs,
    add_build_options,
    add_configuration,
    add_engine,
    add_layers,
    add_strict_import,
    add_target,
    add_targets,
    add_verbosity,
    bounded,
    given,
)
from lambdazip.errors import UsageError
from lambdazip.inputs.options import (
    BuildOptions,
    CacheOptions,
    CheckOptions,
    ImageOptions,
    InvokeOptions,
    MatrixOptions,
    Options,
    ProbeOptions,
    ProjectOptions,
    PublishOptions,
    VerifyOptions,
)
from lambdazip.inputs.shards import parse_shard, parse_shard_count
from lambdazip.targets import Kind, parse_arch


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors stay one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, tip=f"see: {self.prog} --help")


if TYPE_CHECKING:
    _Commands = argparse._SubParsersAction[Parser]


def build_parser(prog: str = "lambdazip", only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or (``only``) of the one command given: argparse builds a
    parser in milliseconds per command, which a no-op build would notice."""
    parser = Parser(
        prog=prog,
        description="Build and check AWS Lambda artifacts whose native code fits the runtime.",
    )
    parser.add_argument("--version", action="version", version=f"lambdazip {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name, add in COMMANDS.items():
        if only is None or only == name:
            add(sub)
    return parser


def _add_check(sub: _Commands) -> None:
    check = sub.add_parser(
        "check",
        help="check a zip or directory against a Lambda runtime, without Docker",
        description="Check that a Lambda zip (or an unpacked directory) fits a runtime: native "
        "code for the right CPU, Python and glibc, pydantic-core complete, layout, size, bytecode.",
    )
    check.add_argument(
        "path", type=Path, nargs="?", help="a .zip or a directory (or --function/--layer-arn)"
    )
    deployed = check.add_mutually_exclusive_group()
    deployed.add_argument(
        "--function",
        metavar="NAME_OR_ARN",
        help="check a deployed function and its layers (boto3: lambda:GetFunction, "
        "lambda:GetLayerVersion), with its runtime and architecture",
    )
    deployed.add_argument("--layer-arn", metavar="ARN", help="check a deployed layer version")
    deployed.add_argument(
        "--image",
        metavar="REF",
        help="check a function image without running it: from the engine, a registry "
        "(docker://REF) or an OCI layout (oci-archive:PATH)",
    )
    check.add_argument("--qualifier", help="the function's version or alias (default $LATEST)")
    check.add_argument("--region", help="default: AWS_REGION or your AWS configuration")
    add_target(check, required=False, default="from the manifest or the deployed configuration")
    check.add_argument(
        "--kind",
        type=Kind,
        choices=list(Kind),
        metavar="{layer,function}",
        help="layer (packages under python/) or function (packages at the root); default: detected",
    )
    check.add_argument(
        "--with-layer",
        dest="layers",
        type=Path,
        action="append",
        default=[],
        metavar="ZIP",
        help="a layer the function uses (counts toward the unzipped size; may repeat)",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    add_verbosity(check)
    check.set_defaults(run="check", options=CheckOptions)


def _add_probe(sub: _Commands) -> None:
    probe = sub.add_parser(
        "probe",
        help="run the diagnostic on a zip inside the Lambda image of the target",
        description="Put a zip where Lambda puts it (/opt for a layer, /var/task for a function) "
        "in the target's image, then run the probe there: platform facts, the pydantic-core "
        "files and EXT_SUFFIX, every top-level import, a pydantic validation.",
    )
    probe.add_argument("path", type=Path, help="a layer or function .zip")
    add_target(probe)
    probe.add_argument(
        "--kind",
        type=Kind,
        choices=list(Kind),
        metavar="{layer,function}",
        help="default: detected",
    )
    probe.add_argument("--base-image", help="default: the official image of the target")
    probe.add_argument(
        "--handler",
        help="MODULE.FUNCTION of a function: its module is imported first, as Lambda does, "
        "and the function looked up (default: the manifest's)",
    )
    add_layers(probe, "while it is probed")
    add_configuration(probe)
    add_strict_import(probe)
    add_engine(probe)
    probe.add_argument("--json", action="store_true", help="print the probe's facts as JSON")
    add_verbosity(probe)
    probe.set_defaults(run="probe", options=ProbeOptions)


def _add_build(sub: _Commands, kind: Kind, image: bool = False) -> None:
    if image:
        builder = sub.add_parser(
            "image",
            help="build a Lambda container image of a function, reproducibly",
            description="Build the function as `function` does (installed natively in the "
            "Lambda image, compiled, probed, checked), then an image: the official base image "
            "of the target plus one layer of those files at /var/task, with CMD the handler. "
            "The same inputs give the same image ID and manifest digest. The image is probed "
            "as Lambda's user on a read-only root before it is called done.",
        )
    else:
        builder = sub.add_parser(
            kind.value,
            help=f"build a {kind.value} zip inside the Lambda image of the target",
            description=f"Build a Lambda {kind.value} zip: install the requirements natively "
            "inside the Lambda image for the target, compile bytecode and probe there, check "
            "the result, and write a reproducible zip and its manifest.",
        )
    add_target(builder)
    if image:
        builder.add_argument(
            "--tag", help="the image's name in the engine (default: NAME:python3.X-ARCH)"
        )
        builder.add_argument(
            "--oci-archive",
            type=Path,
            metavar="FILE",
            help="also write the image as an OCI layout tarball (skopeo, crane, oras push it)",
        )
        builder.add_argument(
            "--push",
            metavar="REF",
            help="push the image's one manifest to REF (ECR, GHCR, any registry), with the "
            "credentials of docker's config or, for ECR, of boto3",
        )
    if kind is Kind.FUNCTION:
        builder.add_argument(
            "--src",
            type=Path,
            help="the directory with your handler code (default: --project's src/, or --project)",
        )
        builder.add_argument(
            "--handler",
            required=image,
            help="MODULE.FUNCTION: the image's CMD"
            if image
            else "MODULE.FUNCTION: checked against --src; needed by --smoke-event",
        )
        builder.add_argument(
            "--include",
            action="append",
            default=[],
            metavar="PATTERN",
            help="pack --src files the defaults leave out or refuse (gitignore syntax, e.g. "
            "'.env.example'); may repeat",
        )
        builder.add_argument(
            "--smoke-event",
            type=Path,
            metavar="FILE",
            help="invoke the handler with this JSON event in the runtime before writing the "
            + ("image's record" if image else "zip"),
        )
        add_layers(
            builder,
            "for the import check and the smoke event; what a layer holds at the same version "
            "stays out of the zip",
        )
    add_configuration(builder)
    default_name = "layer" if kind is Kind.LAYER else "the --src folder's name"
    builder.add_argument(
        "--name",
        help=f"the record's name before -python3.X-ARCH.image.json (default: {default_name})"
        if image
        else f"the zip's name before -python3.X-ARCH.zip (default: {default_name})",
    )
    builder.add_argument(
        "--base-image",
        help="the image to build in (default: the official "
        "public.ecr.aws/lambda/python:3.X-ARCH); pin one with NAME@sha256:DIGEST",
    )
    builder.add_argument(
        "--print-plan", action="store_true", help="show what would be done, then stop"
    )
    add_build_options(builder)
    if image:
        builder.set_defaults(run="image", options=ImageOptions, kind=kind)
    else:
        builder.set_defaults(run="build_zip", options=BuildOptions, kind=kind)


def _add_invoke(sub: _Commands) -> None:
    invoke = sub.add_parser(
        "invoke",
        help="run a handler in the Lambda image, with the zip and layers read-only",
        description="Run a handler the way Lambda does: the function zip at /var/task and the "
        "layers at /opt, both read-only on a read-only root, a writable /tmp, Lambda's sys.path "
        "order, a context object. Prints the result as JSON; exit 10 if the handler fails.",
    )
    invoke.add_argument("zip", type=Path, nargs="?", help="the function zip (or --image)")
    invoke.add_argument(
        "--image",
        metavar="REF",
        help="run a function image instead of a zip (its /var/task and /opt as they are; the "
        "handler defaults to its CMD)",
    )
    invoke.add_argument(
        "--handler", help="MODULE.FUNCTION, e.g. app.handler (with --image: default its CMD)"
    )
    invoke.add_argument(
        "--event",
        dest="events",
        type=Path,
        action="append",
        required=True,
        metavar="FILE",
        help="a JSON event, or - for standard input; may repeat: the events go in turn to one "
        "sandbox (one init, then warm invocations, as Lambda reuses it)",
    )
    invoke.add_argument(
        "--repeat",
        type=bounded(int, 1, 1000, "--repeat", "times"),
        default=1,
        metavar="N",
        help="send the events N times over, to the same sandbox (default 1)",
    )
    add_layers(invoke, "(later over earlier)")
    add_configuration(invoke)
    add_target(invoke, required=False)
    invoke.add_argument("--base-image", help="default: the official image of the target")
    add_engine(invoke)
    invoke.add_argument(
        "--timeout",
        type=bounded(int, 1, 900, "--timeout", "whole seconds"),
        default=3,
        help="seconds, 1-900 as on Lambda (default 3, Lambda's)",
    )
    invoke.add_argument(
        "--memory",
        type=bounded(int, 128, 10240, "--memory", "MB"),
        default=128,
        help="MB, 128-10240 as on Lambda: the function's processes are stopped over it "
        "(Runtime.OutOfMemory), and AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128, Lambda's)",
    )
    invoke.add_argument(
        "--ephemeral-storage",
        type=bounded(int, 512, 10240, "--ephemeral-storage", "MB"),
        default=512,
        metavar="MB",
        help="the size of /tmp, 512-10240 as on Lambda, apart from --memory (default 512)",
    )
    invoke.add_argument(
        "--json", action="store_true", help="print the whole outcome (result, error, timings, logs)"
    )
    add_verbosity(invoke)
    invoke.set_defaults(run="invoke", options=InvokeOptions)


def _add_matrix(sub: _Commands) -> None:
    matrix = sub.add_parser(
        "matrix",
        help="build the layer for every (python x arch) target in parallel",
        description="Build the layer for every supported target (or those named), in parallel; "
        "a summary table at the end; a non-zero exit if any failed, after all have finished.",
    )
    add_targets(matrix)
    matrix.add_argument(
        "-j", "--jobs", type=int, default=0, help="parallel builds (default 0: all at once)"
    )
    add_build_options(matrix)
    matrix.set_defaults(run="matrix", options=MatrixOptions)


def _add_publish(sub: _Commands) -> None:
    publish = sub.add_parser(
        "publish",
        help="publish a built layer to AWS Lambda (boto3)",
        description="Publish a layer zip built by `build.py layer`: its sha256 is checked against "
        "its manifest first, then the zip as `check` judges it, for the runtime and architecture "
        "it declares (CompatibleRuntimes and CompatibleArchitectures come from the manifest); when "
        "the latest version holds the same bytes, it is reused; zips over 50 MB go through S3. "
        "Credentials come from the usual AWS chain.",
    )
    publish.add_argument("zip", type=Path, help="the layer zip (its .manifest.json beside it)")
    publish.add_argument("--layer-name", required=True, help="the layer's name (or ARN)")
    publish.add_argument("--region", help="default: AWS_REGION or your AWS configuration")
    publish.add_argument("--s3-bucket", help="upload through this bucket (needed over 50 MB)")
    publish.add_argument("--json", action="store_true", help="print the result as JSON")
    publish.add_argument(
        "--new-version",
        action="store_true",
        help="publish a version even if the latest one holds the same bytes",
    )
    add_verbosity(publish)
    publish.set_defaults(run="publish", options=PublishOptions)


def _add_cache(sub: _Commands) -> None:
    cache = sub.add_parser(
        "cache",
        help="carry a target's download cache volume out of the engine into a file, or back in",
        description="CI runners start with an empty engine: `cache export FILE` writes the "
        "target's download cache (the named volume builds use) to a tar file that CI can keep "
        "(actions/cache), and `cache import FILE` puts it back into the engine before the next "
        "build. Both go through the engine's archive API (no bind mounts); a missing FILE "
        "imports nothing.",
    )
    cache.add_argument("action", choices=["export", "import"])
    cache.add_argument("file", type=Path, help="the cache's tar file")
    add_target(cache)
    cache.add_argument("--base-image", help="default: the official image of the target")
    add_engine(cache)
    add_verbosity(cache)
    cache.set_defaults(run="cache", options=CacheOptions)


def _add_verify(sub: _Commands) -> None:
    verify = sub.add_parser(
        "verify",
        help="rebuild a zip from its manifest alone and compare the bytes",
        description="An independent rebuild: the base image by the ID (or digest) the manifest "
        "records, the requirements and the function's code checked against the sha256 it "
        "records, the same options; then 'reproduced', or the first member that differs and why. "
        "Exit 0 only when the bytes are equal.",
    )
    verify.add_argument(
        "zip",
        type=Path,
        help="the zip (its .manifest.json beside it), or an image's NAME.image.json",
    )
    verify.add_argument(
        "-r", "--requirements", type=Path, help="default: the path the manifest records"
    )
    verify.add_argument("--src", type=Path, help="a function's code (default: the manifest's)")
    verify.add_argument("--ca-bundle", type=Path, help="as for build (default: PIP_CERT, ...)")
    verify.add_argument(
        "-o", "--output-dir", type=Path, help="keep the rebuild here (default: nowhere)"
    )
    add_configuration(verify)
    add_engine(verify)
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON")
    add_verbosity(verify)
    verify.set_defaults(run="verify", options=VerifyOptions)


def _add_project_build(sub: _Commands) -> None:
    project = sub.add_parser(
        "build",
        help="build every layer and function that pyproject.toml's [tool.lambdazip] declares",
        description="Build the layers first (each target once), then the functions, each without "
        "what its layers already provide, and check each function with its layers in Lambda's "
        "order. One summary table; a non-zero exit if any failed. Options here override the file.",
    )
    project.add_argument("--project", type=Path, metavar="DIR", help="default: here")
    project.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="build these (may repeat)"
    )
    add_targets(project)
    project.add_argument("-o", "--output-dir", type=Path, help="default: the file's output-dir")
    project.add_argument("--ca-bundle", type=Path, help="as for layer")
    add_engine(project)
    add_build_inputs(project)
    project.add_argument("--json", action="store_true", help="print the summary as JSON")
    project.add_argument(
        "--watch",
        action="store_true",
        help="build again after every change of pyproject.toml, a lock or requirements file or "
        "a function's code, until Ctrl-C (a function's build container is kept warm)",
    )
    spread = project.add_argument_group(
        "spread over CI runners: weighed shares, stable as the project grows, each function "
        "with its layers where the balance allows"
    )
    spread.add_argument(
        "--shard",
        type=parse_shard,
        metavar="I/N",
        help="build only the I-th of N shards (and the layers its functions use: from the "
        "shared cache when there)",
    )
    spread.add_argument(
        "--only-arch",
        type=parse_arch,
        metavar="ARCH",
        help="build only the targets of this architecture (a runner with a native engine); "
        "--arch instead replaces each artifact's architectures",
    )
    spread.add_argument(
        "--list",
        action="store_true",
        help="print the artifacts, their shards and outputs; build nothing (with --json: a CI "
        "matrix under .matrix)",
    )
    spread.add_argument(
        "--shards",
        type=parse_shard_count,
        metavar="N",
        help="with --list: into how many shards (default: --shard's N, else 1)",
    )
    add_verbosity(project)
    project.set_defaults(run="build_project", options=ProjectOptions)


COMMANDS: dict[str, Callable[[_Commands], None]] = {
    "check": _add_check,
    "probe": _add_probe,
    "layer": lambda sub: _add_build(sub, Kind.LAYER),
    "function": lambda sub: _add_build(sub, Kind.FUNCTION),
    "image": lambda sub: _add_build(sub, Kind.FUNCTION, image=True),
    "invoke": _add_invoke,
    "matrix": _add_matrix,
    "publish": _add_publish,
    "cache": _add_cache,
    "verify": _add_verify,
    "build": _add_project_build,
}


def command_of(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (after the global options), if it is one."""
    for arg in argv:
        if arg != "--debug":
            return arg if arg in COMMANDS else None
    return None


def typed(args: argparse.Namespace) -> Options:
    """The parsed command line as its command's frozen options (options.py)."""
    values = {**vars(args), "given": given(vars(args))}  # the build options given (if any)
    typed: Options = args.options(
        **{
            f.name: tuple(values[f.name]) if isinstance(values[f.name], list) else values[f.name]
            for f in dataclasses.fields(args.options)
            if f.name in values  # a layer has no --src: the field's default
        }
    )
    return typed
