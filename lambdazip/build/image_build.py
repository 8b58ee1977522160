"""Build a Lambda function image (`lambdazip image`): the base image of the target, unchanged, and
two layers over it, the dependencies' and the function's own code, both at /var/task.

1. the dependencies: build() of the requirements alone, with every check a function's zip gets
   (installed natively in the base image, bytecode, probe, static check); its zip becomes a layer
   written in the build image (lambdazip_layer: the image's zlib), kept in the host's blob store.
   A change of code alone rebuilds none of this (as a Dockerfile's cached RUN layer would not);
2. the code: the --src files as selected for a zip, statically checked, as a tar gzip'd in stored
   blocks here (oci/image.py: the same bytes from any host's zlib);
3. the base: its config and compressed layers (oci/base.py);
4. the config and the manifest, as bytes: the image ID and the manifest digest follow from the
   inputs alone. The engine receives the image through its API, as an archive holding only what
   it lacks; no `docker build`, no `docker commit`;
5. proven before it is called done: the probe imports the handler's module and every module of
   /var/task in the image, as Lambda's user on a read-only root; a smoke event invokes it there;
6. the record (the image's manifest JSON) and the SBOM beside it; then, if asked, the OCI
   archive and the push (oci/deliver.py), whose digest must be the one built.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdazip.build import resources
from lambdazip.build.builder import BuildResult, build
from lambdazip.build.engine import Engine, ImageInfo
from lambdazip.build.image_compose import (
    LAYER_SCRIPT,
    Composed,
    code_tar_of,
    compose,
    dependencies_plan,
)
from lambdazip.build.images import Progress, resolve_base_image
from lambdazip.build.job_image import job_image_on
from lambdazip.build.plan import BuildPlan
from lambdazip.errors import (
    BuildChecksFailed,
    ImageError,
    OutputError,
    RegistryError,
    UsageError,
)
from lambdazip.oci.image import Descriptor, load_archive
from lambdazip.oci.media_types import DOCKER_LAYER_GZIP, DOCKER_MANIFEST
from lambdazip.oci.store import BlobStore

if TYPE_CHECKING:
    from lambdazip.build.shared_cache import Notices
    from lambdazip.judge.findings import Finding
    from lambdazip.outputs.image_record import ImageRecord


@dataclass(frozen=True)
class ImageRequest:
    handler: str
    tag: str
    oci_archive: Path | None = None
    push: str | None = None

    @property
    def cmd(self) -> list[str]:
        return [self.handler]


class BuiltImage:
    """The image in the engine and its record. A reused record is read as JSON (which decides up
    to date) and validated only when asked for: a no-op build never loads pydantic."""

    def __init__(
        self,
        record: ImageRecord | dict[str, Any],
        record_path: Path,
        reused: bool,
        pushed: str | None = None,
    ) -> None:
        self._record = record
        # the record as JSON, once: what the CLI says of it, without validating a reused one
        self._json = record if isinstance(record, dict) else record.model_dump(mode="json")
        self.record_path = record_path
        self.reused = reused
        self.pushed = pushed  # the reference pushed, with the registry's digest
        self.shared: Notices | None = None  # what the dependencies' shared cache did

    @property
    def record(self) -> ImageRecord:
        if isinstance(self._record, dict):
            from lambdazip.outputs.image_record import ImageRecord

            try:
                self._record = ImageRecord.model_validate(self._record)
            except ValueError as exc:
                raise OutputError(
                    f"{self.record_path} is damaged: {str(exc).splitlines()[0]}",
                    tip="delete it, or build again with --force",
                ) from exc
        return self._record

    def fact(self, name: str) -> Any:
        """One field of the record, as its JSON has it."""
        return self._json[name]

    @property
    def files(self) -> int:
        return sum(int(layer["files"]) for layer in self._json["layers"])

    @property
    def warned(self) -> bool:
        found = list(self._json["findings"])
        dependencies = self._json["dependencies"]
        found += dependencies.get("findings", []) if dependencies else []
        return any(f.get("severity") == "warning" for f in found)


def record_path(plan: BuildPlan, directory: Path) -> Path:
    return directory / f"{plan.output.stem}.image.json"


def sbom_path(plan: BuildPlan, directory: Path) -> Path:
    return directory / f"{plan.output.stem}.image.cdx.json"


def _key(parts: Mapping[str, object]) -> str:
    writer = hashlib.sha256(resources.inside(LAYER_SCRIPT)).hexdigest()
    return hashlib.sha256(
        json.dumps({**parts, "writer": writer}, sort_keys=True).encode()
    ).hexdigest()


def _up_to_date(engine: Engine, path: Path, key: str, tag: str) -> dict[str, Any] | None:
    """The record in place, as JSON, if it is of these inputs and the engine has its image
    under ``tag``."""
    try:
        record = json.loads(path.read_bytes())
        if not isinstance(record, dict) or record.get("cache_key") != key:
            return None
        image_id = str(record["image_id"])
    except (OSError, ValueError, KeyError):
        return None
    info = engine.image(tag)
    return record if info is not None and info.id == image_id else None


def build_function_image(
    engine: Engine,
    plan: BuildPlan,
    request: ImageRequest,
    progress: Progress,
    env: Mapping[str, str],
    work: Path,
    smoke: Callable[[str, str], None] | None = None,
) -> BuiltImage:
    """Build, load, prove and record the image of ``plan``'s function: the record and the SBOM
    go to the plan's out_dir, the dependencies' zip to ``work``."""
    engine.require_partial_load()  # said before anything is built
    store = BlobStore.of(env)
    dependencies = _dependencies(engine, plan, work, progress)
    base = resolve_base_image(engine, plan.base_image, plan.target, progress)
    code_tar = code_tar_of(plan)
    key = _key(
        {
            "dependencies": dependencies.zip.sha256 if dependencies else None,
            "code": hashlib.sha256(code_tar).hexdigest() if code_tar else None,
            "base": base.id,
            "cmd": request.cmd,
            "epoch": plan.epoch,
            "tag": request.tag,
            "configuration": [name for name, _ in plan.configuration],
            "strict_import": plan.inputs.strict_import,
        }
    )
    path = record_path(plan, plan.out_dir)
    reused = _up_to_date(engine, path, key, request.tag)
    if reused is not None and not plan.inputs.force:
        sbom = sbom_path(plan, plan.out_dir)
        if dependencies is not None and not sbom.is_file():  # made again from the record
            _write_record(path, sbom, BuiltImage(reused, path, True).record, dependencies)
        if smoke is not None:
            progress.step(f"{request.tag} is up to date: invoking it again")
            with job_image_on(engine, str(reused["image_id"]), plan.target) as job:
                smoke(str(reused["image_id"]), job)
        delivered = _deliver(BuiltImage(reused, path, reused=True), request, store, env, progress)
        delivered.shared = dependencies.shared if dependencies else None
        return delivered

    _no_code_over_dependencies(plan, dependencies)
    code_findings = _check_code(plan) if plan.sources else []
    composed = compose(
        engine, plan, request.cmd, base, dependencies, code_tar, store, env, progress
    )
    config, image_id = composed.config, composed.image_id
    own = [
        Descriptor(DOCKER_LAYER_GZIP, layer["digest"], layer["size"]) for layer in composed.added
    ]
    loaded = _load(engine, config, request.tag, [store.path(d.digest) for d in own], image_id,
                   progress)  # fmt: skip
    try:  # proven and recorded before it has the name: a failed build leaves the old one
        probe, findings = _prove(engine, plan, request, image_id, smoke, progress)
        findings = code_findings + findings
        record = _record(plan, request, key, base, composed, dependencies, probe, findings, engine)
        _write_record(path, sbom_path(plan, plan.out_dir), record, dependencies)
        engine.tag(image_id, request.tag)
    except BaseException:
        if loaded:  # an image that was not proven is not kept (one that was here before is)
            with contextlib.suppress(ImageError):
                engine.remove_image(image_id)
        raise
    delivered = _deliver(BuiltImage(record, path, reused=False), request, store, env, progress)
    delivered.shared = dependencies.shared if dependencies else None
    return delivered


def _dependencies(
    engine: Engine, plan: BuildPlan, work: Path, progress: Progress
) -> BuildResult | None:
    """The requirements alone, built and checked as a function's zip is (None: there are none).
    Their modules' imports are judged in the image, with the handler's module first (as Lambda
    imports them): a module its handler never imports is said to be unused there, not refused
    here."""
    if plan.locked is None or not plan.locked.lines:  # nothing but comments is nothing
        return None
    return build(engine, dependencies_plan(plan, work), progress)


def _no_code_over_dependencies(plan: BuildPlan, dependencies: BuildResult | None) -> None:
    """A file of --src at a path the dependencies hold would hide theirs in the image (a zip
    refuses two files of one name the same way)."""
    if dependencies is None or not plan.sources:
        return
    import zipfile

    with zipfile.ZipFile(dependencies.zip.path) as installed:
        theirs = set(installed.namelist())
    both = sorted(theirs & {m.arcname for m in plan.sources})
    if both:
        more = f" (and {len(both) - 1} more)" if len(both) > 1 else ""
        raise UsageError(
            f"{both[0]}{more} is in --src and in the installed dependencies: the code's would "
            "hide the installed file in the image",
            tip="rename it, or leave it out of --src (.lambdazipignore)",
        )


def _check_code(plan: BuildPlan) -> list[Finding]:
    """The static check of the function's own files, as `check` judges a zip of them; its errors
    stop the build before anything is loaded."""
    from lambdazip.inside import lambdazip_zip
    from lambdazip.judge.checks import check_artifact
    from lambdazip.judge.facts import gather
    from lambdazip.judge.findings import Severity
    from lambdazip.judge.tree import open_tree
    from lambdazip.targets import Kind

    with tempfile.TemporaryDirectory(prefix="lambdazip-code-") as scratch:
        zipped = Path(scratch) / "code.zip"
        members = [lambdazip_zip.Member(m.arcname, m.source, m.executable) for m in plan.sources]
        lambdazip_zip.write(zipped, members, plan.epoch)
        with open_tree(zipped) as tree:
            facts = gather(tree)
    findings = [f for f in check_artifact(facts, plan.target, Kind.FUNCTION) if f.code != "empty"]
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        raise BuildChecksFailed(errors)
    return findings


def _load(
    engine: Engine,
    config: bytes,
    tag: str,
    layers: list[Path],
    image_id: str,
    progress: Progress,
) -> bool:
    """The image into the engine, with no name yet: one archive of just the layers the engine
    lacks. Whether this run loaded it (False: the engine had it)."""
    if engine.image(image_id) is not None:
        return False
    progress.step(f"loading {tag} into the engine")
    with tempfile.TemporaryFile() as archive:
        load_archive(archive, [(config, None, layers)])
        archive.seek(0)
        engine.load(archive)
    if engine.image(image_id) is None:
        raise ImageError(
            f"the engine loaded {tag} but does not list its ID {image_id}",
            tip="the engine may keep images another way (a containerd image store); "
            "report this with `docker info`",
        )
    return True


def _prove(
    engine: Engine,
    plan: BuildPlan,
    request: ImageRequest,
    image_id: str,
    smoke: Callable[[str, str], None] | None,
    progress: Progress,
) -> tuple[Any, list[Finding]]:
    """The probe in the image, judged; the smoke event, in the build image on it (never kept)."""
    from lambdazip.build.runner import probe_image
    from lambdazip.judge.findings import Severity
    from lambdazip.judge.probe import check_probe

    with job_image_on(engine, image_id, plan.target) as job:
        probe = probe_image(
            engine, image_id, plan.target, progress, request.handler, plan.configuration,
            shown_as=request.tag, job=job,
        )  # fmt: skip
        findings = check_probe(probe, plan.target, plan.inputs.strict_import, layers=False)
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors:
            raise BuildChecksFailed(errors)
        if smoke is not None:
            smoke(image_id, job)
    return probe, findings


def _record(
    plan: BuildPlan,
    request: ImageRequest,
    key: str,
    base: ImageInfo,
    composed: Composed,
    dependencies: BuildResult | None,
    probe: Any,
    findings: list[Finding],
    engine: Engine,
) -> ImageRecord:
    from lambdazip.outputs.image_record import AddedLayerModel, ImageRecord, LayerModel
    from lambdazip.outputs.report import BaseImageModel, SourceModel, TargetModel

    base_size = int((engine.inspect(base.id) or {}).get("Size") or 0)  # unpacked, the engine says
    digests = plan.source_digests()
    added, bases = composed.added, composed.bases
    return ImageRecord(
        tool=dependencies.manifest.tool if dependencies else _tool(),
        tag=request.tag,
        target=TargetModel.of(plan.target),
        platform=plan.platform,
        image_id=composed.image_id,
        manifest_digest=composed.manifest_digest,
        manifest_media_type=DOCKER_MANIFEST,
        cmd=request.cmd,
        uncompressed_size=base_size + sum(int(layer["tar_size"]) for layer in added),
        cache_key=key,
        base_image=BaseImageModel.of(base),
        base_layers=[
            LayerModel(media_type=d.media_type, digest=d.digest, size=d.size) for d in bases.layers
        ],
        base_layers_from=bases.source,
        layers=[AddedLayerModel(media_type=DOCKER_LAYER_GZIP, **layer) for layer in added],
        epoch=plan.epoch,
        src=str(plan.src) if plan.src is not None else None,
        dependencies=dependencies.manifest if dependencies else None,
        code=[
            SourceModel(path=m.arcname, sha256=digests[m.arcname], executable=m.executable)
            for m in plan.sources
        ],
        probe=probe,
        findings=findings,
    )


def _tool() -> str:
    from lambdazip import __version__

    return f"lambdazip {__version__}"


def _write_record(
    path: Path, sbom: Path, record: ImageRecord, dependencies: BuildResult | None
) -> None:
    """The record and the SBOM (of the dependencies, with the image as its subject), each
    written whole beside its place and then moved in, the record last: it decides up to date."""
    texts = {path: record.model_dump_json(indent=2) + "\n"}
    if dependencies is not None:
        from lambdazip.outputs.sbom import sbom_json

        subject = dependencies.manifest.model_copy(
            update={
                "artifact": record.tag,
                "sha256": record.manifest_digest.removeprefix("sha256:"),
            }
        )
        texts = {sbom: sbom_json(subject), **texts}
    staged: dict[Path, Path] = {}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for place, text in texts.items():
            temporary = place.with_name(f".{place.name}.{secrets.token_hex(6)}.staged")
            temporary.write_bytes(text.encode("utf-8"))
            staged[place] = temporary
        for place, temporary in staged.items():
            temporary.replace(place)
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror}", tip="pass a writable -o DIR"
        ) from exc
    finally:
        for temporary in staged.values():
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)


def _deliver(
    result: BuiltImage,
    request: ImageRequest,
    store: BlobStore,
    env: Mapping[str, str],
    progress: Progress,
) -> BuiltImage:
    """The OCI archive and the push, if asked for."""
    if request.oci_archive is None and request.push is None:
        return result
    from lambdazip.oci.deliver import push_image, write_oci_archive

    if request.oci_archive is not None:
        write_oci_archive(request.oci_archive, result.record, store, env, progress)
    pushed = None
    if request.push is not None:
        try:
            pushed = push_image(request.push, result.record, store, env, progress)
        except RegistryError as exc:
            raise RegistryError(
                exc.message,
                tip=(f"{exc.tip}; " if exc.tip else "")
                + f"{result.fact('tag')} is built and recorded: the same command again only "
                "pushes",
            ) from exc
    return BuiltImage(result.record, result.record_path, result.reused, pushed)
