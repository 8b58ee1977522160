"""The versioned JSON documents the tool prints (``--json``) or writes (manifests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from lambdazip.judge.checks import Kind, check_artifact
from lambdazip.judge.facts import ArtifactFacts
from lambdazip.judge.findings import Finding, Severity, printable
from lambdazip.judge.probe import ProbeFacts
from lambdazip.targets import Target

if TYPE_CHECKING:
    from lambdazip.build.engine import ImageInfo


class TargetModel(BaseModel):
    model_config = ConfigDict(frozen=True)

    python: str
    arch: str
    runtime: str
    os: str
    glibc: str

    @classmethod
    def of(cls, target: Target) -> TargetModel:
        r = target.runtime
        return cls(
            python=r.version, arch=target.arch.value, runtime=r.name, os=r.os, glibc=r.glibc_text
        )


class DistModel(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    location: str
    wheel_tags: list[str] = []  # the installed wheel's tags: which of its files was chosen
    wheel: str | None = None  # the file it was installed from (the lock's, or pip's report)
    wheel_sha256: str | None = None
    license: str | None = None  # what its metadata says

    @classmethod
    def all_of(
        cls, facts: ArtifactFacts, wheels: Mapping[str, tuple[str, str]] | None = None
    ) -> list[DistModel]:
        """``wheels``: {name: (file name, sha256)} of the files installed, where known."""
        wheels = wheels or {}
        return [
            cls(
                name=d.name,
                version=d.version,
                location=printable(d.location),
                wheel_tags=[printable(t) for t in d.tags],
                wheel=wheels[d.name][0] if d.name in wheels else None,
                wheel_sha256=wheels[d.name][1] if d.name in wheels else None,
                license=None if d.license is None else printable(d.license),
            )
            for d in facts.dists
        ]


class SlimModel(BaseModel):
    """One removal of --exclude, --prune or --strip, and the bytes it saved (unzipped)."""

    model_config = ConfigDict(frozen=True)

    path: str
    reason: str
    bytes: int


class CheckReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    artifact: str
    kind: Kind
    target: TargetModel
    files: int
    shared_objects: int
    zipped_size: int | None
    unzipped_size: int
    unzipped_size_with_layers: int
    distributions: list[DistModel]
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors


def check_report(
    facts: ArtifactFacts, target: Target, kind: Kind, layers: list[ArtifactFacts]
) -> CheckReport:
    return CheckReport(
        artifact=printable(facts.source),
        kind=kind,
        target=TargetModel.of(target),
        files=len(facts.files),
        shared_objects=len(facts.shared_objects),
        zipped_size=facts.zipped_size,
        unzipped_size=facts.unzipped_size,
        unzipped_size_with_layers=facts.unzipped_size + sum(lf.unzipped_size for lf in layers),
        distributions=DistModel.all_of(facts),
        findings=check_artifact(facts, target, kind, layers),
    )


class LeftOutModel(BaseModel):
    """A file of --src that is not in the zip, and why (source.py)."""

    model_config = ConfigDict(frozen=True)

    path: str
    reason: str


class PackerModel(BaseModel):
    """What deflated the zip: the image's interpreter and zlib (inside/lambdazip_zip.py)."""

    model_config = ConfigDict(frozen=True)

    where: Literal["image"] = "image"
    python: str
    implementation: str
    zlib: str
    level: int


class SourceModel(BaseModel):
    """A file of the function's own code, as packed."""

    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str
    executable: bool = False


class InputsModel(BaseModel):
    """Everything besides the image that decides the zip's bytes: what `verify` rebuilds from."""

    model_config = ConfigDict(frozen=True)

    requirements: str  # the path given, as given: a requirements file, pylock.toml or uv.lock
    format: str = "requirements"  # or "pylock", "uv.lock" (project.py)
    groups: list[str] = []  # a lock's dependency groups and extras, as selected
    extras: list[str] = []
    installed: list[str] = []  # the hash-locked requirements the installer was given
    require_hashes: bool
    installer: str
    bytecode: str
    epoch: int
    src: str | None = None
    include: list[str] = []
    sources: list[SourceModel] = []
    handler: str | None = None
    name: str
    environment: list[str] = []  # the names of the settings passed to the installer, not values
    layers: list[str] = []  # a function's layer zips (`build`, --layer): what it was probed with
    layer_sha256: list[str] = []  # and their sha256, in the same order
    configuration: list[str] = []  # the names of the function's environment variables, no values
    strict_import: bool = False
    exclude: list[str] = []  # slimming asked for: --exclude, --prune, --strip
    prune: bool = False
    strip: bool = False


class BaseImageModel(BaseModel):
    model_config = ConfigDict(frozen=True)

    reference: str
    id: str
    repo_digests: list[str]
    architecture: str

    @classmethod
    def of(cls, base: ImageInfo) -> BaseImageModel:
        return cls(
            reference=base.reference,
            id=base.id,
            repo_digests=list(base.repo_digests),
            architecture=base.architecture,
        )


class EngineModel(BaseModel):
    """The engine that installed, probed and packed: where (--engine, or the default) and what."""

    model_config = ConfigDict(frozen=True)

    endpoint: str  # a URL without its password, "context NAME", or "default"
    arch: str  # the engine's own CPU: x86_64 or arm64 (an emulated target differs from it)
    os: str
    version: str
    product: Literal["docker", "podman"] = "docker"  # which engine served the Docker API


class Manifest(BaseModel):
    """Written beside every zip: what it is, for what, from what, and what was verified."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    tool: str
    kind: Kind
    target: TargetModel
    artifact: str
    sha256: str
    zipped_size: int
    unzipped_size: int
    files: int
    requirements_sha256: str
    cache_key: str  # a digest of every input: equal keys, identical zips
    base_image: BaseImageModel
    engine: EngineModel | None = None  # None in manifests of older versions
    installer: str
    bytecode: str
    packed_by: PackerModel | None = None
    inputs: InputsModel | None = None
    distributions: list[DistModel]
    left_out: list[LeftOutModel] = []  # of --src, by default rules, .lambdazipignore or secrets
    slimmed: list[SlimModel] = []  # what --exclude, --prune and --strip removed
    probe: ProbeFacts
    findings: list[Finding]
    # REGISTRY/REPOSITORY@DIGEST of the shared cache's set this one was taken from (None: built
    # here); every field above is as the build that made it wrote it
    cached_from: str | None = None


class BuiltArtifact(BaseModel):
    """One artifact of `lambdazip build --json`: what SAM, CDK, Terraform and the Serverless
    Framework recipes read (docs/deploy-tools.md)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    name: str
    """Its name in [tool.lambdazip]."""
    kind: Kind
    """layer or function."""
    target: str
    """python3.X-ARCH, as in its file names."""
    runtime: str
    """Lambda's Runtime (python3.13), also a layer's CompatibleRuntimes."""
    architecture: str
    """Lambda's Architectures value: x86_64 or arm64."""
    status: str
    """built, reused (up to date), pulled (from a shared cache), FAILED or SKIPPED."""
    seconds: float
    zip: str | None
    """The zip's path; null if it failed."""
    manifest: str | None
    """The manifest beside it (everything about the build)."""
    sbom: str | None
    """The CycloneDX SBOM beside it."""
    sha256: str | None
    """The zip's sha256, in hex."""
    code_sha256: str | None
    """The same digest in base64: Lambda's CodeSha256, Terraform's filebase64sha256()."""
    size: int | None
    """The zip's bytes."""
    unzipped_size: int | None
    """Its files' bytes, unpacked (Lambda's limit: 250 MB with the layers)."""
    layers: list[str]
    """A function's layers, by name, in Lambda's order."""
    handler: str | None
    """A function's handler (MODULE.FUNCTION), if it declares one."""
    error: str | None
    """What failed (FAILED, SKIPPED), else null."""


class BuildDocument(BaseModel):
    """`lambdazip build --json`: every artifact of the project (or of the shard), in the order
    they were built (layers first)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    schema_version: Literal[1] = 1
    """1: a field may be added; a field changed or removed makes 2."""
    ok: bool
    """Whether every artifact was built (or reused) and passed its checks."""
    output_dir: str
    artifacts: list[BuiltArtifact]
    error: str | None = None
    """What stopped the build before any artifact was built (a mistake in the file or an input;
    the exit code is not 0 and ``artifacts`` is empty), with what to do (``tip``)."""
    tip: str | None = None
