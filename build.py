#!/usr/bin/env python3
"""Build and check AWS Lambda artifacts: `python build.py --help`."""

import sys

if sys.version_info < (3, 10):  # noqa: UP036 - say so plainly on an old interpreter
    sys.exit("error: build.py needs Python 3.10 or newer; run it with python3.10+")

try:
    from lambdazip.cli import run
except ModuleNotFoundError as exc:  # the tool's own dependencies are not installed
    sys.exit(
        f"error: missing dependency {exc.name!r}; run `make venv` (or "
        "`python -m pip install -e .`) and use .venv's python"
    )
except KeyboardInterrupt:  # Ctrl-C while starting: nothing has begun
    sys.exit(130)

if __name__ == "__main__":
    run()
