"""`invoke`: a handler run the way Lambda runs it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.build.engine import Engine
from lambdazip.cli.commands.shared import (
    invoke_error,
    layers_provide,
    manifest_image,
    manifest_of,
    manifest_target,
    note_unset_configuration,
    read_event,
)
from lambdazip.cli.console import Console
from lambdazip.errors import ContainerError, InvokeFailed, LambdaZipError, UsageError
from lambdazip.inputs.configuration import configuration
from lambdazip.inputs.options import InvokeOptions
from lambdazip.oci.image import RUNTIME_LABEL
from lambdazip.targets import RUNTIMES, Arch, Target

if TYPE_CHECKING:
    from lambdazip.build.runner import Invocations


def _read_events(paths: Sequence[Path], stdin: Callable[[], bytes]) -> list[bytes]:
    """Each --event's bytes; ``-`` is standard input, read (once) only then."""
    if sum(1 for p in paths if str(p) == "-") > 1:
        raise UsageError("--event - is given twice", tip="standard input is read once")
    return [read_event(p, stdin() if str(p) == "-" else None) for p in paths]


def _standard_input() -> bytes:
    import sys

    if sys.stdin is None or sys.stdin.closed:
        raise UsageError("--event -: standard input is closed", tip="pass the event as a file")
    return sys.stdin.buffer.read()


def run(args: InvokeOptions, console: Console, env: Mapping[str, str]) -> int:
    try:
        return _invoke(args, console, env)
    except LambdaZipError as exc:
        if args.json and not isinstance(exc, InvokeFailed):  # --json: a document, whatever happens
            kind = "RequestEntityTooLarge" if "RequestEntityTooLarge" in exc.message else "Error"
            error = {"errorType": kind, "errorMessage": exc.message}
            console.result(json.dumps({"ok": False, "error": error, "invocations": []}, indent=2))
        raise


class _ReportOnce:
    """invoke's progress: the function's output as the console shows a tool's, except that the
    REPORT lines, which follow in full, are not also a heartbeat line."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def step(self, title: str) -> None:
        self.console.step(title)

    def detail(self, line: str) -> None:
        if self.console.verbosity > 0 or not line.startswith("REPORT RequestId:"):
            self.console.detail(line)

    def transfer(self, what: str, done: int, total: int) -> None:
        self.console.transfer(what, done, total)


def _image_target(engine: Engine, args: InvokeOptions) -> tuple[Target, str]:
    """A function image's target and handler: --arch and --python, else what the image says (its
    platform, the runtime label `image` puts on it); the handler: --handler, else its CMD."""
    assert args.image is not None
    info = engine.inspect(args.image)
    if info is None:
        raise UsageError(
            f"the engine has no image {args.image}",
            tip=f"pull it first (docker pull {args.image}) or build it with `lambdazip image`",
        )
    settings = info.get("Config") or {}
    found = {"amd64": Arch.X86_64, "arm64": Arch.ARM64}.get(str(info.get("Architecture")))
    if found is None:
        raise UsageError(
            f"{args.image} is for {info.get('Architecture')}, which Lambda does not run",
            tip="pass an image for linux/amd64 or linux/arm64",
        )
    if args.arch is not None and args.arch is not found:
        raise UsageError(
            f"{args.image} is for {found.info.oci_platform}, not --arch {args.arch.value}",
            tip=f"leave --arch out, or build the image for {args.arch.value}",
        )
    arch = found
    label = (settings.get("Labels") or {}).get(RUNTIME_LABEL, "")
    python = args.python or RUNTIMES.get(str(label).removeprefix("python"))
    if not label:  # not an image of ours: asked which Python it has, and whether it has one
        version = _ask_python(engine, args.image, arch)
        if python is not None and python.version != version:
            raise UsageError(
                f"{args.image} runs python{version}, not --python {python.version}",
                tip=f"pass --python {version}, or an image of python{python.version}",
            )
        python = RUNTIMES.get(version)
        if python is None:
            raise UsageError(
                f"{args.image} runs python{version}, which is not a Lambda runtime",
                tip="build the image FROM public.ecr.aws/lambda/python:3.X",
            )
    if label and args.python is not None and f"python{args.python.version}" != label:
        raise UsageError(
            f"{args.image} was built for {label}, not --python {args.python.version}",
            tip=f"leave --python out (the image says {label}), or build it for that runtime",
        )
    if python is None:  # our label, naming a runtime this version does not know
        raise UsageError(f"{args.image} is for {label}, unknown here", tip="pass --python 3.X")
    handler = args.handler
    if handler is None:
        cmd = settings.get("Cmd") or []
        if len(cmd) != 1:
            raise UsageError(
                f"{args.image} has no one-handler CMD ({cmd!r})",
                tip="pass --handler MODULE.FUNCTION",
            )
        handler = str(cmd[0])
    return Target(python, arch), handler


def _ask_python(engine: Engine, image: str, arch: Arch) -> str:
    """The X.Y of the runtime's interpreter in ``image`` (a container asks it)."""
    from lambdazip.inside.lambdazip_contract import PYTHON

    said: list[str] = []
    with engine.container(
        image,
        [PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        platform=arch.info.oci_platform,
        environment={},
        purpose="ask",
    ) as container:
        try:
            code = container.run(said.append)
        except ContainerError:
            code = -1
    version = said[-1].strip() if said else ""
    if code != 0 or not version[:1].isdigit():
        raise UsageError(
            f"{image} has no Lambda Python interpreter ({PYTHON})",
            tip="invoke runs Lambda Python images: FROM public.ecr.aws/lambda/python:3.X",
        )
    return version


def _invoke(args: InvokeOptions, console: Console, env: Mapping[str, str]) -> int:
    from lambdazip.build.runner import invoke

    events = _read_events(args.events, _standard_input) * args.repeat
    settings = configuration(None, args.env_files, args.env)
    if (args.zip is None) == (args.image is None):
        raise UsageError(
            "invoke runs a function zip or an --image, one of the two",
            tip="e.g. invoke dist/app-python3.13-x86_64.zip --handler app.handler --event e.json",
        )
    if args.image is not None:
        if args.image.startswith(("docker://", "oci-archive:", "oci:", "docker-daemon:")):
            name = args.image.split(":", 1)[1].removeprefix("//")
            raise UsageError(
                f"invoke --image runs an image the engine has, not {args.image}",
                tip=f"pull or load it first (docker pull {name}), then name it as the engine does",
            )
        if args.layers:
            raise UsageError("--layer goes with a zip, not --image", tip="an image holds its /opt")
        with Engine.connect(env, args.arch) as engine:
            target, handler = _image_target(engine, args)
            from lambdazip.build.job_image import job_image_on

            with job_image_on(engine, args.image, target) as job:
                outcome = invoke(
                    engine,
                    None,
                    (),
                    handler,
                    events,
                    target,
                    args.image,
                    _ReportOnce(console),
                    timeout=args.timeout,
                    memory=int(args.memory),
                    ephemeral=int(args.ephemeral_storage),
                    configuration=settings,
                    shown_as=args.image,
                    job=job,
                )
        return _report(args, outcome, handler, target, console)
    assert args.zip is not None
    if args.handler is None:
        raise UsageError("invoke needs --handler", tip="e.g. --handler app.handler")
    handler = args.handler
    recorded = manifest_of(args.zip)
    target = manifest_target(args.zip, args.python, args.arch, recorded)
    if not args.zip.is_file():
        raise UsageError(f"{args.zip} does not exist", tip="pass the zip built for the function")
    layers_provide(args.layers, target)  # at most 5, none twice, each for the target
    note_unset_configuration(console, args.zip, recorded, settings, "to run it as configured")
    with Engine.connect(env, target.arch) as engine:
        image, shown = manifest_image(engine, recorded, args.base_image)
        if image is not None and image != shown:
            console.debug(f"the image {shown} is {image} on this engine")
        outcome = invoke(
            engine,
            args.zip,
            args.layers,
            handler,
            events,
            target,
            image,
            _ReportOnce(console),
            timeout=args.timeout,
            memory=int(args.memory),
            ephemeral=int(args.ephemeral_storage),
            configuration=settings,
            shown_as=shown,
        )
    return _report(args, outcome, handler, target, console)


def _report(
    args: InvokeOptions, outcome: Invocations, handler: str, target: Target, console: Console
) -> int:
    last = outcome.last
    failed = next((i for i in outcome.invocations if not i.ok), None)
    if args.json:  # the outcome document, whatever the outcome
        document = {
            **dataclasses.asdict(failed or last),  # what decided the outcome
            "ok": outcome.ok,
            "image": outcome.image,
            "events": outcome.events,
            "invocations": [dataclasses.asdict(i) for i in outcome.invocations],
            "logs": list(outcome.logs),
        }
        console.result(json.dumps(document, indent=2))
    else:
        if console.verbosity <= 0:  # with -v they were shown as they came
            for line in outcome.logs:
                console.info(f"    {line}")
        # every result that came back, also when another event failed: one JSON document per
        # event, each on one line when there are several
        for done in outcome.invocations:
            if done.ok:
                many = outcome.events > 1
                console.result(json.dumps(done.result, indent=None if many else 2))
    if not outcome.ok:
        failed = failed or last
        number = outcome.invocations.index(failed) + 1
        which = f"event {number} of {outcome.events}: " if outcome.events > 1 else ""
        if console.verbosity < 0:
            seen = "run without -q to see the function's output"
        elif outcome.logs:
            seen = "the function's output is above"
        else:
            seen = "the function printed nothing"
        if len(outcome.invocations) < outcome.events:
            seen += f"; the sandbox ended there: {outcome.events - number} event(s) not sent"
        error = invoke_error(failed.error, handler, seen, args.memory)
        raise InvokeFailed(which + error.message, tip=error.tip)
    first = outcome.invocations[0]
    warm = [i.duration_ms or 0 for i in outcome.invocations[1:]]
    more = f", {len(warm)} warm: {sum(warm) / len(warm):.0f} ms each on average" if warm else ""
    console.success(
        f"ok: {handler} in {target} ({outcome.image or target.runtime.image(target.arch)}): "
        f"init {first.init_ms or 0:.0f} ms, duration {first.duration_ms or 0:.0f} ms{more}, "
        f"max memory {max(i.max_memory_mb or 0 for i in outcome.invocations)} of {args.memory} MB"
    )
    return 0
