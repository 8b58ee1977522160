"""Another deflate on the host: zlib-ng (the `zlib-ng` package) put in place of zlib before
anything imports it, in a fresh interpreter, to show what depends on the host's deflate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WITH_ZLIB_NG = """
import sys
import zlib_ng.zlib_ng as zlib_ng
sys.modules["zlib"] = zlib_ng
import zipfile
assert zipfile.zlib is zlib_ng
"""
# the command line as a user runs it, with zlib-ng in place of zlib
LAMBDAZIP_WITH_ZLIB_NG = (
    WITH_ZLIB_NG
    + """
sys.argv[0] = "lambdazip"
from lambdazip.cli import main
sys.exit(main(sys.argv[1:]))
"""
)
HOST_WRITER = """
import sys
from pathlib import Path
from tests.zips import collect, write_zip
print(write_zip(Path(sys.argv[2]), collect(Path(sys.argv[1]))).sha256)
"""


def host_zip(tree: Path, dest: Path, deflate: str) -> str:
    """Pack ``tree`` into ``dest`` with the host's writer and ``deflate`` ("zlib" or "zlib-ng");
    the sha256 of the zip."""
    prelude = WITH_ZLIB_NG if deflate == "zlib-ng" else ""
    command = [sys.executable, "-c", prelude + HOST_WRITER, str(tree), str(dest)]
    done = subprocess.run(  # from the checkout: the writer is tests/zips.py's
        command, capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent
    )
    return done.stdout.strip()
