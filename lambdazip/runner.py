"""Run existing artifacts in the Lambda image of their target: the probe (the diagnostic) and a
handler invocation, with the files where Lambda puts them and read-only as Lambda has them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .engine import Engine, VolumeMount
from .errors import ArtifactError, ContainerError, ImageError, InvokeFailed, TimedOut
from .images import Progress, job_image
from .inside import lambdazip_contract as contract
from .probe import ProbeFacts
from .targets import Kind, Target
from .transfer import read_in, tar_directory_entry, tar_files, tar_tree
from .tree import ReadError, open_tree


def tar_artifact(path: Path, prefix: str = "") -> bytes:
    try:
        with open_tree(path) as tree:
            return tar_tree(tree, prefix)
    except ReadError as exc:
        raise ArtifactError(
            f"{path} cannot be read: {exc}", tip=f"run `build.py check {path}` for details"
        ) from exc


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
    _base, image = job_image(engine, reference, target, progress)
    with engine.container(
        image.id,
        [
            contract.PYTHON,
            f"{contract.INSIDE_DIR}/install.py",
            contract.InsidePlan(kind=kind.value, install=False).to_json(),
        ],
        platform=target.arch.info.oci_platform,
        environment={},
        purpose="probe",
    ) as container:
        place = contract.OPT if kind is Kind.LAYER else contract.TASK_ROOT
        container.put(place, tar_artifact(artifact))
        progress.step(f"probing {artifact.name} in {reference}")
        code = container.run(progress.detail)
        if code != contract.Exit.OK:
            raise ContainerError(f"the probe container exited with {code}", tip="run with -v")
        facts = read_in(container.get(contract.OUT_DIR), contract.OUT_DIR, contract.PROBE_FACTS)
    if facts is None:
        raise ContainerError("the probe wrote no facts", tip="run again with -v")
    return ProbeFacts.model_validate_json(facts)


@dataclass(frozen=True)
class Invocation:
    ok: bool
    result: Any
    error: dict[str, Any] | None
    init_ms: float | None
    duration_ms: float | None
    logs: list[str]  # what the function (and the interpreter) printed
    request_id: str | None = None
    billed_ms: int | None = None
    memory_mb: int | None = None
    max_memory_mb: int | None = None
    report: str | None = None  # CloudWatch's REPORT line


def invoke(
    engine: Engine,
    function: Path | None,
    layers: Sequence[Path],
    handler: str,
    event: bytes,
    target: Target,
    base_image: str | None,
    progress: Progress,
    python_flags: Sequence[str] = (),
    timeout: float = 30.0,
    memory: int = 128,
) -> Invocation:
    """Call ``handler`` with ``event`` in the target image: the function at /var/task and the layers
    at /opt (later layers over earlier ones, as Lambda extracts them), both read-only, on a
    read-only root file system with a writable /tmp."""
    reference = base_image or target.runtime.image(target.arch)
    _base, image = job_image(engine, reference, target, progress)
    platform = target.arch.info.oci_platform
    with ExitStack() as stack:
        task = stack.enter_context(engine.volume("task"))
        opt = stack.enter_context(engine.volume("opt"))
        events = stack.enter_context(engine.volume("event"))
        outcomes = stack.enter_context(engine.volume("outcome"))
        progress.step("placing the function at /var/task and the layers at /opt")
        with engine.container(
            image.id,
            [contract.PYTHON, "-c", "pass"],
            platform=platform,
            environment={},
            purpose="load",
            volumes=[
                VolumeMount(task, contract.TASK_ROOT),
                VolumeMount(opt, contract.OPT),
                VolumeMount(events, contract.EVENT_DIR),
                VolumeMount(outcomes, contract.OUTCOME_DIR),
            ],
        ) as loader:
            if function is not None:
                loader.put(contract.TASK_ROOT, tar_artifact(function))
            for layer in layers:
                loader.put(contract.OPT, tar_artifact(layer))
            loader.put(contract.EVENT_DIR, tar_files({PurePosixPath(contract.EVENT).name: event}))
            # the handler runs unprivileged: the outcome volume is the one place it may write
            loader.put(contract.INSIDE_DIR, tar_directory_entry("outcome", contract.HANDLER_USER))
        invoke_py = f"{contract.INSIDE_DIR}/invoke.py"
        command = [contract.PYTHON, "-I", invoke_py, "--handler", handler]
        command += [f"--python-flag={flag}" for flag in python_flags]
        command += ["--event", contract.EVENT, "--timeout", str(timeout), "--memory", str(memory)]
        command += ["--python", target.runtime.version, "--machine", target.arch.info.uname_machine]
        with engine.container(
            image.id,
            command,
            platform=platform,
            environment={},
            purpose="invoke",
            read_only=True,
            tmpfs={"/tmp": "rw,size=512m,mode=1777"},  # noqa: S108 - Lambda's writable /tmp
            volumes=[
                VolumeMount(task, contract.TASK_ROOT, read_only=True),
                VolumeMount(opt, contract.OPT, read_only=True),
                VolumeMount(events, contract.EVENT_DIR, read_only=True),
                VolumeMount(outcomes, contract.OUTCOME_DIR),
            ],
            user=contract.HANDLER_USER,
            memory_mb=memory,
        ) as runner:
            progress.step(f"invoking {handler} in {reference}")
            logs: list[str] = []

            def keep(output: str) -> None:
                # the runtime client writes a multi-line record (a traceback) as one line, its
                # line breaks as \r, for CloudWatch to keep together: shown here as lines
                for line in output.split("\r"):
                    logs.append(line)
                    progress.detail(line)

            try:  # invoke.py keeps Lambda's limits; this is the net under it
                code = runner.run(keep, timeout=max(contract.INIT_LIMIT, timeout) + timeout + 30)
            except TimedOut as exc:
                raise InvokeFailed(
                    f"{handler}: Task timed out after {timeout:g} seconds",
                    tip="the handler did not return in time; raise --timeout or look at -v output",
                ) from exc
            outcome_file = PurePosixPath(contract.OUTCOME).name
            written = read_in(runner.get(contract.OUTCOME_DIR), contract.OUTCOME_DIR, outcome_file)
            out_of_memory = runner.out_of_memory()
    if written is None:
        if out_of_memory:
            raise InvokeFailed(
                f"{handler} failed: Runtime.OutOfMemory: it used more than {memory} MB",
                tip="raise --memory (Lambda's memory size) or make the handler use less",
            )
        raise InvokeFailed(
            f"{handler} failed: Runtime.ExitError: the runtime exited with status {code} "
            "before the handler returned",
            tip="something in the function ended the process (os._exit, a crash in native "
            "code); run with -v for its output",
        )
    fields = json.loads(written)
    if code == contract.Exit.NO_RUNTIME_CLIENT:
        raise ImageError(
            f"{reference} has no Lambda runtime interface client (awslambdaric in "
            f"{contract.RUNTIME_DIR}): nothing was run",
            tip="use the official Lambda Python image (or a --base-image built on it)",
        )
    if code == contract.Exit.IMAGE_MISMATCH:
        seen = fields.get("image") or {}
        raise ImageError(
            f"{reference} runs python{seen.get('python')} on {seen.get('machine')}, but the "
            f"target is {target.runtime.name} on {target.arch.info.uname_machine}: nothing was run",
            tip=f"use the target's image ({target.runtime.image(target.arch)}), or --python/--arch "
            "of the image you meant",
        )
    return Invocation(
        ok=bool(fields.get("ok")),
        result=fields.get("result"),
        error=fields.get("error"),
        init_ms=fields.get("init_ms"),
        duration_ms=fields.get("duration_ms"),
        logs=[line for line in logs if line != ""],
        request_id=fields.get("request_id"),
        billed_ms=fields.get("billed_ms"),
        memory_mb=fields.get("memory_mb"),
        max_memory_mb=fields.get("max_memory_mb"),
        report=fields.get("report"),
    )
