"""Build a Lambda function image (`lambdazip image`): the function zip, built and checked as
`function` builds it, becomes one layer on the official base image of its target.

1. the function zip: build() with every check (install natively in the base image, bytecode,
   probe, static check); its files are the image's /var/task;
2. the layer: written from that zip in the build image (lambdazip_layer: the image's zlib), kept
   in the host's blob store under its digest;
3. the base: its config read from the engine once (``docker save``), its compressed layers taken
   from the registry it was pulled from (the same blobs, so the same digests from every host),
   or, for an image that came from no registry, compressed here once;
4. the config and the manifest, as bytes (oci/image.py): the image ID and the manifest digest
   follow from the inputs alone. The engine receives the image through its API as an archive
   holding only the new layer; no `docker build`, no `docker commit`;
5. proven before it is called done: the probe imports every module of /var/task in the image as
   Lambda's user on a read-only root; a smoke event invokes the handler in it;
6. the record (the image's manifest JSON) and the SBOM beside it; then, if asked, the OCI
   archive and the push, whose digest must be the one built.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import secrets
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lambdazip.build import resources
from lambdazip.build.builder import BuildResult, build
from lambdazip.build.engine import Engine, ImageInfo
from lambdazip.build.exits import Exited, failure
from lambdazip.build.images import (
    Progress,
    build_image,
    build_image_tag,
    inside_files,
    resolve_base_image,
)
from lambdazip.build.plan import BuildPlan
from lambdazip.errors import BuildChecksFailed, BuildFailed, ImageError, OutputError
from lambdazip.inside import lambdazip_contract as contract
from lambdazip.oci.image import (
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    Descriptor,
    digest_of,
    image_config,
    image_manifest,
    job_config,
    load_archive,
    oci_archive,
)
from lambdazip.oci.store import BlobStore, sha256_of

if TYPE_CHECKING:
    from lambdazip.outputs.image_record import ImageRecord

LAYER_SCRIPT = "lambdazip_layer.py"
FUNCTION_ZIP = f"{contract.IN_DIR}/function.zip"


@dataclass(frozen=True)
class ImageRequest:
    handler: str
    tag: str
    oci_archive: Path | None = None
    push: str | None = None

    @property
    def cmd(self) -> list[str]:
        return [self.handler]


@dataclass(frozen=True)
class BaseLayers:
    """A base image's config and compressed layers, and where the blobs can be had."""

    config: bytes
    layers: tuple[Descriptor, ...]
    source: str  # "registry REPOSITORY" or "compressed here"
    registry: str | None  # the reference (with its digest) to fetch blobs from, if any


class BuiltImage:
    """The image in the engine and its record. A reused record is read as JSON (which decides up
    to date) and validated only when asked for: a no-op build never loads pydantic."""

    def __init__(
        self,
        record: ImageRecord | dict[str, Any],
        record_path: Path,
        function: BuildResult,
        reused: bool,
        pushed: str | None = None,
    ) -> None:
        self._record = record
        self.record_path = record_path
        self.function = function
        self.reused = reused
        self.pushed = pushed  # the reference pushed, with the registry's digest

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
        """One field of the record, without validating a reused one."""
        if isinstance(self._record, dict):
            return self._record[name]
        return getattr(self._record, name)

    @property
    def warned(self) -> bool:
        if isinstance(self._record, dict):
            found = self._record.get("findings", []) + self._record["function"].get("findings", [])
            return any(f.get("severity") == "warning" for f in found)
        return True  # a fresh record: its findings are at hand


def record_path(plan: BuildPlan, directory: Path) -> Path:
    return directory / f"{plan.output.stem}.image.json"


def sbom_path(plan: BuildPlan, directory: Path) -> Path:
    return directory / f"{plan.output.stem}.image.cdx.json"


def _key(function_sha256: str, base_id: str, request: ImageRequest, epoch: int) -> str:
    layer_writer = hashlib.sha256(resources.inside(LAYER_SCRIPT)).hexdigest()
    text = json.dumps(
        [function_sha256, base_id, request.cmd, epoch, layer_writer, request.tag], sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()


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
    smoke: Callable[[str], None] | None = None,
    record_dir: Path | None = None,
) -> BuiltImage:
    """Build, load, prove and record the image of ``plan``'s function (its zip goes to the plan's
    out_dir; the image's record and SBOM to ``record_dir``, by default the same)."""
    record_dir = record_dir or plan.out_dir
    store = BlobStore.of(env)
    function = build(engine, plan, progress)
    base = resolve_base_image(engine, plan.base_image, plan.target, progress)
    key = _key(function.zip.sha256, base.id, request, plan.epoch)
    path = record_path(plan, record_dir)
    reused = _up_to_date(engine, path, key, request.tag)
    if reused is not None and not plan.inputs.force:
        if smoke is not None:
            progress.step(f"{request.tag} is up to date: invoking it again")
            smoke(str(reused["image_id"]))
        result = BuiltImage(reused, path, function, reused=True)
        return _deliver(engine, result, request, store, env, progress)

    layer = _function_layer(engine, plan, base, function, store, progress)
    bases = base_layers(engine, base, plan, store, env, progress)
    config = image_config(
        json.loads(bases.config),
        layer["diff_id"],
        request.cmd,
        plan.epoch,
        plan.target.runtime.name,
    )
    own = Descriptor(DOCKER_LAYER_GZIP, layer["digest"], layer["size"])
    manifest = image_manifest(config, (*bases.layers, own))
    image_id = digest_of(config)
    _load(engine, config, request.tag, store.path(own.digest), image_id, progress)
    _load_job_image(engine, config, image_id, plan)

    from lambdazip.build.runner import probe_image
    from lambdazip.judge.findings import Severity
    from lambdazip.judge.probe import check_probe

    try:
        probe = probe_image(
            engine,
            image_id,
            plan.target,
            progress,
            request.handler,
            plan.configuration,
            shown_as=request.tag,
        )
        findings = check_probe(probe, plan.target, plan.inputs.strict_import)
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors:
            raise BuildChecksFailed(errors)
        if smoke is not None:
            smoke(image_id)
    except BaseException:
        with contextlib.suppress(ImageError):  # an image that failed its proof is not kept
            engine.remove_image(image_id)
        raise
    finally:
        _drop_job_image(engine, image_id, plan, progress)

    base_size = int(
        (engine.inspect(base.id) or {}).get("Size") or 0
    )  # unpacked, as the engine has it
    record = _record(
        plan,
        request,
        key,
        base,
        bases,
        layer,
        config,
        manifest,
        function,
        probe,
        findings,
        base_size,
    )
    _write_record(path, sbom_path(plan, record_dir), record, function)
    result = BuiltImage(record, path, function, reused=False)
    return _deliver(engine, result, request, store, env, progress)


def _load_job_image(engine: Engine, config: bytes, image_id: str, plan: BuildPlan) -> None:
    """The build image on the function's image (the probe and invoke run in it), loaded under
    the name the Dockerfile's build would have: made as bytes, no `docker build`."""
    from lambdazip.build.transfer import tar_files

    tag = build_image_tag(image_id, plan.target)
    if engine.image(tag) is not None:
        return
    scripts = tar_files(
        {f"{contract.INSIDE_DIR.strip('/')}/{n}": d for n, d in inside_files().items()}
    )
    diff_id = digest_of(scripts)
    command = [contract.PYTHON, f"{contract.INSIDE_DIR}/probe.py", "--kind", "layer"]
    job = job_config(config, diff_id, contract.TASK_ROOT, command)
    with tempfile.TemporaryDirectory(prefix="lambdazip-job-") as scratch:
        layer = Path(scratch) / "layer.tar"
        layer.write_bytes(scripts)
        with tempfile.TemporaryFile() as archive:
            load_archive(archive, job, tag, json.loads(job)["rootfs"]["diff_ids"], layer)
            archive.seek(0)
            engine.load(archive)


def _drop_job_image(engine: Engine, image_id: str, plan: BuildPlan, progress: Progress) -> None:
    """The build image made on the function's image for the probe and invoke: not kept (each
    image would leave one)."""
    del progress
    engine.remove_image(build_image_tag(image_id, plan.target))


# -- the function's layer -------------------------------------------------------------------------


def _function_layer(
    engine: Engine,
    plan: BuildPlan,
    base: ImageInfo,
    function: BuildResult,
    store: BlobStore,
    progress: Progress,
) -> dict[str, Any]:
    """The layer of the function zip, written in the build image; kept by the zip's digest, the
    base's ID (whose zlib compresses it), the epoch and the writer's own digest."""
    from lambdazip.build.transfer import read_in, tar_files, unpack

    writer = hashlib.sha256(resources.inside(LAYER_SCRIPT)).hexdigest()[:16]
    name = f"layer-{function.zip.sha256[:32]}-{base.id.removeprefix('sha256:')[:32]}"
    name += f"-{plan.epoch}-{writer}"
    known = store.note(name)
    if known is not None and store.has(str(known.get("digest"))):
        return known
    image = build_image(engine, base, plan.target, progress)
    with engine.container(
        image.id,
        [
            contract.PYTHON,
            f"{contract.INSIDE_DIR}/{LAYER_SCRIPT}",
            FUNCTION_ZIP,
            contract.OUT_DIR,
            contract.TASK_ROOT.strip("/"),
            str(plan.epoch),
        ],
        platform=plan.platform,
        environment={},
        purpose="layer",
    ) as container:
        relative = FUNCTION_ZIP.removeprefix(contract.INSIDE_DIR + "/")
        container.put(contract.INSIDE_DIR, tar_files({relative: function.zip.path.read_bytes()}))
        container.put(contract.INSIDE_DIR, tar_files({"out/.keep": b""}))
        progress.step(f"writing the image layer of {function.zip.path.name} in the image")
        lines: list[str] = []

        def keep(line: str) -> None:
            lines.append(line)
            progress.detail(line)

        code = container.run(keep)
        if code != 0:
            raise failure(Exited(code, lines, "the layer writer", plan.base_image, plan.target))
        facts = read_in(container.get(contract.OUT_DIR), contract.OUT_DIR, "layer.json")
        if facts is None:
            raise BuildFailed("the layer writer left no facts", tip="run again with -v")
        scratch = Path(tempfile.mkdtemp(prefix="lambdazip-layer-"))
        try:
            unpack(container.get(contract.OUT_DIR), scratch, strip=1)
            layer = json.loads(facts)
            store.put_file(scratch / "layer.tar.gz", str(layer["digest"]))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    kept = {k: layer[k] for k in ("digest", "size", "diff_id", "tar_size", "files")}
    store.write_note(name, kept)
    return kept


# -- the base -------------------------------------------------------------------------------------


def base_layers(
    engine: Engine,
    base: ImageInfo,
    plan: BuildPlan,
    store: BlobStore,
    env: Mapping[str, str],
    progress: Progress,
) -> BaseLayers:
    """The base's config and compressed layers, known once per base ID."""
    name = f"base-{base.id.removeprefix('sha256:')}"
    known = store.note(name)
    if known is not None and store.has(str(known.get("config"))):
        return BaseLayers(
            config=store.path(str(known["config"])).read_bytes(),
            layers=tuple(Descriptor(**d) for d in known["layers"]),
            source=str(known["source"]),
            registry=known.get("registry"),
        )
    found = _from_registry(base, plan, store, env, progress)
    if found is None:
        found = _compressed_here(engine, base, store, progress)
    store.write_note(
        name,
        {
            "config": digest_of(found.config),
            "layers": [
                {"media_type": d.media_type, "digest": d.digest, "size": d.size}
                for d in found.layers
            ],
            "source": found.source,
            "registry": found.registry,
        },
    )
    return found


def _from_registry(
    base: ImageInfo,
    plan: BuildPlan,
    store: BlobStore,
    env: Mapping[str, str],
    progress: Progress,
) -> BaseLayers | None:
    """The manifest the base was pulled by (its repo digest), if the registry still serves it
    and its config is this very image (the engine's image ID is its config's digest)."""
    from lambdazip.errors import RegistryError
    from lambdazip.oci.reference import Reference
    from lambdazip.oci.registry import Registry

    for repo_digest in base.repo_digests:
        try:
            reference = Reference.parse(repo_digest)
            registry = Registry.for_reference(reference, env)
            progress.step(f"reading the base's manifest from {reference.registry}")
            fetched = registry.get_manifest(reference.repository, str(reference.digest))
            document = json.loads(fetched.data)
            if "manifests" in document:  # an index: this platform's manifest
                chosen = _platform_entry(document, plan)
                if chosen is None:
                    continue
                fetched = registry.get_manifest(reference.repository, chosen)
                document = json.loads(fetched.data)
            if document.get("config", {}).get("digest") != base.id:
                continue
            config_path = store.path(base.id)
            if not config_path.is_file():
                with tempfile.TemporaryFile() as spool:
                    registry.get_blob(reference.repository, base.id, spool)
                    spool.seek(0)
                    store.put_stream(spool, base.id)
            layers = tuple(
                Descriptor(str(d["mediaType"]), str(d["digest"]), int(d["size"]))
                for d in document["layers"]
            )
            unusable = [d.media_type for d in layers if not d.media_type.endswith("gzip")]
            if unusable:
                continue
            where = f"{reference.registry}/{reference.repository}@{fetched.digest}"
            return BaseLayers(store.path(base.id).read_bytes(), layers, f"registry {where}", where)
        except (RegistryError, ValueError, KeyError, TypeError) as exc:
            progress.detail(f"the base's registry cannot serve it: {exc}")
            continue
    return None


def _platform_entry(index: dict[str, Any], plan: BuildPlan) -> str | None:
    want = plan.target.arch.info.oci_architecture
    for entry in index.get("manifests", []):
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == want:
            return str(entry["digest"])
    return None


def _compressed_here(
    engine: Engine, base: ImageInfo, store: BlobStore, progress: Progress
) -> BaseLayers:
    """Read the base out of the engine (``docker save``) and gzip its layers into the store.
    Once per base: an image that came from no registry has no other compressed form."""
    progress.step(f"reading the base {base.reference} out of the engine and compressing its layers")
    compressed: dict[str, Descriptor] = {}
    config: bytes | None = None
    order: list[str] = []
    with _stream(engine.save(base.id)) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            content = tar.extractfile(member)
            if content is None:
                continue
            if member.name == f"{base.id.removeprefix('sha256:')}.json":
                config = content.read()
            elif member.name.endswith("/layer.tar") or member.name.startswith("blobs/"):
                diff_id, descriptor = _gzip_into(store, content)
                compressed[diff_id] = descriptor
            elif member.name == "manifest.json":
                pass
    if config is None or digest_of(config) != base.id:
        raise ImageError(
            f"the engine's copy of {base.reference} has no config of its ID {base.id}",
            tip="pull or build the base image again",
        )
    diff_ids = json.loads(config).get("rootfs", {}).get("diff_ids", [])
    for diff_id in diff_ids:
        if diff_id not in compressed:
            raise ImageError(f"the engine's copy of {base.reference} lacks its layer {diff_id}")
        order.append(diff_id)
    store_config = store.scratch("config")
    store_config.write_bytes(config)
    store.put_file(store_config, base.id)
    return BaseLayers(config, tuple(compressed[d] for d in order), "compressed here", None)


@contextlib.contextmanager
def _stream(chunks: Iterator[bytes]) -> Iterator[IO[bytes]]:
    """A file-like reader over an iterator of chunks (tarfile's stream mode reads it)."""

    class Reader:
        def __init__(self) -> None:
            self.buffer = b""

        def read(self, size: int = -1) -> bytes:
            while size < 0 or len(self.buffer) < size:
                try:
                    self.buffer += next(chunks)
                except StopIteration:
                    break
            if size < 0:
                data, self.buffer = self.buffer, b""
            else:
                data, self.buffer = self.buffer[:size], self.buffer[size:]
            return data

    yield Reader()  # type: ignore[misc]


def _gzip_into(store: BlobStore, content: IO[bytes]) -> tuple[str, Descriptor]:
    plain = hashlib.sha256()
    scratch = store.scratch("layer")
    with (
        scratch.open("xb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as out,
    ):
        for chunk in iter(lambda: content.read(1024 * 1024), b""):
            plain.update(chunk)
            out.write(chunk)
    size = scratch.stat().st_size
    digest = store.put_file(scratch)
    return "sha256:" + plain.hexdigest(), Descriptor(DOCKER_LAYER_GZIP, digest, size)


# -- into the engine ------------------------------------------------------------------------------


def _load(
    engine: Engine, config: bytes, tag: str, layer: Path, image_id: str, progress: Progress
) -> None:
    if engine.image(image_id) is None:
        progress.step(f"loading {tag} into the engine")
        diff_ids = json.loads(config)["rootfs"]["diff_ids"]
        with tempfile.TemporaryFile() as archive:
            load_archive(archive, config, tag, diff_ids, layer)
            archive.seek(0)
            engine.load(archive)
        loaded = engine.image(image_id)
        if loaded is None:
            raise ImageError(
                f"the engine loaded {tag} but does not list its ID {image_id}",
                tip="the engine may keep images another way (a containerd image store); "
                "report this with `docker info`",
            )
    engine.tag(image_id, tag)


# -- the record ------------------------------------------------------------------------------------


def _record(
    plan: BuildPlan,
    request: ImageRequest,
    key: str,
    base: ImageInfo,
    bases: BaseLayers,
    layer: Mapping[str, Any],
    config: bytes,
    manifest: bytes,
    function: BuildResult,
    probe: Any,
    findings: list[Any],
    base_size: int,
) -> ImageRecord:
    from lambdazip.outputs.image_record import FunctionLayerModel, ImageRecord, LayerModel
    from lambdazip.outputs.report import TargetModel

    fn = function.manifest
    return ImageRecord(
        tool=fn.tool,
        tag=request.tag,
        target=TargetModel.of(plan.target),
        platform=plan.platform,
        image_id=digest_of(config),
        manifest_digest=digest_of(manifest),
        manifest_media_type=DOCKER_MANIFEST,
        cmd=request.cmd,
        uncompressed_size=base_size + int(layer["tar_size"]),
        cache_key=key,
        base_image=fn.base_image,
        base_layers=[
            LayerModel(media_type=d.media_type, digest=d.digest, size=d.size) for d in bases.layers
        ],
        base_layers_from=bases.source,
        function_layer=FunctionLayerModel(
            media_type=DOCKER_LAYER_GZIP,
            digest=str(layer["digest"]),
            size=int(layer["size"]),
            diff_id=str(layer["diff_id"]),
            tar_size=int(layer["tar_size"]),
            files=int(layer["files"]),
        ),
        function=fn,
        probe=probe,
        findings=findings,
    )


def _write_record(path: Path, sbom: Path, record: ImageRecord, function: BuildResult) -> None:
    from lambdazip.outputs.sbom import sbom_json

    subject = function.manifest.model_copy(
        update={"artifact": record.tag, "sha256": record.manifest_digest.removeprefix("sha256:")}
    )
    texts = {sbom: sbom_json(subject), path: record.model_dump_json(indent=2) + "\n"}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = {}
        for place, text in texts.items():
            temporary = place.with_name(f".{place.name}.{secrets.token_hex(6)}.staged")
            temporary.write_text(text)
            staged[place] = temporary
        for place, temporary in staged.items():  # the record last: it decides up to date
            temporary.replace(place)
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror}", tip="pass a writable -o DIR"
        ) from exc


# -- delivered: the archive and the push -----------------------------------------------------------


def _blobs(
    record: ImageRecord, store: BlobStore, env: Mapping[str, str], progress: Progress
) -> list[tuple[str, Path]]:
    """Every blob of the image, local: the base's fetched from its registry when not here."""
    wanted = [*(layer.digest for layer in record.base_layers), record.function_layer.digest]
    wanted.append(record.image_id)
    missing = [d for d in wanted if not store.has(d)]
    if missing:
        source = record.base_layers_from.removeprefix("registry ")
        if not record.base_layers_from.startswith("registry "):
            raise ImageError(
                f"the blob store lacks {len(missing)} blob(s) of {record.tag}",
                tip="build again with --force",
            )
        from lambdazip.oci.reference import Reference
        from lambdazip.oci.registry import Registry

        reference = Reference.parse(source)
        registry = Registry.for_reference(reference, env)
        for digest in missing:
            progress.step(f"fetching {digest[:19]} from {reference.registry}")
            with tempfile.TemporaryFile() as spool:
                registry.get_blob(reference.repository, digest, spool)
                spool.seek(0)
                store.put_stream(spool, digest)
    return [(d, store.path(d)) for d in wanted]


def _deliver(
    engine: Engine,
    result: BuiltImage,
    request: ImageRequest,
    store: BlobStore,
    env: Mapping[str, str],
    progress: Progress,
) -> BuiltImage:
    if request.oci_archive is None and request.push is None:
        return result
    record = result.record
    config = _config_bytes(engine, record, store, env, progress)
    layers = [Descriptor(d.media_type, d.digest, d.size) for d in record.base_layers]
    layers.append(
        Descriptor(DOCKER_LAYER_GZIP, record.function_layer.digest, record.function_layer.size)
    )
    manifest = image_manifest(config, layers)
    if digest_of(manifest) != record.manifest_digest:
        raise ImageError(
            f"{record.tag}'s manifest no longer has the digest recorded ({record.manifest_digest})",
            tip="build again with --force",
        )
    blobs = _blobs(record, store, env, progress)
    if request.oci_archive is not None:
        _write_oci_archive(request.oci_archive, manifest, blobs, record.tag, progress)
    pushed = None
    if request.push is not None:
        from lambdazip.oci.push import push

        pushed = push(request.push, manifest, blobs, record, env, progress)
    return BuiltImage(record, result.record_path, result.function, result.reused, pushed)


def _config_bytes(
    engine: Engine,
    record: ImageRecord,
    store: BlobStore,
    env: Mapping[str, str],
    progress: Progress,
) -> bytes:
    """The image's config, made again from the base's (the function layer's digests are in the
    record): an image ID is its config's digest, so equal bytes are the check."""
    base_config = store.path(record.base_image.id)
    if not base_config.is_file():
        raise ImageError(
            f"the blob store lacks the config of the base {record.base_image.reference}",
            tip="build again with --force",
        )
    config = image_config(
        json.loads(base_config.read_bytes()),
        record.function_layer.diff_id,
        record.cmd,
        record.function.inputs.epoch if record.function.inputs else 315532800,
        record.target.runtime,
    )
    if digest_of(config) != record.image_id:
        raise ImageError(
            f"{record.tag}'s config no longer has the recorded digest {record.image_id}",
            tip="build again with --force",
        )
    store_path = store.path(record.image_id)
    if not store_path.is_file():
        scratch = store.scratch("config")
        scratch.write_bytes(config)
        store.put_file(scratch, record.image_id)
    return config


def _write_oci_archive(
    dest: Path, manifest: bytes, blobs: list[tuple[str, Path]], name: str, progress: Progress
) -> None:
    progress.step(f"writing {dest}")
    staged = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.staged")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with staged.open("xb") as out:
            oci_archive(out, manifest, blobs, name)
        staged.replace(dest)
    except OSError as exc:
        raise OutputError(
            f"cannot write {dest}: {exc.strerror}", tip="check --oci-archive's directory"
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            staged.unlink(missing_ok=True)


__all__ = ["BuiltImage", "ImageRequest", "build_function_image", "sha256_of"]
