"""The manifest beside every artifact (what it was built from, what is in it, what was found) and
the SBOM made from it, each written atomically beside the zip."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip import __version__
from lambdazip.errors import OutputError

if TYPE_CHECKING:
    from lambdazip.build.builder import Built
    from lambdazip.build.engine import EngineInfo, ImageInfo
    from lambdazip.build.plan import BuildPlan
    from lambdazip.judge.facts import ArtifactFacts
    from lambdazip.judge.findings import Finding
    from lambdazip.outputs.archive import ZipResult
    from lambdazip.outputs.report import Manifest


def manifest_of(
    plan: BuildPlan,
    key: str,
    digests: dict[str, str],
    base: ImageInfo,
    built: Built,
    facts: ArtifactFacts,
    findings: list[Finding],
    result: ZipResult,
    engine: EngineInfo,
) -> Manifest:
    from lambdazip.judge.findings import printable
    from lambdazip.outputs.report import (
        BaseImageModel,
        DistModel,
        EngineModel,
        InputsModel,
        LeftOutModel,
        Manifest,
        PackerModel,
        SlimModel,
        SourceModel,
        TargetModel,
    )

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
        cache_key=key,
        base_image=BaseImageModel.of(base),
        engine=EngineModel.model_validate(dataclasses.asdict(engine)),
        installer=built.installer,
        bytecode=plan.inputs.bytecode.value,
        packed_by=PackerModel.model_validate(built.producer),
        inputs=InputsModel(
            requirements=str(plan.requirements),
            format=plan.locked.format if plan.locked else "requirements",
            installed=plan.locked.lines if plan.locked else [],
            require_hashes=plan.require_hashes,
            epoch=plan.epoch,
            src=None if plan.src is None else str(plan.src),
            include=list(plan.include),
            sources=[
                SourceModel(path=m.arcname, sha256=digests[m.arcname], executable=m.executable)
                for m in plan.sources
            ],
            handler=plan.handler,
            name=plan.name,
            environment=[k for k, _ in plan.environment],
            layers=[str(p) for p in plan.layers],
            layer_sha256=list(plan.layer_sha256),
            configuration=[name for name, _ in plan.configuration],
            **plan.inputs.record(),  # installer, bytecode, groups, slimming, ...
        ),
        distributions=DistModel.all_of(facts, built.wheels),
        slimmed=[SlimModel.model_validate(x) for x in built.slimmed],
        left_out=[LeftOutModel(path=printable(x.path), reason=x.reason) for x in plan.left_out]
        + [LeftOutModel(path=path, reason=reason) for path, reason in built.dropped],
        probe=built.probe,
        findings=findings,
    )


def sbom_names(sbom: Path, sha256: str) -> bool:
    """Whether the SBOM in place is there, readable, and of the zip with ``sha256``."""
    import json

    try:
        subject = json.loads(sbom.read_bytes())["metadata"]["component"]
        return any(h.get("content") == sha256 for h in subject["hashes"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return False


def write_sbom(path: Path, manifest: Manifest) -> None:
    """The CycloneDX SBOM of the manifest's artifact beside it (sbom.py), replaced atomically."""
    from lambdazip.outputs.sbom import sbom_json

    _replace(path, sbom_json(manifest))


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Write the manifest beside its zip, replacing it atomically."""
    _replace(path, manifest.model_dump_json(indent=2) + "\n")


def put_set_in_place(
    staged: Path, output: Path, manifest_path: Path, sbom_path: Path, manifest: Manifest
) -> None:
    """The artifact set: the zip, its manifest and its SBOM. Each is written whole beside its
    place first; only then are they moved in (renames in one directory: no space needed, each
    atomic), the manifest last. A failure before that (a full disk) leaves none of this build's
    files and the previous set as it was."""
    from lambdazip.outputs.sbom import sbom_json

    manifest_text = manifest.model_dump_json(indent=2) + "\n"
    put_files_in_place(staged, output, manifest_path, manifest_text, sbom_path, sbom_json(manifest))


def put_files_in_place(
    staged: Path,
    output: Path,
    manifest_path: Path,
    manifest_text: str,
    sbom_path: Path,
    sbom_text: str,
) -> None:
    """put_set_in_place() of a set whose manifest and SBOM are texts already."""
    texts = {sbom_path: sbom_text, manifest_path: manifest_text}
    written: dict[Path, Path] = {}
    try:
        for path, text in texts.items():
            temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
            written[path] = temporary
            temporary.write_bytes(text.encode())  # the same bytes on every host
        written[sbom_path].replace(sbom_path)
        staged.replace(output)
        written[manifest_path].replace(manifest_path)
    except OSError as exc:
        raise OutputError(
            f"cannot write the artifact set {output.name} (zip, manifest, SBOM): {exc.strerror}; "
            "nothing of this build was kept",
            tip="free space in the output directory (or pass another -o DIR), then build again",
        ) from exc
    finally:
        for temporary in written.values():
            temporary.unlink(missing_ok=True)


def _replace(path: Path, text: str) -> None:
    """``path`` replaced by ``text`` atomically (through a temporary file beside it)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        temporary.write_bytes(text.encode())  # the same bytes on every host
        temporary.replace(path)
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror}", tip="check the output directory"
        ) from exc
    finally:
        temporary.unlink(missing_ok=True)
