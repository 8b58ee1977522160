"""What more than one command does: the manifest beside a zip, the target and image it names, a
function's layers checked, an event read, a plan made from the options, the smoke event."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.build.engine import Engine
from lambdazip.build.plan import BuildPlan, make_plan
from lambdazip.cli.console import Console
from lambdazip.errors import BuildChecksFailed, InvokeFailed, LambdaZipError, UsageError
from lambdazip.inputs.build_inputs import BuildInputs, resolve, top_level_options
from lambdazip.inputs.configuration import Configuration, configuration
from lambdazip.inputs.options import BuildOptions, InstallOptions
from lambdazip.inputs.project import discover
from lambdazip.outputs.archive import sha256_file, source_date_epoch
from lambdazip.targets import (
    MAX_LAYERS,
    RUNTIMES,
    Arch,
    Kind,
    Runtime,
    Target,
    parse_arch,
    parse_runtime,
)

if TYPE_CHECKING:  # imported where used: a no-op build loads neither pydantic nor pyelftools
    from lambdazip.build.shared_cache import Notices
    from lambdazip.outputs.report import Manifest


def manifest_of(path: Path) -> Manifest | None:
    from lambdazip.outputs.report import Manifest

    try:
        return Manifest.model_validate_json(path.with_suffix(".manifest.json").read_bytes())
    except (OSError, ValueError):
        return None


def manifest_image(
    engine: Engine, manifest: Manifest | None, explicit: str | None
) -> tuple[str | None, str | None]:
    """The image to run in, and how to name it to the user: --base-image, or the image the zip
    was built on (its ID when this engine has it, named by the reference the manifest records,
    else that reference); (None, None): the official image of the target."""
    if explicit is not None:
        return explicit, explicit
    if manifest is None:
        return None, None
    reference = manifest.base_image.reference
    if engine.image(manifest.base_image.id) is not None:
        return manifest.base_image.id, reference
    return reference, reference


def manifest_target(
    path: Path, python: Runtime | None, arch: Arch | None, manifest: Manifest | None = None
) -> Target:
    """--python and --arch, each defaulting to the manifest beside the zip (``manifest``, if
    the caller has read it already), if there is one."""
    if python is not None and arch is not None:
        return Target(python, arch)
    manifest_path = path.with_suffix(".manifest.json")
    manifest = manifest or manifest_of(path)
    if manifest is None:
        raise UsageError(
            f"no --arch/--python, and no readable manifest {manifest_path} to take them from",
            tip="pass --arch and --python",
        )
    return Target(python or RUNTIMES[manifest.target.python], arch or Arch(manifest.target.arch))


def note_unset_configuration(
    console: Console, zip_path: Path, manifest: Manifest | None, given: Configuration, why: str
) -> None:
    """Say which of the names the build had configured are not given now (values are never
    recorded, so only the user can pass them again)."""
    if manifest is None or manifest.inputs is None:
        return
    unset = sorted(set(manifest.inputs.configuration) - {name for name, _ in given})
    if unset:
        console.info(
            f"note: {zip_path.name} was built with {', '.join(unset)} set; pass them with --env "
            f"(or --env-file) {why}"
        )


def read_event(path: Path, data: bytes | None = None) -> bytes:
    """An event's bytes (``data``: already read, from standard input), JSON and within what
    Lambda accepts for a synchronous invocation."""
    from lambdazip.inside.lambdazip_contract import REQUEST_LIMIT

    what = "on standard input" if data is not None else str(path)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(
                f"cannot read the event {path}: {exc.strerror}", tip="pass a JSON file"
            ) from exc
    if len(data) > REQUEST_LIMIT:
        raise UsageError(
            f"RequestEntityTooLarge: the event {what} is {len(data):,} bytes; Lambda refuses a "
            f"synchronous invocation over {REQUEST_LIMIT:,} bytes",
            tip="send a smaller event (put a large payload in S3 and pass its key)",
        )
    try:
        json.loads(data)
    except ValueError as exc:
        raise UsageError(f"the event {what} is not JSON: {exc}", tip="fix it") from exc
    return data


def inputs_of(args: InstallOptions, env: Mapping[str, str]) -> BuildInputs:
    """The build options, each from the command line, the environment or the top level of
    [tool.lambdazip] in --project's pyproject.toml (or here), or its default."""
    return resolve(args.given, env, top_level_options(args.project or Path()))


def plan_for(
    args: InstallOptions,
    inputs: BuildInputs,
    kind: Kind,
    target: Target,
    env: Mapping[str, str],
    base_image: str | None,
    function: BuildOptions | None = None,
) -> BuildPlan:
    layers = function.layers if function else ()
    provided = layers_provide(layers, target) if layers else None
    src = function.src if function else None
    name = function.name if function else None
    if kind is Kind.FUNCTION and function is not None and src is None and args.project:
        src = args.project / "src" if (args.project / "src").is_dir() else args.project
        name = name or args.project.resolve().name  # the project's, not "src"
    return make_plan(
        kind=kind,
        target=target,
        requirements=discover(args.project, args.requirements, Path.cwd()),
        src=src,
        out_dir=args.output_dir,
        name=name,
        base_image=base_image,
        ca_bundle=args.ca_bundle,
        env=env,
        epoch=source_date_epoch(env),
        inputs=inputs,
        handler=function.handler if function else None,
        include=function.include if function else (),
        smoke_event=read_event(function.smoke_event) if function and function.smoke_event else None,
        layers=layers,
        provided=provided,
        configuration=configuration(None, function.env_files, function.env) if function else (),
    )


def layers_provide(layers: Sequence[Path], target: Target) -> dict[str, str]:
    """{name: version} of what a function's layers hold, each layer checked first: at most
    MAX_LAYERS, none twice, each a layer for the function's target (its manifest says so, or
    its content passes `check` for that target)."""
    from lambdazip.judge.checks import check_artifact, detect_kind
    from lambdazip.judge.facts import gather
    from lambdazip.judge.findings import Severity
    from lambdazip.judge.tree import ReadError, open_tree

    if len(layers) > MAX_LAYERS:
        raise UsageError(
            f"{len(layers)} layers: a Lambda function may use at most {MAX_LAYERS}",
            tip="merge layers, or move dependencies into the function",
        )
    provided: dict[str, str] = {}
    seen: dict[str, Path] = {}
    for layer in layers:
        if not layer.is_file():
            raise UsageError(f"--layer {layer} is not a file", tip="pass a layer zip")
        digest = sha256_file(layer)
        if digest in seen:
            raise UsageError(
                f"--layer {layer} is the same layer as {seen[digest]}",
                tip="name each layer once (Lambda refuses a function with a layer twice)",
            )
        seen[digest] = layer
        manifest = manifest_of(layer)
        if manifest is not None and manifest.sha256 == digest:
            built_for = f"python{manifest.target.python}-{manifest.target.arch}"
            if manifest.kind is not Kind.LAYER:
                raise UsageError(
                    f"--layer {layer} is a function zip (its manifest), not a layer",
                    tip="pass a layer zip (build.py layer), or the function's code as --src",
                )
            if built_for != str(target):
                raise UsageError(
                    f"--layer {layer} is a {manifest.kind.value} for {built_for} (its manifest), "
                    f"not a layer for {target}",
                    tip=f"build the layer for {target} (--python {target.runtime.version} "
                    f"--arch {target.arch.value})",
                )
            provided.update({d.name: d.version for d in manifest.distributions})
            continue
        try:
            with open_tree(layer) as tree:
                facts = gather(tree)
        except ReadError as exc:
            raise UsageError(
                f"--layer {layer} cannot be read: {exc}", tip="pass a layer zip"
            ) from None
        if detect_kind(facts) is not Kind.LAYER:
            raise UsageError(
                f"--layer {layer} is not a layer (its files are not under python/, lib/ or bin/)",
                tip="pass a layer zip, or the function's code as --src",
            )
        errors = [
            f for f in check_artifact(facts, target, Kind.LAYER) if f.severity is Severity.ERROR
        ]
        if errors:
            raise UsageError(
                f"--layer {layer} does not fit {target}: {errors[0].line()}",
                tip=f"run `check {layer} --python {target.runtime.version} --arch "
                f"{target.arch.value}` for every finding",
            )
        provided.update({d.name: d.version for d in facts.dists})
    return provided


def report_shared_cache(shared: Notices | None, console: Console, label: str = "") -> None:
    """The shared cache's warnings for one build (a registry that failed: the build went on)."""
    for message, tip in shared.warnings if shared else ():
        console.warning(f"{label}{message}", tip)


def report_build_failure(exc: LambdaZipError, console: Console) -> None:
    if isinstance(exc, BuildChecksFailed):
        for finding in exc.findings:
            console.finding(finding)


SMOKE_TIMEOUT = 30.0  # seconds: the function's own timeout is not known to the build, and a
# build may run emulated; Lambda's memory default (128 MB) holds


def smoke_check(
    engine: Engine, plan: BuildPlan, handler: str | None, event: bytes | None, console: Console
) -> Callable[[Path], None] | None:
    """The check build() runs on the finished zip before it is put in place: the handler invoked
    with the smoke event in the runtime, with the plan's layers; None without an event."""
    if event is None or handler is None:
        return None

    def smoke_test(staged: Path) -> None:
        from lambdazip.build.runner import invoke

        outcome = invoke(
            engine,
            staged,
            list(plan.layers),
            handler,
            [event],
            plan.target,
            plan.base_image,
            console,
            timeout=SMOKE_TIMEOUT,
            configuration=plan.configuration,
        )
        if not outcome.ok:
            raise invoke_error(outcome.last.error, handler, "no artifact was written", smoke=True)
        returned = plan.redact(json.dumps(outcome.last.result))[:200]
        console.info(f"smoke event: {handler} returned {returned}")

    return smoke_test


def invoke_error(
    error: dict[str, object] | None,
    handler: str,
    consequence: str,
    memory: int | None = None,
    smoke: bool = False,
) -> InvokeFailed:
    error = error or {}
    kind, message = error.get("errorType", "Error"), error.get("errorMessage", "")
    tip = f"{consequence}; run with -v for the function's output" if smoke else consequence
    if kind == "Runtime.OutOfMemory":
        tip = (
            f"{consequence}: the smoke event runs with Lambda's default 128 MB; make the handler "
            "use less for it"
            if smoke
            else f"it used more than its {memory} MB: raise --memory (Lambda's memory size)"
        )
    elif kind == "Sandbox.Timedout":
        tip = (
            f"{consequence}: the smoke event may take {SMOKE_TIMEOUT:g} s; make it a quick one"
            if smoke
            else "the handler did not return in time: raise --timeout, or look at -v output"
        )
    return InvokeFailed(f"{handler} failed: {kind}: {message}", tip=tip)


def base_images(specs: Sequence[str]) -> dict[str, str]:
    images: dict[str, str] = {}
    for spec in specs:
        key, sep, image = spec.partition("=")
        python, slash, arch = key.partition("/")
        if not sep or not slash or not image:
            raise UsageError(
                f"--base-image {spec!r} is not PY/ARCH=IMAGE", tip="e.g. 3.13/arm64=IMG"
            )
        images[str(Target(parse_runtime(python), parse_arch(arch)))] = image
    return images


def engines_of(env: Mapping[str, str], arches: Sequence[Arch]) -> dict[Arch, str]:
    """Reach every architecture's engine once, before anything is built: one that is down or
    would emulate its architecture fails the command here. Their endpoints, by architecture."""
    endpoints: dict[Arch, str] = {}
    for arch in dict.fromkeys(arches):
        with Engine.connect(env, arch) as engine:
            endpoints[arch] = engine.info.endpoint
    return endpoints
