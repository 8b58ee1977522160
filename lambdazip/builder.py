"""Build a layer or function zip inside the Lambda image of its target.

:func:`make_plan` turns the options into a frozen :class:`BuildPlan` before anything runs (and
``--print-plan`` shows it); :func:`build` carries it out through the engine:

1. the base image (official by default), pulled for the target platform if absent, its
   architecture verified;
2. the build image from the Dockerfile (base + the two in-image scripts), cached by content;
3. a container: the requirements (and the function's code) go in through the archive API, the
   runtime's own pip installs them natively, the probe runs there;
4. the tree comes out through the archive API, the probe's facts and the static check judge it;
5. only if nothing failed: the deterministic zip and its manifest, moved into place atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import secrets
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from . import __version__
from .archive import ZipResult, collect, write_zip
from .checks import Kind, check_artifact
from .engine import Container, Engine, ImageError, ImageInfo
from .errors import CheckFailed, LambdaZipError, OutputError, UsageError
from .facts import ArtifactFacts, gather
from .findings import Finding, Severity
from .probe import ProbeFacts, check_probe
from .report import BaseImageModel, DistModel, Manifest, TargetModel
from .targets import Target
from .tree import open_tree
from .unpack import unpack

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
INSIDE = Path(__file__).resolve().parent / "inside"
BUILD_IMAGE_REPOSITORY = "lambdazip-build"
INSIDE_DIR = "/lambdazip"
CA_PATH = f"{INSIDE_DIR}/in/ca.pem"
REQUIREMENTS_PATH = f"{INSIDE_DIR}/in/requirements.txt"

# Settings of the host's installer that mean the same inside the container. The CA bundle is
# handled apart: its file is copied in and these names point at the copy.
PASSED_THROUGH = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_RETRIES",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
CA_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


class BuildFailed(LambdaZipError):
    """The installer failed inside the image."""

    exit_code = 9


class Progress(Protocol):
    def step(self, title: str) -> None: ...

    def detail(self, line: str) -> None: ...


@dataclass(frozen=True)
class BuildPlan:
    kind: Kind
    target: Target
    requirements: Path
    src: Path | None
    out_dir: Path
    name: str
    base_image: str
    ca_bundle: Path | None
    environment: tuple[tuple[str, str], ...]
    epoch: int

    @property
    def output(self) -> Path:
        return self.out_dir / f"{self.name}-{self.target.runtime.name}-{self.target.arch.value}.zip"

    @property
    def manifest_path(self) -> Path:
        return self.output.with_suffix(".manifest.json")

    @property
    def platform(self) -> str:
        return self.target.arch.info.oci_platform

    @property
    def install_root(self) -> str:
        """Where the runtime finds the code: the layer's /opt/python or the function's task root."""
        return "/opt/python" if self.kind is Kind.LAYER else "/var/task"

    def describe(self) -> list[str]:
        return [
            f"kind:          {self.kind.value}",
            f"target:        {self.target.runtime.name} on {self.target.arch.value} "
            f"({self.platform}, {self.target.runtime.os}, glibc {self.target.runtime.glibc_text})",
            f"base image:    {self.base_image}",
            f"requirements:  {self.requirements}",
            f"source:        {self.src}" if self.src else "source:        (none: a layer)",
            f"install into:  {self.install_root} inside the image",
            f"ca bundle:     {self.ca_bundle or '(none)'}",
            f"passed in:     {', '.join(k for k, _ in self.environment) or '(nothing)'}",
            f"output:        {self.output}",
            f"manifest:      {self.manifest_path}",
            f"zip timestamp: {self.epoch} (SOURCE_DATE_EPOCH)",
        ]


def _ca_bundle(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise UsageError(f"--ca-bundle {explicit} is not a file", tip="pass a PEM bundle")
        return explicit
    for name in CA_VARIABLES:
        value = env.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def make_plan(
    *,
    kind: Kind,
    target: Target,
    requirements: Path,
    src: Path | None,
    out_dir: Path,
    name: str | None,
    base_image: str | None,
    ca_bundle: Path | None,
    env: Mapping[str, str],
    epoch: int,
) -> BuildPlan:
    """Validate the options and freeze them. Reads nothing but the file system's answers."""
    if not requirements.is_file():
        raise UsageError(
            f"requirements file {requirements} does not exist",
            tip="pass -r PATH (a pip requirements file, e.g. from `make lock`)",
        )
    if kind is Kind.FUNCTION and (src is None or not src.is_dir()):
        raise UsageError(
            f"--src {src} is not a directory" if src else "a function needs --src DIR",
            tip="point --src at the directory that holds your handler module",
        )
    name = name or ("layer" if kind is Kind.LAYER else (src.resolve().name if src else "function"))
    if not _NAME.match(name):
        raise UsageError(
            f"--name {name!r} is not a plain file name", tip="use letters, digits, . _ -"
        )
    return BuildPlan(
        kind=kind,
        target=target,
        requirements=requirements,
        src=src,
        out_dir=out_dir,
        name=name,
        base_image=base_image or target.runtime.image(target.arch),
        ca_bundle=_ca_bundle(ca_bundle, env),
        environment=tuple((k, env[k]) for k in PASSED_THROUGH if env.get(k)),
        epoch=epoch,
    )


# -- the steps ------------------------------------------------------------------------------------


def resolve_base_image(
    engine: Engine, reference: str, target: Target, progress: Progress
) -> ImageInfo:
    """The base image, pulled for the target's platform if absent, and of that platform."""
    platform = target.arch.info.oci_platform
    info = engine.image(reference)
    if info is None:
        progress.step(f"pulling {reference} for {platform}")
        info = engine.pull(reference, platform, progress.detail)
    if info.architecture != target.arch.info.oci_architecture or info.os not in ("linux", ""):
        raise ImageError(
            f"{reference} is an image for {info.os}/{info.architecture}, but the target "
            f"{target.arch.value} needs {platform}",
            tip=f"use the arch-suffixed tag ({target.runtime.image(target.arch)}) or a "
            "digest of that platform; a tag holds one platform on this engine",
        )
    return info


def _build_context() -> tuple[bytes, str]:
    """The tar the engine builds from, and a digest of what is in it."""
    files = {
        "Dockerfile": DOCKERFILE.read_bytes(),
        "lambdazip/inside/install.py": (INSIDE / "install.py").read_bytes(),
        "lambdazip/inside/probe.py": (INSIDE / "probe.py").read_bytes(),
    }
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in sorted(files.items()):
            digest.update(name.encode() + b"\0" + data + b"\0")
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), digest.hexdigest()


def build_image(engine: Engine, base: ImageInfo, target: Target, progress: Progress) -> ImageInfo:
    """The build image (Dockerfile) on ``base``, built once per content and base."""
    platform = target.arch.info.oci_platform
    context, digest = _build_context()
    key = hashlib.sha256(f"{digest} {base.id} {platform}".encode()).hexdigest()[:16]
    tag = f"{BUILD_IMAGE_REPOSITORY}:{key}"
    cached = engine.image(tag)
    if cached is not None:
        return cached
    progress.step(f"building the build image {tag} on {base.reference}")
    return engine.build(
        context,
        tag,
        platform,
        buildargs={"BASE_IMAGE": base.id},
        labels={"io.lambdazip.base": base.reference},
        progress=progress.detail,
    )


def _tar(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _tar_directory(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for member in collect(root):
            archive.add(member.source, arcname=member.arcname, recursive=False)
    return buffer.getvalue()


def container_environment(plan: BuildPlan) -> dict[str, str]:
    environment = dict(plan.environment)
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    if plan.ca_bundle is not None:
        environment.update(dict.fromkeys(CA_VARIABLES, CA_PATH))
    return environment


def _installer_error(lines: list[str], plan: BuildPlan) -> BuildFailed:
    """One line from pip's output: what went wrong, in the user's terms."""
    text = "\n".join(lines)
    target = f"{plan.target.runtime.name} on {plan.target.arch.value}"
    missing = re.search(r"No matching distribution found for (\S+)", text)
    if missing:
        return BuildFailed(
            f"no wheel of {missing[1]} for {target}",
            tip="choose a version that publishes a wheel for this runtime and CPU (source builds "
            "are refused: they would compile on the build host's terms)",
        )
    if "DO NOT MATCH THE HASHES" in text:
        return BuildFailed(
            "a downloaded file does not match the hash in the requirements",
            tip="regenerate the lock (`make lock`) or check what your index serves",
        )
    if "Hashes are required" in text:
        return BuildFailed(
            "some requirements have hashes and some do not",
            tip="lock every requirement with hashes (`make lock`)",
        )
    errors = [line for line in lines if line.startswith("ERROR:")]
    last = errors[-1].removeprefix("ERROR:").strip() if errors else "see its output above"
    return BuildFailed(f"pip failed in the {target} image: {last}", tip="fix the requirements")


def _read_member(chunks: list[bytes], name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks)), mode="r") as archive:
        member = archive.extractfile(name)
        if member is None:
            raise LambdaZipError(f"the build container did not write {name}")
        return member.read()


@dataclass(frozen=True)
class BuildResult:
    zip: ZipResult
    manifest: Manifest
    warnings: list[Finding]


def run_in_image(
    engine: Engine, plan: BuildPlan, image: ImageInfo, progress: Progress, scratch: Path
) -> tuple[ProbeFacts, str]:
    """Install and probe in one container; the tree lands in ``scratch``."""
    inside_plan = {
        "kind": plan.kind.value,
        "requirements": REQUIREMENTS_PATH,
        "require_hashes": "--hash=" in plan.requirements.read_text(errors="replace"),
    }
    inputs = {"in/requirements.txt": plan.requirements.read_bytes()}
    if plan.ca_bundle is not None:
        inputs["in/ca.pem"] = plan.ca_bundle.read_bytes()
    output: list[str] = []

    def keep(line: str) -> None:
        output.append(line)
        progress.detail(line)

    with engine.container(
        image.id,
        ["/var/lang/bin/python3", f"{INSIDE_DIR}/install.py", json.dumps(inside_plan)],
        platform=plan.platform,
        environment=container_environment(plan),
        purpose="build",
    ) as container:
        container.put(INSIDE_DIR, _tar(inputs))
        if plan.src is not None:
            container.put("/var/task", _tar_directory(plan.src))
        progress.step(f"installing {plan.requirements.name} with the runtime's pip, then probing")
        code = container.run(keep)
        if code == 10:
            raise _installer_error(output, plan)
        if code != 0:
            raise BuildFailed(
                f"the build container exited with {code}",
                tip="run again with -v to see its output",
            )
        progress.step("copying the result out of the container")
        probe, installer = _collect(container, plan, scratch)
    return probe, installer


def probe_artifact(
    engine: Engine,
    artifact: Path,
    kind: Kind,
    target: Target,
    base_image: str | None,
    progress: Progress,
) -> ProbeFacts:
    """Run the probe in the target image on an existing zip, placed where Lambda places it
    (/opt for a layer, /var/task for a function): the seed's diagnostic for any artifact."""
    reference = base_image or target.runtime.image(target.arch)
    progress.step(f"resolving the base image {reference}")
    base = resolve_base_image(engine, reference, target, progress)
    image = build_image(engine, base, target, progress)
    files: dict[str, bytes] = {}
    with open_tree(artifact) as tree:
        for entry in tree.entries:
            if not entry.is_symlink:
                files[entry.path] = tree.read(entry.path)
    inside_plan = {"kind": kind.value, "install": False}
    with engine.container(
        image.id,
        ["/var/lang/bin/python3", f"{INSIDE_DIR}/install.py", json.dumps(inside_plan)],
        platform=target.arch.info.oci_platform,
        environment={},
        purpose="probe",
    ) as container:
        container.put("/opt" if kind is Kind.LAYER else "/var/task", _tar(files))
        progress.step(f"probing {artifact.name} in {reference}")
        code = container.run(progress.detail)
        if code != 0:
            raise BuildFailed(f"the probe container exited with {code}", tip="run again with -v")
        out = list(container.get(f"{INSIDE_DIR}/out"))
    return ProbeFacts.model_validate_json(_read_member(out, "out/probe.json"))


def _collect(container: Container, plan: BuildPlan, scratch: Path) -> tuple[ProbeFacts, str]:
    out = list(container.get(f"{INSIDE_DIR}/out"))
    probe = ProbeFacts.model_validate_json(_read_member(out, "out/probe.json"))
    installer = _read_member(out, "out/installer.txt").decode().strip()
    tree = scratch / "python" if plan.kind is Kind.LAYER else scratch
    unpack(container.get(plan.install_root), tree, strip=1)
    return probe, installer


def build(engine: Engine, plan: BuildPlan, progress: Progress) -> BuildResult:
    """Carry out ``plan``; nothing is written to ``plan.out_dir`` unless every check passes."""
    progress.step(f"resolving the base image {plan.base_image}")
    base = resolve_base_image(engine, plan.base_image, plan.target, progress)
    image = build_image(engine, base, plan.target, progress)
    with tempfile.TemporaryDirectory(prefix="lambdazip-") as scratch_name:
        scratch = Path(scratch_name) / "tree"
        scratch.mkdir()
        probe, installer = run_in_image(engine, plan, image, progress, scratch)
        progress.step("checking the result")
        with open_tree(scratch) as tree:
            facts = gather(tree)
        findings = check_artifact(facts, plan.target, plan.kind) + check_probe(probe, plan.target)
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors:
            raise BuildChecksFailed(errors)
        progress.step(f"writing {plan.output}")
        try:
            plan.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create {plan.out_dir}: {exc.strerror}", tip="pass a writable -o DIR"
            ) from exc
        staged = plan.output.with_name(f".{plan.output.name}.{scratch.parent.name}.staged")
        try:
            result = write_zip(staged, collect(scratch), epoch=plan.epoch)
            manifest = _manifest(plan, base, installer, probe, facts, findings, result)
            write_manifest(plan.manifest_path, manifest, then_move=(staged, plan.output))
        finally:
            staged.unlink(missing_ok=True)
    warnings = [f for f in findings if f.severity is Severity.WARNING]
    return BuildResult(dataclasses.replace(result, path=plan.output), manifest, warnings)


def _manifest(
    plan: BuildPlan,
    base: ImageInfo,
    installer: str,
    probe: ProbeFacts,
    facts: ArtifactFacts,
    findings: list[Finding],
    result: ZipResult,
) -> Manifest:
    return Manifest(
        tool=f"lambdazip {__version__}",
        kind=plan.kind,
        target=TargetModel.of(plan.target),
        artifact=plan.output.name,
        sha256=result.sha256,
        zipped_size=result.zipped_size,
        unzipped_size=result.unzipped_size,
        files=result.files,
        requirements_sha256=hashlib.sha256(plan.requirements.read_bytes()).hexdigest(),
        base_image=BaseImageModel(
            reference=base.reference,
            id=base.id,
            repo_digests=list(base.repo_digests),
            architecture=base.architecture,
        ),
        installer=installer,
        distributions=[
            DistModel(name=d.name, version=d.version, location=d.location) for d in facts.dists
        ],
        probe=probe,
        findings=findings,
    )


class BuildChecksFailed(CheckFailed):
    def __init__(self, findings: list[Finding]) -> None:
        super().__init__(
            f"the build does not fit its target: {len(findings)} error(s); no artifact was written",
            tip="fix the errors listed above",
        )
        self.findings = findings


def write_manifest(
    path: Path, manifest: Manifest, then_move: tuple[Path, Path] | None = None
) -> None:
    """Write the manifest beside its zip; with ``then_move``, put the staged zip in place first,
    so the two are replaced one right after the other, each atomically."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        temporary.write_text(manifest.model_dump_json(indent=2) + "\n")
        if then_move is not None:
            then_move[0].replace(then_move[1])
        temporary.replace(path)
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror}", tip="check the output directory"
        ) from exc
    finally:
        temporary.unlink(missing_ok=True)
