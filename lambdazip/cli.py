"""The command line: argv in, exit code out. The only place that prints or decides an exit code."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NoReturn

from . import __version__
from .archive import source_date_epoch
from .builder import BuildChecksFailed, build, make_plan, probe_artifact
from .checks import Kind, detect_kind
from .console import Console
from .engine import Engine
from .errors import CheckFailed, LambdaZipError, UsageError
from .facts import gather
from .probe import check_probe
from .report import check_report
from .targets import SUPPORTED_VERSIONS, RuntimeStatus, Target, parse_arch, parse_runtime
from .tree import open_tree


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors stay one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, tip=f"see: {self.prog} --help")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="build.py",
        description="Build and check AWS Lambda artifacts whose native code fits the runtime.",
    )
    parser.add_argument("--version", action="version", version=f"lambdazip {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    check = commands.add_parser(
        "check",
        help="check a zip or directory against a Lambda runtime, without Docker",
        description="Check that a Lambda zip (or an unpacked directory) fits a runtime: native "
        "code for the right CPU, Python and glibc, pydantic-core complete, layout, size, bytecode.",
    )
    check.add_argument("path", type=Path, help="a .zip or a directory")
    _add_target_arguments(check)
    check.add_argument(
        "--kind",
        choices=[k.value for k in Kind],
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

    probe = commands.add_parser(
        "probe",
        help="run the diagnostic on a zip inside the Lambda image of the target",
        description="Put a zip where Lambda puts it (/opt for a layer, /var/task for a function) "
        "in the target's image, then run the probe there: platform facts, the pydantic-core "
        "files and EXT_SUFFIX, every top-level import, a pydantic validation.",
    )
    probe.add_argument("path", type=Path, help="a layer or function .zip")
    _add_target_arguments(probe)
    probe.add_argument("--kind", choices=[k.value for k in Kind], help="default: detected")
    probe.add_argument("--base-image", help="default: the official image of the target")
    probe.add_argument("--json", action="store_true", help="print the probe's facts as JSON")
    _add_verbosity(probe)

    for kind in Kind:
        builder = commands.add_parser(
            kind.value,
            help=f"build a {kind.value} zip inside the Lambda image of the target",
            description=f"Build a Lambda {kind.value} zip: install the requirements with the "
            "runtime's own pip inside the Lambda image for the target, probe it there, check "
            "it, and write a reproducible zip and its manifest.",
        )
        _add_target_arguments(builder)
        if kind is Kind.FUNCTION:
            builder.add_argument(
                "--src", type=Path, required=True, help="the directory with your handler code"
            )
        builder.add_argument(
            "-r",
            "--requirements",
            type=Path,
            default=Path("requirements.txt"),
            help="what to install (default: requirements.txt); hashes are checked when present",
        )
        builder.add_argument(
            "-o", "--output-dir", type=Path, default=Path("dist"), help="default: dist/"
        )
        builder.add_argument(
            "--name", help=f"the zip's name before -python3.X-ARCH.zip (default: {kind.value})"
        )
        builder.add_argument(
            "--base-image",
            help="the image to build in (default: the official "
            "public.ecr.aws/lambda/python:3.X-ARCH); pin one with NAME@sha256:DIGEST",
        )
        builder.add_argument(
            "--ca-bundle",
            type=Path,
            help="a PEM bundle for the index's TLS (default: PIP_CERT, REQUESTS_CA_BUNDLE or "
            "SSL_CERT_FILE when set); used in the container, never put in the artifact",
        )
        builder.add_argument(
            "--print-plan", action="store_true", help="show what would be done, then stop"
        )
        _add_verbosity(builder)
    return parser


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arch",
        required=True,
        type=parse_arch,
        help="x86_64 (amd64) or arm64 (aarch64)",
    )
    parser.add_argument(
        "--python",
        required=True,
        type=parse_runtime,
        help=f"the Lambda runtime's Python: {', '.join(SUPPORTED_VERSIONS)}",
    )


def _add_verbosity(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=0)
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1)


def _run_check(args: argparse.Namespace, console: Console) -> int:
    target = Target(args.python, args.arch)
    _warn_deprecated(target, console)
    with ExitStack() as stack:
        facts = gather(stack.enter_context(open_tree(args.path)))
        layers = [gather(stack.enter_context(open_tree(p))) for p in args.layers]
    kind = Kind(args.kind) if args.kind else detect_kind(facts)
    report = check_report(facts, target, kind, layers)
    if args.json:
        console.result(report.model_dump_json(indent=2))
    else:
        for finding in report.findings:
            console.finding(finding)
    summary = (
        f"{args.path} as a {kind.value} for {target}: {len(report.errors)} error(s), "
        f"{len(report.warnings)} warning(s) in {report.files} files "
        f"({report.shared_objects} shared object(s))"
    )
    if not report.ok:
        raise CheckFailed(summary, tip="fix the errors above, then check again")
    console.success(f"ok: {summary}")
    return 0


def _run_build(args: argparse.Namespace, console: Console, env: Mapping[str, str]) -> int:
    kind = Kind(args.command)
    plan = make_plan(
        kind=kind,
        target=Target(args.python, args.arch),
        requirements=args.requirements,
        src=getattr(args, "src", None),
        out_dir=args.output_dir,
        name=args.name,
        base_image=args.base_image,
        ca_bundle=args.ca_bundle,
        env=env,
        epoch=source_date_epoch(env),
    )
    if args.print_plan:
        console.result("\n".join(plan.describe()))
        return 0
    _warn_deprecated(plan.target, console)
    engine = Engine.connect(env)
    try:
        result = build(engine, plan, console)
    except BuildChecksFailed as exc:
        for finding in exc.findings:
            console.finding(finding)
        raise
    for warning in result.warnings:
        console.finding(warning)
    console.success(
        f"ok: {result.zip.path} ({result.zip.files} files, {result.zip.zipped_size:,} bytes, "
        f"sha256 {result.zip.sha256})"
    )
    return 0


def _run_probe(args: argparse.Namespace, console: Console, env: Mapping[str, str]) -> int:
    target = Target(args.python, args.arch)
    with open_tree(args.path) as tree:
        facts = gather(tree)
    kind = Kind(args.kind) if args.kind else detect_kind(facts)
    engine = Engine.connect(env)
    probe = probe_artifact(engine, args.path, kind, target, args.base_image, console)
    findings = check_probe(probe, target)
    if args.json:
        console.result(probe.model_dump_json(indent=2))
    else:
        for finding in findings:
            console.finding(finding)
    summary = (
        f"{args.path} probed as a {kind.value} in {target}: machine {probe.machine}, "
        f"EXT_SUFFIX {probe.ext_suffix}, {len(probe.imports)} import(s), "
        f"{len(findings)} error(s)"
    )
    if findings:
        raise CheckFailed(summary, tip="fix the errors above")
    console.success(f"ok: {summary}")
    return 0


def _warn_deprecated(target: Target, console: Console) -> None:
    if target.runtime.status is RuntimeStatus.DEPRECATED:
        console.info(
            f"warning: {target.runtime.name} was deprecated by AWS Lambda on "
            f"{target.runtime.deprecated_on}; plan a move to a newer runtime"
        )


@contextmanager
def _errors_to_exit_codes(console: Console, debug: bool) -> Iterator[list[int]]:
    """The exception family becomes one error line and its exit code; tracebacks only in debug."""
    code = [0]
    try:
        yield code
    except LambdaZipError as exc:
        if debug:
            raise
        console.error(exc.message, exc.tip)
        code[0] = exc.exit_code
    except KeyboardInterrupt:
        console.error("interrupted", "nothing was written")
        code[0] = 130
    except SystemExit as exc:  # --help and --version
        code[0] = exc.code if isinstance(exc.code, int) else 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _sigterm_interrupts() -> None:
    """SIGTERM (CI cancelling a job, `docker stop`, `kill`) unwinds like Ctrl-C, so every
    `finally` runs: containers are removed and no half-written file is left."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    argv = sys.argv[1:] if argv is None else list(argv)
    console = Console.create(env)
    debug = "--debug" in argv
    _sigterm_interrupts()
    with _errors_to_exit_codes(console, debug) as code:
        args = _build_parser().parse_args(argv)
        console.verbosity = getattr(args, "verbosity", 0)
        if args.command == "check":
            code[0] = _run_check(args, console)
        elif args.command == "probe":
            code[0] = _run_probe(args, console, env)
        else:
            code[0] = _run_build(args, console, env)
    return code[0]
