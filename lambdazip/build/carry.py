"""Carry the download cache volume of a target out of the engine into a file, and back in: CI
runners start with an empty engine, so the cache survives between workflow runs only as a file
(actions/cache keeps it). Both ways go through the archive API of a container that is created and
never started, so remote engines work and nothing runs.

The file is the tar the engine gives for the cache directory (members ``cache/pip/...``,
``cache/uv/...``, ``cache/tools/...``), written atomically; importing it unpacks it into the volume
through the engine, never on the host.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lambdazip.build.container import Container
from lambdazip.build.engine import Engine, VolumeMount
from lambdazip.build.images import Progress, job_image
from lambdazip.build.plan import cache_volume_name
from lambdazip.errors import ArtifactError, OutputError
from lambdazip.inside.lambdazip_contract import CACHE_DIR, INSIDE_DIR, PYTHON
from lambdazip.targets import Target


@contextmanager
def _cache_container(
    engine: Engine, target: Target, base_image: str, progress: Progress
) -> Iterator[tuple[Container, str]]:
    """A container (never started) with the target's cache volume at CACHE_DIR, and the volume."""
    _base, image = job_image(engine, base_image, target, progress)
    volume = engine.cache_volume(cache_volume_name(target))
    with engine.container(
        image.id,
        [PYTHON, "-c", "pass"],
        platform=target.arch.info.oci_platform,
        environment={},
        purpose="cache",
        volumes=[VolumeMount(volume, CACHE_DIR)],
    ) as container:
        yield container, volume


def export_cache(
    engine: Engine, target: Target, base_image: str, dest: Path, progress: Progress
) -> int:
    """Write the target's cache volume to ``dest`` (a tar); the bytes written."""
    staged = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")
    written = 0
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with (
            _cache_container(engine, target, base_image, progress) as (container, volume),
            staged.open("wb") as out,
        ):
            progress.step(f"exporting the cache volume {volume} to {dest}")
            for chunk in container.get(CACHE_DIR):
                out.write(chunk)
                written += len(chunk)
                progress.transfer("exporting", written, 0)
        staged.replace(dest)
    except OSError as exc:
        raise OutputError(
            f"cannot write {dest}: {exc.strerror}", tip="pass a writable path"
        ) from exc
    finally:
        staged.unlink(missing_ok=True)
    return written


def import_cache(
    engine: Engine, target: Target, base_image: str, source: Path, progress: Progress
) -> int:
    """Unpack ``source`` (made by :func:`export_cache`) into the target's cache volume; the bytes
    read. A missing file imports nothing (the first run of a workflow has no cache yet)."""
    if not source.exists():
        progress.step(f"no cache file {source} yet: starting with an empty cache")
        return 0
    if not source.is_file():
        raise ArtifactError(f"{source} is not a file", tip="pass the file `cache export` wrote")
    with (
        _cache_container(engine, target, base_image, progress) as (container, volume),
        source.open("rb") as data,
    ):
        progress.step(f"importing {source} into the cache volume {volume}")
        container.put(INSIDE_DIR, data)
    return source.stat().st_size
