"""The command line: argv in, exit code out. Parsing in parser.py; each command in commands/. The
only place that decides an exit code; with commands/ and console.py, the only places that print."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import PurePath
from typing import NoReturn

from lambdazip import interrupts
from lambdazip.build.endpoints import with_engines
from lambdazip.build.shared_cache import forget_failures
from lambdazip.cli.console import Console
from lambdazip.cli.parser import build_parser, command_of, typed
from lambdazip.errors import BROKEN_PIPE, INTERRUPTED, LambdaZipError, UsageError


def program_name(argv0: str) -> str:
    """How the user started us, for usage lines and tips: ``build.py`` from a checkout,
    ``python -m lambdazip``, or the ``lambdazip`` script that pip, pipx and uvx install."""
    name = PurePath(argv0.replace("\\", "/")).name
    if name == "__main__.py":
        return "python -m lambdazip"
    if name.endswith(".py"):
        return name
    return "lambdazip"


@contextmanager
def _errors_to_exit_codes(console: Console, debug: bool) -> Iterator[list[int]]:
    """The exception family becomes one error line and its exit code; tracebacks only in debug."""
    code = [0]
    try:
        yield code
    except LambdaZipError as exc:
        if debug and not isinstance(exc, UsageError):  # a usage error is never a traceback
            import traceback  # where it came from, for a report; the line and code stay the same

            traceback.print_exc(file=sys.stderr)
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


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    prog: str | None = None,
) -> int:
    env = os.environ if env is None else env
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = prog or program_name(sys.argv[0] if sys.argv else "lambdazip")
    console = Console.create(env)
    interrupts.install()  # SIGINT and SIGTERM unwind, every `finally` runs
    with _errors_to_exit_codes(console, "--debug" in argv) as code:
        args = build_parser(prog, command_of(argv)).parse_args(argv)
        console.verbosity = args.verbosity
        console.json = bool(getattr(args, "json", False))
        if getattr(args, "engines", None):  # --engine wins over LAMBDAZIP_ENGINE_* and the file
            env = with_engines(env, dict(args.engines))
        forget_failures()  # what a registry did in an earlier main() (a test's) is not this run's
        command = importlib.import_module(f"lambdazip.cli.commands.{args.run}")
        code[0] = command.run(typed(args), console, env)
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
