"""`verify NAME.image.json`: rebuild a function image from its record alone and compare digests.

The dependencies' zip is rebuilt from the inputs its own manifest records (as `verify` rebuilds
any zip), the code is read from --src and checked file by file against the record, and the image
is composed again in a blob store of its own, so nothing the first build left behind (a layer, a
base's compressed layers) is reused: the image ID and the manifest digest must come out equal.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.build.builder import build
from lambdazip.build.engine import Engine
from lambdazip.build.image_compose import code_tar_of, compose, dependencies_plan
from lambdazip.build.images import resolve_base_image
from lambdazip.build.plan import BuildPlan
from lambdazip.cli.console import Console
from lambdazip.errors import NotReproduced, UsageError
from lambdazip.inputs.configuration import configuration
from lambdazip.inputs.options import VerifyOptions
from lambdazip.oci.store import BlobStore
from lambdazip.outputs.archive import Member, sha256_file
from lambdazip.targets import RUNTIMES, Arch, Kind, Target

if TYPE_CHECKING:
    from lambdazip.outputs.report import SourceModel


def run(args: VerifyOptions, console: Console, env: Mapping[str, str]) -> int:
    from lambdazip.cli.commands.verify import _base_image, _rebuild_plan, _requirements
    from lambdazip.outputs.image_record import ImageRecord

    path = args.zip
    try:
        record = ImageRecord.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{path} is not a readable image record ({str(exc).splitlines()[0]})",
            tip="pass the NAME-python3.X-ARCH.image.json `image` wrote",
        ) from exc
    target = Target(RUNTIMES[record.target.python], Arch(record.target.arch))
    settings = configuration(None, args.env_files, args.env)
    members = _code(record.code, args.src or (Path(record.src) if record.src else None), path)
    with (
        Engine.connect(env, target.arch) as engine,
        tempfile.TemporaryDirectory(prefix="lambdazip-verify-") as scratch,
    ):
        work = args.output_dir or Path(scratch) / "work"
        dependencies = None
        if record.dependencies is not None:
            manifest = record.dependencies
            requirements = _requirements(path, args.requirements, manifest)
            image = _base_image(engine, manifest, path.name)
            code = args.src or (Path(record.src) if record.src else None)
            plan = _rebuild_plan(
                args, manifest, requirements, (), settings, image, work, env, src=code
            )
            plan = dependencies_plan(plan, work)
            dependencies = build(engine, plan, console)
            if dependencies.zip.sha256 != manifest.sha256:
                raise NotReproduced(
                    f"not reproduced: the dependencies of {record.tag} (sha256 "
                    f"{manifest.sha256}) rebuilt as {dependencies.zip.sha256}",
                    tip="run `verify` on the dependencies' zip for the first difference: "
                    f"build.py verify {dependencies.zip.path}",
                )
        else:
            image = record.base_image.id
            plan = BuildPlan(
                kind=Kind.FUNCTION,
                target=target,
                requirements=path,
                src=None,
                out_dir=work,
                name=record.tag,
                base_image=image,
                ca_bundle=None,
                environment=(),
                epoch=record.epoch,
            )
        base = resolve_base_image(engine, image, target, console)
        if base.id != record.base_image.id:
            raise NotReproduced(
                f"{image} is {base.id} here, not the base {record.tag} was built on "
                f"({record.base_image.id})",
                tip="load that exact base image again",
            )
        code_plan = dataclasses.replace(plan, sources=members, epoch=record.epoch)
        store = BlobStore(Path(scratch) / "store")  # nothing of the first build reused
        composed = compose(
            engine, code_plan, record.cmd, base, dependencies, code_tar_of(code_plan), store,
            env, console,
        )  # fmt: skip
    same = (composed.image_id, composed.manifest_digest) == (
        record.image_id,
        record.manifest_digest,
    )
    if args.json:
        verdict = {
            "image": record.tag,
            "reproduced": same,
            "image_id": record.image_id,
            "manifest_digest": record.manifest_digest,
            "rebuilt_image_id": composed.image_id,
            "rebuilt_manifest_digest": composed.manifest_digest,
        }
        console.result(json.dumps(verdict, indent=2))
    if not same:
        differs = [
            f"{layer['what']} {layer['digest']} (recorded {then.digest})"
            for layer, then in zip(composed.added, record.layers, strict=False)
            if layer["digest"] != then.digest
        ]
        if not differs and composed.manifest_digest != record.manifest_digest:
            differs = ["the base's layers"]
        if not differs:
            differs = ["the config (the record's image ID is not what its inputs make)"]
        raise NotReproduced(
            f"not reproduced: {record.tag}: recorded image {record.image_id}, manifest "
            f"{record.manifest_digest}; rebuilt image {composed.image_id}, manifest "
            f"{composed.manifest_digest}; differs: {', '.join(differs)}",
            tip="the record's inputs no longer make this image (or the record was changed)",
        )
    console.success(
        f"reproduced: {record.tag} (image {record.image_id[:19]}, manifest "
        f"{record.manifest_digest}) from its record"
    )
    return 0


def _code(files: Sequence[SourceModel], src: Path | None, path: Path) -> tuple[Member, ...]:
    """The function's files from ``src``, each the very file the image was built with."""
    if not files:
        return ()
    if src is None or not src.is_dir():
        raise UsageError(
            f"the code {path.name} was built from ({src}) is not here",
            tip="run from the directory of the build, or pass --src",
        )
    members = []
    for file in files:
        source = src / file.path
        digest = sha256_file(source) if source.is_file() else None
        if digest != file.sha256:
            state = "is gone" if digest is None else "differs"
            raise UsageError(
                f"{file.path} in --src {src} {state} since {path.name} was built",
                tip="verify from the code of that build (e.g. its commit), or pass --src",
            )
        members.append(Member(file.path, source, file.executable))
    return tuple(members)
