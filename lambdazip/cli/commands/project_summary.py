"""`build`'s report of a project's artifacts: the summary table, or (`--json`) the versioned
BuildDocument (outputs/report.py) that the tools teams deploy with read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.build.builder import BuildResult
from lambdazip.build.plan import BuildPlan
from lambdazip.cli.console import Console
from lambdazip.targets import Kind, Target

if TYPE_CHECKING:
    from lambdazip.outputs.report import BuildDocument


@dataclass(frozen=True)
class Artifact:
    """One artifact of a project's build, as the summary and `build --json` report it."""

    name: str
    kind: Kind
    target: Target
    status: str
    seconds: float
    detail: str  # the zip, or the error
    size: int | None = None
    result: BuildResult | None = None  # (none: it failed)
    plan: BuildPlan | None = None
    layers: tuple[str, ...] = ()
    handler: str | None = None


def document(rows: Sequence[Artifact], out_dir: Path) -> BuildDocument:
    """`build --json`: what the tools teams deploy with read (outputs/report.py's versioned
    BuildDocument)."""
    import base64

    from lambdazip.outputs.report import BuildDocument, BuiltArtifact

    def row(r: Artifact) -> BuiltArtifact:
        zipped = r.result.zip if r.result is not None else None
        return BuiltArtifact(
            name=r.name,
            kind=r.kind,
            target=str(r.target),
            runtime=r.target.runtime.name,
            architecture=r.target.arch.value,
            status=r.status,
            seconds=round(r.seconds, 3),
            zip=str(zipped.path) if zipped else None,
            manifest=str(r.plan.manifest_path) if zipped and r.plan else None,
            sbom=str(r.plan.sbom_path) if zipped and r.plan else None,
            sha256=zipped.sha256 if zipped else None,
            code_sha256=base64.b64encode(bytes.fromhex(zipped.sha256)).decode() if zipped else None,
            size=zipped.zipped_size if zipped else None,
            unzipped_size=zipped.unzipped_size if zipped else None,
            layers=list(r.layers),
            handler=r.handler,
            error=r.detail if r.status in ("FAILED", "SKIPPED") else None,
        )

    return BuildDocument(
        ok=all(r.result is not None and r.status not in ("FAILED", "SKIPPED") for r in rows),
        output_dir=str(out_dir),
        artifacts=[row(r) for r in rows],
    )


def summary(
    rows: Sequence[Artifact],
    as_json: bool,
    console: Console,
    out_dir: Path,
    changed_only: bool = False,
) -> None:
    """The table of every artifact (``changed_only``, watching: of those not reused)."""
    if changed_only:
        rows = [r for r in rows if r.status != "reused"]
        if not rows:
            return
    if as_json:
        console.result(document(rows, out_dir).model_dump_json(indent=2))
        return
    console.table(
        ["artifact", "kind", "target", "status", ">bytes", ">seconds", "zip or error"],
        [
            [
                r.name,
                r.kind.value,
                str(r.target),
                r.status,
                f"{r.size:,}" if r.size is not None else "-",
                f"{r.seconds:.1f}",
                r.detail,
            ]
            for r in rows
        ],
    )
