"""`verify`: rebuild a zip from its manifest alone and compare the bytes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.build.builder import build
from lambdazip.build.engine import Engine
from lambdazip.build.plan import BuildPlan, make_plan
from lambdazip.cli.commands.shared import layers_provide, manifest_of, note_unset_configuration
from lambdazip.cli.console import Console
from lambdazip.errors import ImageError, NotReproduced, UsageError
from lambdazip.inputs.build_inputs import BuildInputs
from lambdazip.inputs.configuration import Configuration, configuration
from lambdazip.inputs.options import VerifyOptions
from lambdazip.outputs.archive import sha256_file
from lambdazip.targets import RUNTIMES, Arch, Target

if TYPE_CHECKING:  # imported where used: a no-op build loads neither pydantic nor pyelftools
    from lambdazip.outputs.report import Manifest, SourceModel


def run(args: VerifyOptions, console: Console, env: Mapping[str, str]) -> int:
    """Rebuild ``args.zip`` from what its manifest records, and compare the bytes."""
    import tempfile

    from lambdazip.outputs.verify import first_difference

    if args.zip.name.endswith(".image.json"):  # an image's record: the image is rebuilt
        from lambdazip.cli.commands import verify_image

        return verify_image.run(args, console, env)
    manifest = _recorded(args.zip)
    claims = _false_claims(args.zip, manifest)
    if claims:
        if args.json:
            document = {"zip": str(args.zip), "reproduced": False, "false_claims": claims}
            console.result(json.dumps(document, indent=2))
        more = f" (and {len(claims) - 1} more)" if len(claims) > 1 else ""
        raise NotReproduced(
            f"{args.zip.name} is not what its manifest says: {claims[0]}{more}",
            tip="the manifest (or the SBOM) was changed after the build: build the zip again",
        )
    requirements = _requirements(args.zip, args.requirements, manifest)
    layers = _layers(args.zip, manifest)
    settings = configuration(None, args.env_files, args.env)
    # the bytes do not depend on them; the import check's verdict may
    note_unset_configuration(
        console, args.zip, manifest, settings, "for its import check to see what the build saw"
    )
    target = Target(RUNTIMES[manifest.target.python], Arch(manifest.target.arch))
    with Engine.connect(env, target.arch) as engine, ExitStack() as stack:
        image = _base_image(engine, manifest, args.zip.name)
        out_dir = args.output_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="lambdazip-verify-"))
        )
        plan = _rebuild_plan(args, manifest, requirements, layers, settings, image, out_dir, env)
        rebuilt = build(engine, plan, console)
        difference = None
        if rebuilt.zip.sha256 != manifest.sha256:
            difference = first_difference(args.zip, rebuilt.zip.path, manifest, rebuilt.manifest)
    if args.json:
        verdict = {
            "zip": str(args.zip),
            "reproduced": difference is None,
            "sha256": manifest.sha256,
            "rebuilt_sha256": rebuilt.zip.sha256,
            "base_image": image,
            "difference": None if difference is None else dataclasses.asdict(difference),
        }
        console.result(json.dumps(verdict, indent=2))
    if difference is not None:
        raise NotReproduced(
            f"not reproduced: {args.zip.name} (sha256 {manifest.sha256}) rebuilt as sha256 "
            f"{rebuilt.zip.sha256}; first difference: {difference.member}: {difference.original} "
            f"vs {difference.rebuilt}: {difference.why}",
            tip="the manifest's inputs no longer make these bytes: see the difference, and "
            "-o DIR to keep the rebuild",
        )
    console.success(
        f"reproduced: {args.zip} (sha256 {manifest.sha256}) from {requirements.name} in {image}"
    )
    return 0


def _recorded(zip_path: Path) -> Manifest:
    """The manifest beside the zip, with its build inputs, describing this very zip."""
    manifest_path = zip_path.with_suffix(".manifest.json")
    if not zip_path.is_file():
        raise UsageError(f"{zip_path} does not exist", tip="pass a zip built by lambdazip")
    manifest = manifest_of(zip_path)
    if manifest is None:
        raise UsageError(
            f"no readable manifest {manifest_path}",
            tip="verify rebuilds from the manifest written beside the zip: keep the two together",
        )
    if manifest.inputs is None:
        raise UsageError(
            f"{manifest_path} records no build inputs (written by an older lambdazip)",
            tip="rebuild the zip with this version, then verify it",
        )
    actual = sha256_file(zip_path)
    if actual != manifest.sha256:
        raise NotReproduced(
            f"{zip_path} is not the zip its manifest describes (sha256 {actual}, "
            f"the manifest says {manifest.sha256})",
            tip="find the zip that belongs to this manifest",
        )
    return manifest


def _false_claims(zip_path: Path, manifest: Manifest) -> list[str]:
    """Every claim of the manifest, and of the SBOM beside the zip, the zip's bytes contradict."""
    from lambdazip.judge.facts import gather
    from lambdazip.judge.tree import open_tree
    from lambdazip.outputs.claims import false_claims, false_sbom

    with open_tree(zip_path) as tree:
        facts = gather(tree)
    claims = false_claims(manifest, facts, zip_path.stat().st_size)
    sbom = false_sbom(manifest, zip_path.with_suffix(".cdx.json"))
    return [*claims, sbom] if sbom else claims


def _requirements(zip_path: Path, given: Path | None, manifest: Manifest) -> Path:
    """-r, else the path the manifest records: the very file the build read (its sha256)."""
    assert manifest.inputs is not None
    requirements = given or Path(manifest.inputs.requirements)
    if not requirements.is_file():
        raise UsageError(
            f"{requirements} (the requirements {zip_path.name} was built from) does not exist here",
            tip="run from the directory of the build, or pass -r PATH",
        )
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if digest != manifest.requirements_sha256:
        raise UsageError(
            f"{requirements} is not the file {zip_path.name} was built from (sha256 {digest}, "
            f"the manifest records {manifest.requirements_sha256})",
            tip="pass -r with the requirements of that build (e.g. from its commit)",
        )
    return requirements


def _layers(zip_path: Path, manifest: Manifest) -> tuple[Path, ...]:
    """The layers the build had at /opt, each the very zip it had (its sha256)."""
    inputs = manifest.inputs
    assert inputs is not None
    layers = tuple(Path(p) for p in inputs.layers)
    for number, layer in enumerate(layers):
        if not layer.is_file():
            raise UsageError(
                f"{layer} (a layer {zip_path.name} was built with) does not exist here",
                tip="run from the directory of the build, with its layers built",
            )
        recorded = inputs.layer_sha256[number] if number < len(inputs.layer_sha256) else None
        actual = sha256_file(layer) if recorded is not None else None
        if actual != recorded:
            raise UsageError(
                f"{layer} is not the layer {zip_path.name} was built with (sha256 "
                f"{actual}, the manifest records {recorded})",
                tip="verify with the layers of that build",
            )
    return layers


def _base_image(engine: Engine, manifest: Manifest, zip_name: str) -> str:
    """The image the zip was built on: its ID on this engine, else its registry digest."""
    base = manifest.base_image
    if engine.image(base.id) is not None:
        return base.id
    if base.repo_digests:
        return base.repo_digests[0]  # pulled by digest: the same bytes, or nothing
    raise ImageError(
        f"the base image {zip_name} was built on ({base.id}, then {base.reference}) "
        "is no longer on this engine, and no registry digest was recorded",
        tip="load that exact image again; a tag may have moved since the build",
    )


def _rebuild_plan(
    args: VerifyOptions,
    manifest: Manifest,
    requirements: Path,
    layers: tuple[Path, ...],
    settings: Configuration,
    image: str,
    out_dir: Path,
    env: Mapping[str, str],
    src: Path | None = None,
) -> BuildPlan:
    """The plan the manifest records, into ``out_dir``: every recorded input, forced. ``src``:
    the code of an image's function, whose dependencies' manifest records none (the image's
    record holds the code's files, checked by its verify)."""
    inputs = manifest.inputs
    assert inputs is not None
    target = Target(RUNTIMES[manifest.target.python], Arch(manifest.target.arch))
    plan = make_plan(
        kind=manifest.kind,
        target=target,
        requirements=requirements,
        src=src or args.src or (Path(inputs.src) if inputs.src else None),
        out_dir=out_dir,
        name=inputs.name,
        base_image=image,
        ca_bundle=args.ca_bundle,
        env=env,
        epoch=inputs.epoch,
        # every recorded build option, and those the manifest does not record: a rebuild
        inputs=BuildInputs.from_record(
            inputs.model_dump(), allow_unhashed=not inputs.require_hashes, force=True
        ),
        handler=inputs.handler,
        include=tuple(inputs.include),
        layers=layers,
        provided=layers_provide(layers, target),
        configuration=settings,
    )
    if src is None:
        _same_sources(plan, inputs.sources, args.zip.name)
    return plan


def _same_sources(plan: BuildPlan, recorded: Sequence[SourceModel], zip_name: str) -> None:
    """The function's code selected now must be what was packed then, file by file."""
    now = plan.source_digests()
    then = {s.path: s.sha256 for s in recorded}
    for name in sorted(set(now) | set(then)):
        if now.get(name) != then.get(name):
            state = "is new" if name not in then else "is gone" if name not in now else "differs"
            raise UsageError(
                f"{name} in --src {plan.src} {state} since {zip_name} was built",
                tip="verify from the code of that build (e.g. its commit), or pass --src",
            )
