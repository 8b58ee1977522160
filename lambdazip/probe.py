"""The facts the in-image probe (inside/probe.py) prints, as a model, and the pure checks over them:
the seed's two checks, run where the code will run, plus every import and a pydantic validation."""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict

from .findings import Finding
from .rules import finding
from .targets import Target


class ImportResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    module: str
    ok: bool
    error: str | None


class PydanticCoreFiles(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str
    files: list[str]


class PydanticValidation(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    error: str | None
    version: str | None


class ProbeDistribution(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str


class ProbeFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: int
    machine: str
    python_version: str
    implementation: str
    cache_tag: str
    ext_suffix: str
    soabi: str | None
    libc: str
    libc_version: str
    sys_path: list[str]
    pydantic_core: PydanticCoreFiles | None
    distributions: list[ProbeDistribution]
    runtime_distributions: list[ProbeDistribution] = []  # in /var/runtime: boto3, awslambdaric
    imports: list[ImportResult]
    pydantic: PydanticValidation | None


def check_probe(facts: ProbeFacts, target: Target) -> list[Finding]:
    """Judge what the probe saw inside the image against the target."""
    findings: list[Finding] = []
    arch = target.arch.info
    expected_suffix = target.runtime.ext_suffix(target.arch)
    image_remedy = (
        "the image is not the target's runtime: use the official image for the target, or a "
        "--base-image built for it"
    )
    if facts.machine != arch.uname_machine:
        findings.append(
            finding("image-machine", "(image)", arch.uname_machine, facts.machine, image_remedy)
        )
    if facts.ext_suffix != expected_suffix:
        findings.append(
            finding("image-ext-suffix", "(image)", expected_suffix, facts.ext_suffix, image_remedy)
        )
    core = facts.pydantic_core
    if core is not None:
        modules = [f for f in core.files if PurePosixPath(f).suffix == ".so"]
        stubs = [f for f in core.files if f.endswith(".pyi")]
        if not any(f.endswith(facts.ext_suffix) for f in modules):
            findings.append(
                finding(
                    "pydantic-core-module",
                    "pydantic_core/_pydantic_core" + facts.ext_suffix,
                    f"a module ending in EXT_SUFFIX {facts.ext_suffix}",
                    ", ".join(modules) or "no compiled module in pydantic-core's RECORD",
                    "pydantic-core was installed for another platform; reinstall it in the image",
                )
            )
        if not stubs:
            findings.append(
                finding(
                    "pydantic-core-stub",
                    "pydantic_core/_pydantic_core.pyi",
                    "the stubs beside the compiled module",
                    "none in pydantic-core's RECORD",
                    "the install is incomplete; reinstall pydantic-core",
                )
            )
    for result in facts.imports:
        if not result.ok:
            findings.append(
                finding(
                    "import",
                    result.module,
                    f"`import {result.module}` to work in {target}",
                    result.error or "an error",
                    "Lambda would fail the same way at cold start; fix the other findings, or "
                    "add what the module needs to the requirements",
                )
            )
    if facts.pydantic is not None and not facts.pydantic.ok:
        findings.append(
            finding(
                "pydantic-validation",
                "pydantic",
                "a pydantic model to validate an event",
                facts.pydantic.error or "an error",
                "pydantic is installed but does not work here; reinstall pydantic and "
                "pydantic-core together",
            )
        )
    return findings
