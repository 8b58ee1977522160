"""The build image on a function image: the image itself plus lambdazip's scripts (probe.py,
invoke.py, ...), which the probe and invoke run in. It is what the Dockerfile would make on that
image, made as bytes instead and loaded through the engine's API under the name the Dockerfile's
build would get (images.build_image_tag), so job_image() finds it: a load takes a fraction of a
second where a `docker build` takes seconds and leaves intermediate images on a Ctrl-C. It never
outlives its use: every function image would otherwise keep one, and the function image could
not be removed while it has a child.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from lambdazip.build.engine import Engine
from lambdazip.build.images import build_image_tag, inside_files
from lambdazip.errors import ImageError
from lambdazip.inside import lambdazip_contract as contract
from lambdazip.oci.image import canonical, digest_of, job_config, load_archive
from lambdazip.targets import Target


def _config_of(info: dict[str, Any]) -> bytes:
    """An image config standing for the engine's image (its own config is not one of the things
    the engine's inspect returns whole): the same layers, settings and platform. Only the layers
    decide which image it is built on."""
    config: dict[str, Any] = {
        "architecture": info.get("Architecture"),
        "os": info.get("Os"),
        "config": info.get("Config") or {},
        "rootfs": {
            "type": "layers",
            "diff_ids": list((info.get("RootFS") or {}).get("Layers") or []),
        },
        "history": [],
    }
    if info.get("Variant"):
        config["variant"] = info["Variant"]
    return canonical(config)


@contextmanager
def job_image_on(engine: Engine, image: str, target: Target) -> Iterator[str]:
    """Load the build image on ``image`` (a reference or ID the engine has), yield its name,
    and remove it on the way out, whatever happens."""
    from lambdazip.build.transfer import tar_files

    info = engine.inspect(image)
    if info is None:
        raise ImageError(f"the engine has no image {image}", tip="build or pull it first")
    tag = f"{build_image_tag(str(info['Id']), target)}-{secrets.token_hex(4)}"
    scripts = tar_files(
        {f"{contract.INSIDE_DIR.strip('/')}/{n}": d for n, d in inside_files().items()}
    )
    command = [contract.PYTHON, f"{contract.INSIDE_DIR}/probe.py", "--kind", "layer"]
    job = job_config(_config_of(info), digest_of(scripts), contract.TASK_ROOT, command)
    try:
        with tempfile.TemporaryDirectory(prefix="lambdazip-job-") as scratch:
            layer = Path(scratch) / "scripts.tar"
            layer.write_bytes(scripts)
            with tempfile.TemporaryFile() as archive:
                load_archive(archive, [(job, tag, [layer])])
                archive.seek(0)
                engine.load(archive)
        yield tag
    except BaseException:
        with suppress(ImageError):  # never hide the error on its way out
            engine.remove_image(tag)
        raise
    engine.remove_image(tag)
