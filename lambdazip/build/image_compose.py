"""The image as bytes, from its parts (`image` builds with it, `verify` rebuilds with it): the
dependencies' zip made a layer in the build image, the code's files made a layer here, both at
/var/task over the base's layers, and the config and manifest that name them. Nothing here
judges whether the image is any good, and nothing is loaded into the engine.

The dependencies' layer is written in the build image (inside/lambdazip_layer.py) so that its
compressed bytes are the image's zlib's, never the host's; it is kept in the blob store by the
zip's digest, the base, the epoch and the writer's own digest. The code's layer is gzip'd in
stored blocks here (oci/image.py): the same bytes from any host.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdazip.build import resources
from lambdazip.build.builder import BuildResult
from lambdazip.build.engine import Engine, ImageInfo
from lambdazip.build.exits import Exited, failure
from lambdazip.build.images import Progress, build_image
from lambdazip.build.plan import BuildPlan
from lambdazip.errors import BuildFailed
from lambdazip.inside import lambdazip_contract as contract
from lambdazip.oci.image import (
    Descriptor,
    code_layer,
    digest_of,
    image_config,
    image_manifest,
    stored_gzip,
)
from lambdazip.oci.media_types import DOCKER_LAYER_GZIP
from lambdazip.oci.store import BlobStore

if TYPE_CHECKING:
    from lambdazip.oci.base import BaseLayers

LAYER_SCRIPT = "lambdazip_layer.py"
FUNCTION_ZIP = f"{contract.IN_DIR}/function.zip"
DEPENDENCIES = "dependencies"  # the dependencies' zip's name in the work directory
ROOT = contract.TASK_ROOT.strip("/")
DEPENDENCIES_LAYER = "lambdazip image: the dependencies at /var/task"
CODE_LAYER = "lambdazip image: the function's code at /var/task"


@dataclass(frozen=True)
class Composed:
    """The image as bytes: its config and manifest, the layers put over the base, the base's."""

    config: bytes
    manifest: bytes
    added: list[dict[str, Any]]  # each: what, digest, size, diff_id, tar_size, files
    bases: BaseLayers

    @property
    def image_id(self) -> str:
        return digest_of(self.config)

    @property
    def manifest_digest(self) -> str:
        return digest_of(self.manifest)


def compose(
    engine: Engine,
    plan: BuildPlan,
    cmd: list[str],
    base: ImageInfo,
    dependencies: BuildResult | None,
    code_tar: bytes | None,
    store: BlobStore,
    env: Mapping[str, str],
    progress: Progress,
) -> Composed:
    """The image's bytes from its parts: the dependencies' zip, the code's tar, the base. What
    `image` loads and `verify` compares; nothing here decides whether it is any good."""
    from lambdazip.oci.base import base_layers

    added: list[dict[str, Any]] = []
    if dependencies is not None:
        added.append(_dependencies_layer(engine, plan, base, dependencies, store, progress))
    if code_tar is not None:
        added.append(_code_layer(code_tar, len(plan.sources), store))
    bases = base_layers(engine, base, plan.target, store, env, progress)
    config = image_config(
        json.loads(bases.config),
        [(layer["diff_id"], layer["what"]) for layer in added],
        cmd,
        plan.epoch,
        plan.target.runtime.name,
    )
    own = [Descriptor(DOCKER_LAYER_GZIP, layer["digest"], layer["size"]) for layer in added]
    return Composed(config, image_manifest(config, (*bases.layers, *own)), added, bases)


def code_tar_of(plan: BuildPlan) -> bytes | None:
    """The tar of the function's own files (its --src selection) under /var/task."""
    if not plan.sources:
        return None
    files = ((m.arcname, Path(m.source).read_bytes(), m.executable) for m in plan.sources)
    return code_layer(files, ROOT, plan.epoch)


def dependencies_plan(plan: BuildPlan, work: Path) -> BuildPlan:
    """The requirements alone, as a function's zip in ``work``."""
    return dataclasses.replace(
        plan,
        out_dir=work,
        name=DEPENDENCIES,
        src=None,
        sources=(),
        left_out=(),
        include=(),
        handler=None,
        smoke_event_sha256=None,
        judge_imports=False,
    )


def _code_layer(tar: bytes, files: int, store: BlobStore) -> dict[str, Any]:
    blob = stored_gzip(tar)
    digest = store.put_bytes(blob)
    return {
        "what": CODE_LAYER,
        "digest": digest,
        "size": len(blob),
        "diff_id": digest_of(tar),
        "tar_size": len(tar),
        "files": files,
    }


def _dependencies_layer(
    engine: Engine,
    plan: BuildPlan,
    base: ImageInfo,
    dependencies: BuildResult,
    store: BlobStore,
    progress: Progress,
) -> dict[str, Any]:
    """The layer of the dependencies' zip, written in the build image; kept by the zip's digest,
    the base's ID (whose zlib compresses it), the epoch and the writer's own digest."""
    from lambdazip.build.transfer import tar_files, unpack

    writer = hashlib.sha256(resources.inside(LAYER_SCRIPT)).hexdigest()[:16]
    name = f"layer-{dependencies.zip.sha256[:32]}-{base.id.removeprefix('sha256:')[:32]}"
    name += f"-{plan.epoch}-{writer}"
    known = store.note(name)
    if known is not None and store.has(str(known.get("digest"))):
        return {**known, "what": DEPENDENCIES_LAYER}
    image = build_image(engine, base, plan.target, progress)
    command = [contract.PYTHON, f"{contract.INSIDE_DIR}/{LAYER_SCRIPT}", FUNCTION_ZIP]
    command += [contract.OUT_DIR, ROOT, str(plan.epoch)]
    with engine.container(
        image.id, command, platform=plan.platform, environment={}, purpose="layer"
    ) as container:
        relative = FUNCTION_ZIP.removeprefix(contract.INSIDE_DIR + "/")
        inputs = {relative: dependencies.zip.path.read_bytes(), "out/.keep": b""}
        container.put(contract.INSIDE_DIR, tar_files(inputs))
        progress.step("writing the dependencies' image layer in the image")
        lines: list[str] = []

        def keep(line: str) -> None:
            lines.append(line)
            progress.detail(line)

        code = container.run(keep)
        if code != 0:
            raise failure(Exited(code, lines, "the layer writer", plan.base_image, plan.target))
        scratch = store.scratch_directory()  # beside the blobs: the move in is a rename
        try:
            unpack(container.get(contract.OUT_DIR), scratch, strip=1)
            facts = scratch / "layer.json"
            blob = scratch / "layer.tar.gz"
            if not facts.is_file() or not blob.is_file():
                raise BuildFailed("the layer writer left no layer", tip="run again with -v")
            try:
                layer = json.loads(facts.read_bytes())
                digest, size = str(layer["digest"]), int(layer["size"])
            except (ValueError, KeyError, TypeError) as exc:
                raise BuildFailed(
                    f"the layer writer's facts are not this version's: {exc}",
                    tip="rebuild with --no-cache",
                ) from None
            if layer.get("schema_version") != 1 or blob.stat().st_size != size:
                raise BuildFailed(
                    "the layer changed on its way out of the container", tip="build again"
                )
            store.put_file(blob, digest)  # its digest checked there
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    kept = {k: layer[k] for k in ("digest", "size", "diff_id", "tar_size", "files")}
    store.write_note(name, kept)
    return {**kept, "what": DEPENDENCIES_LAYER}
