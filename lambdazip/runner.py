"""Run existing artifacts in the Lambda image of their target: the probe (the diagnostic) and a
handler invocation, with the files where Lambda puts them and read-only as Lambda has them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checks import Kind
from .engine import Engine, TimedOut, VolumeMount
from .errors import ArtifactError, LambdaZipError
from .images import INSIDE_DIR, PYTHON, Progress, job_image
from .probe import ProbeFacts
from .targets import Target
from .transfer import read_member, tar_files, tar_tree
from .tree import ReadError, open_tree

RESULT_MARKER = "\x1eLAMBDAZIP-RESULT "  # inside/invoke.py prints the outcome after it


class InvokeFailed(LambdaZipError):
    """The handler raised, or could not be imported or called."""

    exit_code = 10


def _tar_artifact(path: Path, prefix: str = "") -> bytes:
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
        [PYTHON, f"{INSIDE_DIR}/install.py", json.dumps({"kind": kind.value, "install": False})],
        platform=target.arch.info.oci_platform,
        environment={},
        purpose="probe",
    ) as container:
        container.put("/opt" if kind is Kind.LAYER else "/var/task", _tar_artifact(artifact))
        progress.step(f"probing {artifact.name} in {reference}")
        code = container.run(progress.detail)
        if code != 0:
            raise LambdaZipError(f"the probe container exited with {code}", tip="run with -v")
        facts = read_member(container.get(f"{INSIDE_DIR}/out"), "out/probe.json")
    if facts is None:
        raise LambdaZipError("the probe wrote no facts", tip="run again with -v")
    return ProbeFacts.model_validate_json(facts)


@dataclass(frozen=True)
class Invocation:
    ok: bool
    result: Any
    error: dict[str, Any] | None
    init_ms: float | None
    duration_ms: float | None
    logs: list[str]  # what the function (and the interpreter) printed


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
        progress.step("placing the function at /var/task and the layers at /opt")
        with engine.container(
            image.id,
            [PYTHON, "-c", "pass"],
            platform=platform,
            environment={},
            purpose="load",
            volumes=[
                VolumeMount(task, "/var/task"),
                VolumeMount(opt, "/opt"),
                VolumeMount(events, f"{INSIDE_DIR}/event"),
            ],
        ) as loader:
            if function is not None:
                loader.put("/var/task", _tar_artifact(function))
            for layer in layers:
                loader.put("/opt", _tar_artifact(layer))
            loader.put(f"{INSIDE_DIR}/event", tar_files({"event.json": event}))
        command = [PYTHON, *python_flags, "-I", f"{INSIDE_DIR}/invoke.py", "--handler", handler]
        command += ["--event", f"{INSIDE_DIR}/event/event.json", "--timeout", str(timeout)]
        with engine.container(
            image.id,
            command,
            platform=platform,
            environment={},
            purpose="invoke",
            read_only=True,
            tmpfs={"/tmp": "rw,size=512m"},  # noqa: S108 - Lambda's writable /tmp, in the container
            volumes=[
                VolumeMount(task, "/var/task", read_only=True),
                VolumeMount(opt, "/opt", read_only=True),
                VolumeMount(events, f"{INSIDE_DIR}/event", read_only=True),
            ],
        ) as runner:
            progress.step(f"invoking {handler} in {reference}")
            logs: list[str] = []

            def keep(line: str) -> None:
                logs.append(line)
                if not line.startswith(RESULT_MARKER):
                    progress.detail(line)

            try:
                runner.run(keep, timeout=timeout)
            except TimedOut as exc:
                raise InvokeFailed(
                    f"{handler}: Task timed out after {timeout:g} seconds",
                    tip="the handler did not return in time; raise --timeout or look at -v output",
                ) from exc
    outcomes = [line for line in logs if line.startswith(RESULT_MARKER)]
    if not outcomes:
        raise InvokeFailed(
            "the handler's process ended without an outcome (killed, or out of memory)",
            tip="run again with -v to see its output",
        )
    fields = json.loads(outcomes[-1][len(RESULT_MARKER) :])
    return Invocation(
        ok=bool(fields.get("ok")),
        result=fields.get("result"),
        error=fields.get("error"),
        init_ms=fields.get("init_ms"),
        duration_ms=fields.get("duration_ms"),
        logs=[line for line in logs if not line.startswith(RESULT_MARKER) and line != ""],
    )
