"""Run existing artifacts in the Lambda image of their target: the probe (the diagnostic) and a
handler invocation, with the files where Lambda puts them and read-only as Lambda has them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from lambdazip.build.engine import Engine, VolumeMount
from lambdazip.build.exits import Exited, failure
from lambdazip.build.images import Progress, job_image
from lambdazip.build.transfer import read_in, tar_directory_entry, tar_files, tar_tree
from lambdazip.errors import ArtifactError, ContainerError, ImageError, InvokeFailed, TimedOut
from lambdazip.inputs.configuration import Configuration, configuration_json
from lambdazip.inside import lambdazip_contract as contract
from lambdazip.inside import lambdazip_results as results
from lambdazip.inside.lambdazip_contract import redact
from lambdazip.inside.lambdazip_results import Invocation
from lambdazip.judge.probe import ProbeFacts
from lambdazip.judge.tree import ReadError, open_tree
from lambdazip.targets import Kind, Target


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
    layers: Sequence[Path] = (),
    configuration: Configuration = (),
    shown_as: str | None = None,
    handler: str | None = None,
) -> ProbeFacts:
    """Run the probe in the target image on an existing zip, placed where Lambda places it
    (/opt for a layer, /var/task for a function, with its ``layers`` at /opt), with the
    function's ``configuration``: the probe's diagnostic for any artifact. ``shown_as``: how to
    name the image to the user (the reference they gave), if not ``base_image``."""
    reference = base_image or target.runtime.image(target.arch)
    _base, image = job_image(engine, reference, target, progress, shown_as)
    with engine.container(
        image.id,
        [
            contract.PYTHON,
            f"{contract.INSIDE_DIR}/install.py",
            contract.InsidePlan(kind=kind.value, install=False, handler=handler).to_json(),
        ],
        platform=target.arch.info.oci_platform,
        environment={},
        purpose="probe",
    ) as container:
        for layer in layers:
            container.put(contract.OPT, tar_artifact(layer))
        place = contract.OPT if kind is Kind.LAYER else contract.TASK_ROOT
        container.put(place, tar_artifact(artifact))
        if configuration:
            name = contract.CONFIGURATION.removeprefix(contract.INSIDE_DIR + "/")
            container.put(contract.INSIDE_DIR, tar_files({name: configuration_json(configuration)}))
        progress.step(f"probing {artifact.name} in {shown_as or reference}")
        secrets = [value for _name, value in configuration]
        code = container.run(lambda line: progress.detail(redact(line, secrets)))
        if code != contract.Exit.OK:
            raise failure(Exited(code, [], "the probe", shown_as or reference, target))
        facts = read_in(container.get(contract.OUT_DIR), contract.OUT_DIR, contract.PROBE_FACTS)
    if facts is None:
        raise ContainerError("the probe wrote no facts", tip="run again with -v")
    return ProbeFacts.model_validate_json(facts)


def probe_image(
    engine: Engine,
    image: str,
    target: Target,
    progress: Progress,
    handler: str | None,
    configuration: Configuration = (),
    shown_as: str | None = None,
    job: str | None = None,
) -> ProbeFacts:
    """Run the probe in a function image as Lambda runs the function: as its non-root user, on a
    read-only root with a writable /tmp, importing what /var/task (and /opt) of the image hold.
    The probe's scripts come from the job image made on ``image``; its facts go to a volume the
    probe's user owns, the one place it may write."""
    shown = shown_as or image
    job_id = _job(engine, image, target, progress, shown_as, job)
    platform = target.arch.info.oci_platform
    facts_name = contract.PROBE_FACTS
    configured = f"{contract.OUT_DIR}/configuration.json"
    with engine.volume("probe-out") as out:
        with engine.container(
            job_id,
            [contract.PYTHON, "-c", "pass"],
            platform=platform,
            environment={},
            purpose="load",
            volumes=[VolumeMount(out, contract.OUT_DIR)],
        ) as loader:
            loader.put(
                contract.INSIDE_DIR,
                tar_directory_entry(PurePosixPath(contract.OUT_DIR).name, contract.HANDLER_USER),
            )
            if configuration:
                loader.put(
                    contract.OUT_DIR,
                    tar_files({"configuration.json": configuration_json(configuration)}),
                )
        command = ["/bin/sh", "-c", f'exec "$0" "$@" > {contract.OUT_DIR}/{facts_name}']
        command += [contract.PYTHON, "-I", "-B", f"{contract.INSIDE_DIR}/probe.py"]
        command += ["--kind", Kind.FUNCTION.value, "--configuration", configured]
        command += ["--handler", handler] if handler else []
        with engine.container(
            job_id,
            command,
            platform=platform,
            environment={},
            purpose="probe",
            read_only=True,
            tmpfs={"/tmp": "rw,size=512m,mode=1777"},  # noqa: S108 - Lambda's writable /tmp
            volumes=[VolumeMount(out, contract.OUT_DIR)],
            user=contract.HANDLER_USER,
        ) as container:
            progress.step(f"probing {shown} as Lambda's user, on a read-only root")
            secrets = [value for _name, value in configuration]
            lines: list[str] = []

            def keep(line: str) -> None:
                lines.append(redact(line, secrets))
                progress.detail(lines[-1])

            code = container.run(keep)
            if code != contract.Exit.OK:
                raise failure(Exited(code, lines, "the probe", shown, target))
            facts = read_in(container.get(contract.OUT_DIR), contract.OUT_DIR, facts_name)
    if not facts:
        raise ContainerError("the probe wrote no facts", tip="run again with -v")
    return ProbeFacts.model_validate_json(facts)


def _job(
    engine: Engine,
    reference: str,
    target: Target,
    progress: Progress,
    shown_as: str | None,
    job: str | None,
) -> str:
    """The build image to run in: ``job`` when the caller made one (job_image.job_image_on, on a
    function image), else the Dockerfile's on ``reference``, built once and kept."""
    if job is not None:
        return job
    return job_image(engine, reference, target, progress, shown_as)[1].id


EPHEMERAL_DEFAULT = 512  # MB of /tmp, Lambda's default ephemeral storage
HEADROOM = 64  # MB of the container's limit for invoke.py itself (it is not the function's)


@dataclass(frozen=True)
class Invocations:
    """What one sandbox answered to its events, in order; fewer than the events if one ended
    the sandbox (a timeout, running out of memory, the process exiting)."""

    invocations: tuple[Invocation, ...]
    events: int
    logs: tuple[str, ...]  # what the function (and the interpreter) printed, REPORT lines too
    image: str  # as the user named it

    @property
    def ok(self) -> bool:
        return len(self.invocations) == self.events and all(i.ok for i in self.invocations)

    @property
    def last(self) -> Invocation:
        return self.invocations[-1]


def invoke(
    engine: Engine,
    function: Path | None,
    layers: Sequence[Path],
    handler: str,
    events: Sequence[bytes],
    target: Target,
    base_image: str | None,
    progress: Progress,
    python_flags: Sequence[str] = (),
    timeout: float = 3.0,
    memory: int = 128,
    ephemeral: int = EPHEMERAL_DEFAULT,
    configuration: Configuration = (),
    shown_as: str | None = None,
    job: str | None = None,
) -> Invocations:
    """Call ``handler`` with each of ``events`` in turn, in one sandbox of the target image: the
    function at /var/task and the layers at /opt (later layers over earlier ones, as Lambda
    extracts them), both read-only, on a read-only root file system with a writable /tmp of
    ``ephemeral`` MB that does not count against ``memory``."""
    reference = base_image or target.runtime.image(target.arch)
    shown = shown_as or reference
    secrets = [value for _name, value in configuration]
    image_id = _job(engine, reference, target, progress, shown_as, job)
    platform = target.arch.info.oci_platform
    with ExitStack() as stack:
        task = stack.enter_context(engine.volume("task"))
        opt = stack.enter_context(engine.volume("opt"))
        inputs = stack.enter_context(engine.volume("event"))
        outcomes = stack.enter_context(engine.volume("outcome"))
        progress.step("placing the function at /var/task and the layers at /opt")
        with engine.container(
            image_id,
            [contract.PYTHON, "-c", "pass"],
            platform=platform,
            environment={},
            purpose="load",
            volumes=[
                VolumeMount(task, contract.TASK_ROOT),
                VolumeMount(opt, contract.OPT),
                VolumeMount(inputs, contract.EVENT_DIR),
                VolumeMount(outcomes, contract.OUTCOME_DIR),
            ],
        ) as loader:
            if function is not None:
                loader.put(contract.TASK_ROOT, tar_artifact(function))
            for layer in layers:
                loader.put(contract.OPT, tar_artifact(layer))
            numbers: dict[bytes, int] = {}  # each distinct event once (--repeat sends it again)
            order = [numbers.setdefault(e, len(numbers)) for e in events]
            files = {PurePosixPath(contract.event_file(n)).name: e for e, n in numbers.items()}
            if configuration:
                name = PurePosixPath(contract.INVOKE_CONFIGURATION).name
                files[name] = configuration_json(configuration)
            loader.put(contract.EVENT_DIR, tar_files(files))
            # the handler runs unprivileged: the outcome volume is the one place it may write
            loader.put(contract.INSIDE_DIR, tar_directory_entry("outcome", contract.HANDLER_USER))
        invoke_py = f"{contract.INSIDE_DIR}/invoke.py"
        command = [contract.PYTHON, "-I", invoke_py, "--handler", handler]
        command += [f"--python-flag={flag}" for flag in python_flags]
        command += ["--order", ",".join(map(str, order)), "--timeout", str(timeout)]
        command += ["--memory", str(memory)]
        command += ["--python", target.runtime.version, "--machine", target.arch.info.uname_machine]
        with engine.container(
            image_id,
            command,
            platform=platform,
            environment={},
            purpose="invoke",
            read_only=True,
            # Lambda's writable /tmp, its ephemeral storage: a tmpfs is charged to the container's
            # memory, so the container may take that much more; invoke.py holds the function to
            # its own memory size
            tmpfs={"/tmp": f"rw,size={ephemeral}m,mode=1777"},  # noqa: S108
            volumes=[
                VolumeMount(task, contract.TASK_ROOT, read_only=True),
                VolumeMount(opt, contract.OPT, read_only=True),
                VolumeMount(inputs, contract.EVENT_DIR, read_only=True),
                VolumeMount(outcomes, contract.OUTCOME_DIR),
            ],
            user=contract.HANDLER_USER,
            memory_mb=memory + ephemeral + HEADROOM,
        ) as runner:
            many = f" ({len(events)} events, one sandbox)" if len(events) > 1 else ""
            progress.step(f"invoking {handler} in {shown}{many}")
            logs: list[str] = []

            def keep(output: str) -> None:
                # the runtime client writes a multi-line record (a traceback) as one line, its
                # line breaks as \r, for CloudWatch to keep together: shown here as lines
                for line in redact(output, secrets).split("\r"):
                    logs.append(line)
                    progress.detail(line)

            limit = max(contract.INIT_LIMIT, timeout) + timeout * len(events) + 30
            try:  # invoke.py keeps Lambda's limits; this is the net under it
                code = runner.run(keep, timeout=limit)
            except TimedOut as exc:
                raise InvokeFailed(
                    f"{handler}: Task timed out after {timeout:g} seconds",
                    tip="the handler did not return in time; raise --timeout or look at -v output",
                ) from exc
            outcome_file = PurePosixPath(contract.OUTCOME).name
            written = read_in(runner.get(contract.OUTCOME_DIR), contract.OUTCOME_DIR, outcome_file)
            out_of_memory = runner.out_of_memory()
    kept = tuple(line for line in logs if line != "")
    if written is None:
        ended = (
            Invocation.failed(
                "Runtime.OutOfMemory", f"the sandbox used more than {memory} MB", memory
            )
            if out_of_memory
            else Invocation.failed(
                "Runtime.ExitError",
                f"the runtime exited with status {code} before the handler returned",
                memory,
            )
        )
        return Invocations((ended,), len(events), kept, shown)
    try:
        outcome = results.load(results.InvokeOutcome, written)
    except results.ResultError as exc:
        raise ImageError(
            f"invoke's outcome in {shown} is not this version's: {exc}",
            tip="use the build image of this lambdazip (run again with --no-cache)",
        ) from None
    if code not in (contract.Exit.OK, contract.Exit.HANDLER_FAILED):
        seen = outcome.image or {}
        said = f"python{seen.get('python')} on {seen.get('machine')}"
        raise failure(Exited(code, list(kept), "invoke", shown, target, seen=said))
    done = tuple(
        dataclasses.replace(i, error=redact_all(i.error, secrets)) for i in outcome.invocations
    )
    return Invocations(done, len(events), kept, shown)


def redact_all(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` (a JSON document: an error the runtime posted) with every string redacted."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [redact_all(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: redact_all(v, secrets) for k, v in value.items()}
    return value
