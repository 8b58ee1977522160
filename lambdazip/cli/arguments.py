"""The arguments more than one command takes, each declared once: the target, the engine, a
function's configuration and layers, the build options, verbosity; and argparse types for Lambda's
bounds."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from lambdazip.build.plan import DEFAULT_BYTECODE, DEFAULT_INSTALLER, Bytecode, Installer
from lambdazip.errors import UsageError
from lambdazip.inputs.configuration import parse_env
from lambdazip.targets import MAX_LAYERS, SUPPORTED_VERSIONS, parse_arch, parse_runtime


def engine_spec(text: str) -> tuple[str, str]:
    """--engine ARCH=ENDPOINT: an architecture and a DOCKER_HOST URL or docker context name."""
    arch, sep, endpoint = text.partition("=")
    if not sep or not endpoint.strip():
        raise UsageError(
            f"--engine {text!r} is not ARCH=ENDPOINT",
            tip="e.g. --engine arm64=ssh://user@graviton or --engine x86_64=my-docker-context",
        )
    return parse_arch(arch).value, endpoint.strip()


def add_engine(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        dest="engines",
        action="append",
        default=[],
        type=engine_spec,
        metavar="ARCH=ENDPOINT",
        help="the Docker engine for one architecture's containers: a DOCKER_HOST URL "
        "(ssh://user@host, tcp://host:2376, unix://...) or a docker context; it must run ARCH "
        "natively (also LAMBDAZIP_ENGINE_ARM64 / LAMBDAZIP_ENGINE_X86_64; default: DOCKER_HOST, "
        "else the current context); may repeat",
    )


def add_configuration(parser: argparse.ArgumentParser) -> None:
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


def add_strict_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strict-import",
        action="store_true",
        help="fail when a module's own code raises while importing for an unclear reason "
        "(default: a warning; packaging faults always fail, configuration ones only warn)",
    )


def add_layers(parser: argparse.ArgumentParser, what: str) -> None:
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


def add_installer_and_bytecode(parser: argparse.ArgumentParser) -> None:
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


def add_build_options(parser: argparse.ArgumentParser) -> None:
    add_engine(parser)
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
    add_installer_and_bytecode(parser)
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
    add_verbosity(parser)


def add_target(
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


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=0)
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1)


def bounded(
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
