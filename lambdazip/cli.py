"""The command line: argv in, exit code out. Parsing here; each command in commands.py. The only
place that decides an exit code; with commands.py and console.py, the only places that print."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, NoReturn

from . import __version__, commands
from .configuration import parse_env
from .console import Console
from .engine import with_engines
from .errors import BROKEN_PIPE, INTERRUPTED, LambdaZipError, UsageError
from .options import (
    BuildOptions,
    CacheOptions,
    CheckOptions,
    InvokeOptions,
    MatrixOptions,
    Options,
    ProbeOptions,
    ProjectOptions,
    PublishOptions,
    VerifyOptions,
)
from .plan import DEFAULT_BYTECODE, DEFAULT_INSTALLER, Bytecode, Installer
from .targets import MAX_LAYERS, SUPPORTED_VERSIONS, Kind, parse_arch, parse_runtime


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors stay one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, tip=f"see: {self.prog} --help")


if TYPE_CHECKING:
    _Commands = argparse._SubParsersAction[_Parser]


def program_name(argv0: str) -> str:
    """How the user started us, for usage lines and tips: ``build.py`` from a checkout,
    ``python -m lambdazip``, or the ``lambdazip`` script that pip, pipx and uvx install."""
    name = PurePath(argv0.replace("\\", "/")).name
    if name == "__main__.py":
        return "python -m lambdazip"
    if name.endswith(".py"):
        return name
    return "lambdazip"


def _build_parser(prog: str = "lambdazip", only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or (``only``) of the one command given: argparse builds a
    parser in milliseconds per command, which a no-op build would notice."""
    parser = _Parser(
        prog=prog,
        description="Build and check AWS Lambda artifacts whose native code fits the runtime.",
    )
    parser.add_argument("--version", action="version", version=f"lambdazip {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, add in _COMMANDS.items():
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
    check.add_argument("--qualifier", help="the function's version or alias (default $LATEST)")
    check.add_argument("--region", help="default: AWS_REGION or your AWS configuration")
    _add_target(check, required=False, default="from the manifest or the deployed configuration")
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
    _add_verbosity(check)
    check.set_defaults(func=commands.run_check, options=CheckOptions)


def _add_probe(sub: _Commands) -> None:
    probe = sub.add_parser(
        "probe",
        help="run the diagnostic on a zip inside the Lambda image of the target",
        description="Put a zip where Lambda puts it (/opt for a layer, /var/task for a function) "
        "in the target's image, then run the probe there: platform facts, the pydantic-core "
        "files and EXT_SUFFIX, every top-level import, a pydantic validation.",
    )
    probe.add_argument("path", type=Path, help="a layer or function .zip")
    _add_target(probe)
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
    _add_layers(probe, "while it is probed")
    _add_configuration(probe)
    _add_strict_import(probe)
    _add_engine(probe)
    probe.add_argument("--json", action="store_true", help="print the probe's facts as JSON")
    _add_verbosity(probe)
    probe.set_defaults(func=commands.run_probe, options=ProbeOptions)


def _engine_spec(text: str) -> tuple[str, str]:
    """--engine ARCH=ENDPOINT: an architecture and a DOCKER_HOST URL or docker context name."""
    arch, sep, endpoint = text.partition("=")
    if not sep or not endpoint.strip():
        raise UsageError(
            f"--engine {text!r} is not ARCH=ENDPOINT",
            tip="e.g. --engine arm64=ssh://user@graviton or --engine x86_64=my-docker-context",
        )
    return parse_arch(arch).value, endpoint.strip()


def _add_engine(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        dest="engines",
        action="append",
        default=[],
        type=_engine_spec,
        metavar="ARCH=ENDPOINT",
        help="the Docker engine for one architecture's containers: a DOCKER_HOST URL "
        "(ssh://user@host, tcp://host:2376, unix://...) or a docker context; it must run ARCH "
        "natively (also LAMBDAZIP_ENGINE_ARM64 / LAMBDAZIP_ENGINE_X86_64; default: DOCKER_HOST, "
        "else the current context); may repeat",
    )


def _add_configuration(parser: argparse.ArgumentParser) -> None:
    """The function's environment variables, as its Lambda configuration sets them."""
    group = parser.add_argument_group(
        "the function's configuration (its environment variables on Lambda): the values never "
        "go into an artifact, a manifest or an SBOM, and are masked (***) in what is printed"
    )
    group.add_argument(
        "--env",
        action="append",
        default=[],
        type=parse_env,
        metavar="NAME=VALUE",
        help="an environment variable the function is configured with; may repeat; over --env-file",
    )
    group.add_argument(
        "--env-file",
        dest="env_files",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="environment variables from a dotenv file (NAME=VALUE lines); may repeat",
    )


def _add_strict_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strict-import",
        action="store_true",
        help="fail when a module's own code raises while importing for an unclear reason "
        "(default: a warning; packaging faults always fail, configuration ones only warn)",
    )


def _add_layers(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--layer",
        dest="layers",
        type=Path,
        action="append",
        default=[],
        metavar="ZIP",
        help=f"a layer the function uses, at /opt {what} (Lambda's order; at most "
        f"{MAX_LAYERS}); may repeat",
    )


def _add_installer_and_bytecode(parser: argparse.ArgumentParser) -> None:
    """--installer, --bytecode and --no-bytecode: the same for every build command."""
    parser.add_argument(
        "--installer",
        type=Installer,
        choices=list(Installer),
        metavar="{" + ",".join(i.value for i in Installer) + "}",
        default=DEFAULT_INSTALLER,
        help=f"pip (the image's) or uv (pinned, hash-verified); default: {DEFAULT_INSTALLER.value}",
    )
    bytecode = parser.add_mutually_exclusive_group()
    bytecode.add_argument(
        "--bytecode",
        type=Bytecode,
        choices=[b for b in Bytecode if b is not Bytecode.NONE],
        metavar="{" + ",".join(b.value for b in Bytecode if b is not Bytecode.NONE) + "}",
        default=DEFAULT_BYTECODE,
        help=f"PEP 552 hash-based .pyc compiled by the runtime; default: {DEFAULT_BYTECODE.value}",
    )
    bytecode.add_argument(
        "--no-bytecode",
        dest="bytecode",
        action="store_const",
        const=Bytecode.NONE,
        help="ship no .pyc: the smallest zip, the slowest cold start",
    )


def _add_build_options(parser: argparse.ArgumentParser) -> None:
    _add_engine(parser)
    parser.add_argument(
        "-r",
        "--requirements",
        type=Path,
        help="what to install: a hash-locked requirements file, a pylock.toml or a uv.lock "
        "(default: the first of pylock.toml, uv.lock, requirements.txt in --project or here)",
    )
    parser.add_argument(
        "--project",
        type=Path,
        metavar="DIR",
        help="a project directory: its lock is installed as locked, never re-resolved; a "
        "function's code defaults to its src/ (or the directory itself)",
    )
    parser.add_argument(
        "--group",
        dest="groups",
        action="append",
        default=[],
        metavar="NAME",
        help="a dependency group of the lock to install (PEP 735; may repeat)",
    )
    parser.add_argument(
        "--extra",
        dest="extras",
        action="append",
        default=[],
        metavar="NAME",
        help="an extra of the project to install (may repeat)",
    )
    parser.add_argument(
        "-o", "--output-dir", type=Path, default=Path("dist"), help="default: dist/"
    )
    parser.add_argument(
        "--ca-bundle",
        type=Path,
        help="a PEM bundle for the index's TLS (default: PIP_CERT, REQUESTS_CA_BUNDLE or "
        "SSL_CERT_FILE when set); used in the container, never put in the artifact",
    )
    _add_installer_and_bytecode(parser)
    slim = parser.add_argument_group("smaller, on request (each removal is in the manifest)")
    slim.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="NAME",
        help="remove an installed distribution (e.g. boto3, which the runtime also has: a "
        "warning says its version there); may repeat",
    )
    slim.add_argument(
        "--prune",
        action="store_true",
        help="remove tests/, test/, docs/, doc/, examples/ folders inside distributions "
        "(type stubs stay)",
    )
    slim.add_argument(
        "--strip",
        action="store_true",
        help="strip debug symbols from shared objects, with the image's strip (binutils)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="neither reuse an up-to-date artifact nor the download cache volume",
    )
    parser.add_argument(
        "--force", action="store_true", help="build even if the artifact is up to date"
    )
    parser.add_argument(
        "--allow-unhashed",
        action="store_true",
        help="install requirements that carry no --hash (refused by default)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the manifest(s) as JSON on stdout"
    )
    _add_verbosity(parser)


def _add_build(sub: _Commands, kind: Kind) -> None:
    builder = sub.add_parser(
        kind.value,
        help=f"build a {kind.value} zip inside the Lambda image of the target",
        description=f"Build a Lambda {kind.value} zip: install the requirements natively inside "
        "the Lambda image for the target, compile bytecode and probe there, check the result, "
        "and write a reproducible zip and its manifest.",
    )
    _add_target(builder)
    if kind is Kind.FUNCTION:
        builder.add_argument(
            "--src",
            type=Path,
            help="the directory with your handler code (default: --project's src/, or --project)",
        )
        builder.add_argument(
            "--handler", help="MODULE.FUNCTION: checked against --src; needed by --smoke-event"
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
            help="invoke the handler with this JSON event in the runtime before writing the zip",
        )
        _add_layers(
            builder,
            "for the import check and the smoke event; what a layer holds at the same version "
            "stays out of the zip",
        )
    _add_configuration(builder)
    _add_strict_import(builder)
    default_name = "layer" if kind is Kind.LAYER else "the --src folder's name"
    builder.add_argument(
        "--name", help=f"the zip's name before -python3.X-ARCH.zip (default: {default_name})"
    )
    builder.add_argument(
        "--base-image",
        help="the image to build in (default: the official "
        "public.ecr.aws/lambda/python:3.X-ARCH); pin one with NAME@sha256:DIGEST",
    )
    builder.add_argument(
        "--print-plan", action="store_true", help="show what would be done, then stop"
    )
    _add_build_options(builder)
    builder.set_defaults(func=commands.run_build, options=BuildOptions, kind=kind)


def _add_invoke(sub: _Commands) -> None:
    invoke = sub.add_parser(
        "invoke",
        help="run a handler in the Lambda image, with the zip and layers read-only",
        description="Run a handler the way Lambda does: the function zip at /var/task and the "
        "layers at /opt, both read-only on a read-only root, a writable /tmp, Lambda's sys.path "
        "order, a context object. Prints the result as JSON; exit 10 if the handler fails.",
    )
    invoke.add_argument("zip", type=Path, help="the function zip")
    invoke.add_argument("--handler", required=True, help="MODULE.FUNCTION, e.g. app.handler")
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
        type=_bounded(int, 1, 1000, "--repeat", "times"),
        default=1,
        metavar="N",
        help="send the events N times over, to the same sandbox (default 1)",
    )
    _add_layers(invoke, "(later over earlier)")
    _add_configuration(invoke)
    _add_target(invoke, required=False)
    invoke.add_argument("--base-image", help="default: the official image of the target")
    _add_engine(invoke)
    invoke.add_argument(
        "--timeout",
        type=_bounded(int, 1, 900, "--timeout", "whole seconds"),
        default=3,
        help="seconds, 1-900 as on Lambda (default 3, Lambda's)",
    )
    invoke.add_argument(
        "--memory",
        type=_bounded(int, 128, 10240, "--memory", "MB"),
        default=128,
        help="MB, 128-10240 as on Lambda: the function's processes are stopped over it "
        "(Runtime.OutOfMemory), and AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128, Lambda's)",
    )
    invoke.add_argument(
        "--ephemeral-storage",
        type=_bounded(int, 512, 10240, "--ephemeral-storage", "MB"),
        default=512,
        metavar="MB",
        help="the size of /tmp, 512-10240 as on Lambda, apart from --memory (default 512)",
    )
    invoke.add_argument(
        "--json", action="store_true", help="print the whole outcome (result, error, timings, logs)"
    )
    _add_verbosity(invoke)
    invoke.set_defaults(func=commands.run_invoke, options=InvokeOptions)


def _add_matrix(sub: _Commands) -> None:
    matrix = sub.add_parser(
        "matrix",
        help="build the layer for every (python x arch) target in parallel",
        description="Build the layer for every supported target (or those named), in parallel; "
        "a summary table at the end; a non-zero exit if any failed, after all have finished.",
    )
    matrix.add_argument(
        "--python", dest="pythons", action="extend", nargs="+", type=parse_runtime, default=[]
    )
    matrix.add_argument(
        "--arch", dest="arches", action="extend", nargs="+", type=parse_arch, default=[]
    )
    matrix.add_argument(
        "--base-image",
        dest="base_images",
        action="append",
        default=[],
        metavar="PY/ARCH=IMAGE",
        help="the image for one target, e.g. 3.13/arm64=IMG (default: the official one)",
    )
    matrix.add_argument("-j", "--jobs", type=int, default=0, help="parallel builds (default: all)")
    _add_build_options(matrix)
    matrix.set_defaults(func=commands.run_matrix, options=MatrixOptions)


def _add_publish(sub: _Commands) -> None:
    publish = sub.add_parser(
        "publish",
        help="publish a built layer to AWS Lambda (boto3)",
        description="Publish a layer zip built by `build.py layer`: its sha256 is checked against "
        "its manifest first; CompatibleRuntimes and CompatibleArchitectures come from the "
        "manifest; zips over 50 MB go through S3. Credentials come from the usual AWS chain.",
    )
    publish.add_argument("zip", type=Path, help="the layer zip (its .manifest.json beside it)")
    publish.add_argument("--layer-name", required=True, help="the layer's name (or ARN)")
    publish.add_argument("--region", help="default: AWS_REGION or your AWS configuration")
    publish.add_argument("--s3-bucket", help="upload through this bucket (needed over 50 MB)")
    publish.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_verbosity(publish)
    publish.set_defaults(func=commands.run_publish, options=PublishOptions)


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
    _add_target(cache)
    cache.add_argument("--base-image", help="default: the official image of the target")
    _add_engine(cache)
    _add_verbosity(cache)
    cache.set_defaults(func=commands.run_cache, options=CacheOptions)


def _add_verify(sub: _Commands) -> None:
    verify = sub.add_parser(
        "verify",
        help="rebuild a zip from its manifest alone and compare the bytes",
        description="An independent rebuild: the base image by the ID (or digest) the manifest "
        "records, the requirements and the function's code checked against the sha256 it "
        "records, the same options; then 'reproduced', or the first member that differs and why. "
        "Exit 0 only when the bytes are equal.",
    )
    verify.add_argument("zip", type=Path, help="the zip (its .manifest.json beside it)")
    verify.add_argument(
        "-r", "--requirements", type=Path, help="default: the path the manifest records"
    )
    verify.add_argument("--src", type=Path, help="a function's code (default: the manifest's)")
    verify.add_argument("--ca-bundle", type=Path, help="as for build (default: PIP_CERT, ...)")
    verify.add_argument(
        "-o", "--output-dir", type=Path, help="keep the rebuild here (default: nowhere)"
    )
    _add_configuration(verify)
    _add_engine(verify)
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON")
    _add_verbosity(verify)
    verify.set_defaults(func=commands.run_verify, options=VerifyOptions)


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
    project.add_argument(
        "--python", dest="pythons", action="extend", nargs="+", type=parse_runtime, default=[]
    )
    project.add_argument(
        "--arch", dest="arches", action="extend", nargs="+", type=parse_arch, default=[]
    )
    project.add_argument(
        "--base-image",
        dest="base_images",
        action="append",
        default=[],
        metavar="PY/ARCH=IMAGE",
        help="the image for one target (default: the official one)",
    )
    project.add_argument("-o", "--output-dir", type=Path, help="default: the file's output-dir")
    project.add_argument("--ca-bundle", type=Path, help="as for layer")
    _add_engine(project)
    _add_installer_and_bytecode(project)
    project.add_argument("--no-cache", action="store_true")
    project.add_argument("--force", action="store_true")
    _add_strict_import(project)
    project.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_verbosity(project)
    project.set_defaults(func=commands.run_project, options=ProjectOptions)


_COMMANDS: dict[str, Callable[[_Commands], None]] = {
    "check": _add_check,
    "probe": _add_probe,
    "layer": lambda sub: _add_build(sub, Kind.LAYER),
    "function": lambda sub: _add_build(sub, Kind.FUNCTION),
    "invoke": _add_invoke,
    "matrix": _add_matrix,
    "publish": _add_publish,
    "cache": _add_cache,
    "verify": _add_verify,
    "build": _add_project_build,
}


def _command_of(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (after the global options), if it is one."""
    for arg in argv:
        if arg != "--debug":
            return arg if arg in _COMMANDS else None
    return None


def _add_target(
    parser: argparse.ArgumentParser, required: bool = True, default: str = "from the zip's manifest"
) -> None:
    more = "" if required else f" (default: {default})"
    parser.add_argument("--arch", required=required, type=parse_arch, help=f"x86_64 or arm64{more}")
    parser.add_argument(
        "--python",
        required=required,
        type=parse_runtime,
        help=f"the Lambda runtime's Python: {', '.join(SUPPORTED_VERSIONS)}{more}",
    )


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=0)
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1)


@contextmanager
def _errors_to_exit_codes(console: Console, debug: bool) -> Iterator[list[int]]:
    """The exception family becomes one error line and its exit code; tracebacks only in debug."""
    code = [0]
    try:
        yield code
    except LambdaZipError as exc:
        if debug and not isinstance(exc, UsageError):  # a usage error is never a traceback
            raise
        console.error(exc.message, exc.tip)
        code[0] = exc.exit_code
    except KeyboardInterrupt:
        console.error("interrupted", "nothing was written")
        code[0] = INTERRUPTED
    except SystemExit as exc:  # --help and --version
        code[0] = exc.code if isinstance(exc.code, int) else 0
    except BrokenPipeError:
        # the reader went away (`| head -1`): it has what it wanted; say nothing more, and keep
        # Python from failing again when it flushes stdout on the way out
        _silence_stdout()
        code[0] = BROKEN_PIPE


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (tests, embedding)
        pass


def _bounded(
    kind: type[int] | type[float], low: int, high: int, option: str, unit: str
) -> Callable[[str], float]:
    """An argparse type for a number within Lambda's bounds."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            number = "a whole number" if kind is int else "a number"
            raise UsageError(
                f"{option} {text!r} is not {number}", tip=f"e.g. {option} {low}"
            ) from None
        if not low <= value <= high:
            raise UsageError(
                f"{option} {text} is outside what Lambda allows: {low}-{high} {unit}",
                tip=f"pass {option} between {low} and {high}",
            )
        return value

    return parse


def _typed(args: argparse.Namespace) -> Options:
    """The parsed command line as its command's frozen options (options.py)."""
    values = vars(args)
    typed: Options = args.options(
        **{
            f.name: tuple(values[f.name]) if isinstance(values[f.name], list) else values[f.name]
            for f in dataclasses.fields(args.options)
            if f.name in values  # a layer has no --src: the field's default
        }
    )
    return typed


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _sigterm_interrupts() -> None:
    """SIGTERM (CI cancelling a job, `docker stop`, `kill`) unwinds like Ctrl-C, so every
    `finally` runs: containers are removed and no half-written file is left."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    prog: str | None = None,
) -> int:
    env = os.environ if env is None else env
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = prog or program_name(sys.argv[0] if sys.argv else "lambdazip")
    console = Console.create(env)
    _sigterm_interrupts()
    with _errors_to_exit_codes(console, "--debug" in argv) as code:
        args = _build_parser(prog, _command_of(argv)).parse_args(argv)
        console.verbosity = args.verbosity
        if getattr(args, "engines", None):  # --engine wins over LAMBDAZIP_ENGINE_* and the file
            env = with_engines(env, dict(args.engines))
        code[0] = args.func(_typed(args), console, env)
    return code[0]


def run() -> NoReturn:
    """The process's entry (build.py, ``python -m lambdazip``, the ``lambdazip`` script): main,
    then the end of the process without the interpreter's teardown. By the time main returns,
    every file is closed and every container and temporary directory removed (context managers
    and ``finally`` blocks do that, also on errors and interrupts); freeing each module and
    object one by one would add a tenth of a second to a build and change nothing."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a closed pipe: what could be said has been said
            stream.flush()
    os._exit(code)
