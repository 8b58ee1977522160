"""GitHub Actions: a build's outputs and step summary, from what it printed. action.yml runs

    python -m lambdazip.outputs.github OUTPUT_DIR JSON
    python -m lambdazip.outputs.github --project DOCUMENT

(JSON: what `layer --json` or `function --json` printed, the manifest), which appends ``zip=``,
``manifest=`` and ``sha256=`` to $GITHUB_OUTPUT and a table (target, sha256, sizes,
distributions) to $GITHUB_STEP_SUMMARY; or (DOCUMENT: what `build --json` printed) appends
``artifacts=DOCUMENT`` and a table of every artifact (status, target, sha256, size, or what
failed). Kept out of the build itself: the tool writes into CI's files only when the action
asks it to.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from lambdazip.outputs.report import BuildDocument, Manifest


def outputs(manifest: Manifest, manifest_path: Path) -> dict[str, str]:
    return {
        "zip": str(manifest_path.with_name(manifest.artifact)),
        "manifest": str(manifest_path),
        "sha256": manifest.sha256,
    }


def summary(manifest: Manifest) -> str:
    """The step summary: one table for the artifact, one for what is in it."""
    target = f"{manifest.target.runtime} on {manifest.target.arch}"
    lines = [
        f"### {manifest.artifact}",
        "",
        "| target | kind | sha256 | zipped | unzipped | files | base image |",
        "|---|---|---|---:|---:|---:|---|",
        f"| {target} | {manifest.kind.value} | `{manifest.sha256}` | {manifest.zipped_size:,} "
        f"| {manifest.unzipped_size:,} | {manifest.files:,} | `{manifest.base_image.reference}` |",
        "",
        "| distribution | version |",
        "|---|---|",
    ]
    lines += [f"| {d.name} | {d.version} |" for d in manifest.distributions]
    return "\n".join(lines) + "\n"


def write(out_dir: Path, printed: Path, env: Mapping[str, str]) -> None:
    manifest = Manifest.model_validate_json(printed.read_bytes())
    manifest_path = out_dir / Path(manifest.artifact).with_suffix(".manifest.json").name
    if env.get("GITHUB_OUTPUT"):
        with Path(env["GITHUB_OUTPUT"]).open("a", encoding="utf-8") as out:
            for key, value in outputs(manifest, manifest_path).items():
                out.write(f"{key}={value}\n")
    if env.get("GITHUB_STEP_SUMMARY"):
        with Path(env["GITHUB_STEP_SUMMARY"]).open("a", encoding="utf-8") as out:
            out.write(summary(manifest))


def project_summary(document: BuildDocument) -> str:
    """The step summary of `build --json`: one row per artifact, in the order built; or what
    stopped the build before any."""
    if document.error is not None:
        tip = f"\n\n{document.tip}" if document.tip else ""
        return f"### lambdazip build: stopped before building\n\n{document.error}{tip}\n"
    verdict = "every artifact built" if document.ok else "**some artifacts failed**"
    lines = [
        f"### lambdazip build: {len(document.artifacts)} artifacts, {verdict}",
        "",
        "| artifact | kind | target | status | sha256 | zipped | zip or error |",
        "|---|---|---|---|---|---:|---|",
    ]
    for a in document.artifacts:
        digest = f"`{a.sha256}`" if a.sha256 else "-"
        size = f"{a.size:,}" if a.size is not None else "-"
        where = f"`{a.zip}`" if a.error is None else " ".join(a.error.split()).replace("|", "\\|")
        lines.append(
            f"| {a.name} | {a.kind.value} | {a.target} | {a.status} | {digest} | {size} | {where} |"
        )
    return "\n".join(lines) + "\n"


def write_project(printed: Path, env: Mapping[str, str]) -> None:
    try:
        document = BuildDocument.model_validate_json(printed.read_bytes())
    except ValueError:  # the build failed before it could print its document: said above
        return
    if env.get("GITHUB_OUTPUT"):
        with Path(env["GITHUB_OUTPUT"]).open("a", encoding="utf-8") as out:
            out.write(f"artifacts={printed}\n")
    if env.get("GITHUB_STEP_SUMMARY"):
        with Path(env["GITHUB_STEP_SUMMARY"]).open("a", encoding="utf-8") as out:
            out.write(project_summary(document))


if __name__ == "__main__":
    if sys.argv[1] == "--project":
        write_project(Path(sys.argv[2]), os.environ)
    else:
        write(Path(sys.argv[1]), Path(sys.argv[2]), os.environ)
