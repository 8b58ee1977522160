"""The command line: argv in, exit code out. The only place that prints or decides an exit code."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NoReturn

from . import __version__
from .checks import Kind, detect_kind
from .console import Console
from .errors import CheckFailed, LambdaZipError, UsageError
from .facts import gather
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
    if target.runtime.status is RuntimeStatus.DEPRECATED:
        console.info(
            f"warning: {target.runtime.name} was deprecated by AWS Lambda on "
            f"{target.runtime.deprecated_on}; plan a move to a newer runtime"
        )
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


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    argv = sys.argv[1:] if argv is None else list(argv)
    console = Console.create(env)
    debug = "--debug" in argv
    with _errors_to_exit_codes(console, debug) as code:
        args = _build_parser().parse_args(argv)
        console.verbosity = getattr(args, "verbosity", 0)
        if args.command == "check":
            code[0] = _run_check(args, console)
    return code[0]
