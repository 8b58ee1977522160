"""The arguments more than one command takes, each declared once: the target, the engine, a
function's configuration and layers, the build options, verbosity; and argparse types for Lambda's
bounds."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from lambdazip.errors import UsageError
from lambdazip.inputs.build_inputs import Given, choice_type, declarations, default_text
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
    """--strict-import as the build commands declare it (for probe, which builds nothing)."""
    field, declared = next((f, d) for f, d in declarations() if f.name == "strict_import")
    parser.add_argument(
        declared.flag, action="store_true", help=f"{declared.help}; default: {default_text(field)}"
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


def add_build_inputs(parser: argparse.ArgumentParser, *, function: bool = True) -> None:
    """Every option BuildInputs declares, spelled and explained the same on every build command;
    each parses to None when not given, so the environment and [tool.lambdazip] may set it."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    where = (
        "each option also comes from the environment (LAMBDAZIP_ and the option in capitals, "
        "e.g. LAMBDAZIP_STRIP=1) or from [tool.lambdazip] (strip = true), the command line first"
    )
    for field, declared in declarations():
        if declared.group not in groups:
            groups[declared.group] = parser.add_argument_group(
                declared.group or "how to build", None if groups else where
            )
        group: argparse._ActionsContainer = groups[declared.group]
        default = f"default: {default_text(field)}"
        if declared.off is not None:
            group = group.add_mutually_exclusive_group()
        if isinstance(field.default, bool):
            group.add_argument(
                declared.flag,
                dest=field.name,
                action="store_const",
                const=True,
                help=f"{declared.help} ({default})",
            )
        elif declared.text is not None:
            group.add_argument(
                declared.flag,
                dest=field.name,
                type=declared.text,
                metavar=declared.metavar,
                help=f"{declared.help} ({default})",
            )
        elif isinstance(field.default, tuple):
            group.add_argument(
                declared.flag,
                dest=field.name,
                action="append",
                metavar=declared.metavar,
                help=f"{declared.help}; may repeat ({default})",
            )
        else:
            kind = choice_type(field)
            off = [declared.off[1]] if declared.off else []
            choices = [c for c in kind if c not in off]
            group.add_argument(
                declared.flag,
                dest=field.name,
                type=kind,
                choices=choices,
                metavar="{" + ",".join(c.value for c in choices) + "}",
                help=f"{declared.help}; {default}",
            )
        if declared.off is not None:
            flag, value, text = declared.off
            group.add_argument(flag, dest=field.name, action="store_const", const=value, help=text)


def given(values: dict[str, object]) -> Given:
    """What the command line set of BuildInputs (argparse leaves the rest None)."""
    return tuple(
        (f.name, tuple(v) if isinstance(v, list) else v)
        for f, _d in declarations()
        if (v := values.get(f.name)) is not None
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
        "-o", "--output-dir", type=Path, default=Path("dist"), help="default: dist/"
    )
    parser.add_argument(
        "--ca-bundle",
        type=Path,
        help="a PEM bundle for the index's TLS (default: PIP_CERT, REQUESTS_CA_BUNDLE or "
        "SSL_CERT_FILE when set); used in the container, never put in the artifact",
    )
    add_build_inputs(parser)
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


def add_targets(parser: argparse.ArgumentParser) -> None:
    """--python, --arch (each may name several) and --base-image PY/ARCH=IMAGE: the targets of
    a command that builds for many (matrix, build)."""
    parser.add_argument(
        "--python", dest="pythons", action="extend", nargs="+", type=parse_runtime, default=[]
    )
    parser.add_argument(
        "--arch", dest="arches", action="extend", nargs="+", type=parse_arch, default=[]
    )
    parser.add_argument(
        "--base-image",
        dest="base_images",
        action="append",
        default=[],
        metavar="PY/ARCH=IMAGE",
        help="the image for one target, e.g. 3.13/arm64=IMG (default: the official one)",
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
