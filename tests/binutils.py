"""An image "that has binutils", for --strip: a stand-in with this host's GNU strip copied in.

Only where the host can give a strip that runs in the stand-in: Debian bookworm on x86_64 (the
machines here and CI), whose strip and libraries are the very ones the python3.11 x86_64
stand-in's Debian would install. Elsewhere: None, and the test that needs it is skipped.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import docker
from docker.errors import ImageNotFound

LIBRARIES = Path("/lib/x86_64-linux-gnu")
NEEDED = ("libbfd-2.40-system.so", "libsframe.so.0")  # what bookworm's strip links besides libc


def with_strip(client: docker.DockerClient, base: str) -> str | None:
    strip = shutil.which("strip")
    if strip is None or not all((LIBRARIES / name).is_file() for name in NEEDED):
        return None
    binary = Path(strip).resolve()
    base_id = client.images.get(base).id
    digest = hashlib.sha256(base_id.encode() + binary.read_bytes()).hexdigest()[:12]
    tag = f"lambdazip-test-strip:{digest}"
    try:
        client.images.get(tag)
        return tag
    except ImageNotFound:
        pass
    with tempfile.TemporaryDirectory() as directory:
        context = Path(directory)
        shutil.copyfile(binary, context / "strip")
        (context / "strip").chmod(0o755)
        for name in NEEDED:
            shutil.copyfile(LIBRARIES / name, context / name)
        (context / "Dockerfile").write_text(
            f"FROM {base_id}\nCOPY strip /usr/bin/strip\n"
            f"COPY {' '.join(NEEDED)} /usr/lib/x86_64-linux-gnu/\n"
        )
        client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
    return tag
