"""One function per command: typed options in (options.py), exit code out, output through the
Console. Errors are raised (the LambdaZipError family); cli.py dispatches to these and turns
errors into a line and a code."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .archive import sha256_file, source_date_epoch
from .builder import BuildResult, build
from .configuration import Configuration, configuration
from .console import Console, Prefixed
from .engine import Engine, engine_variable
from .errors import (
    BuildChecksFailed,
    CheckFailed,
    ImageError,
    InvokeFailed,
    LambdaZipError,
    MatrixFailed,
    NotReproduced,
    UsageError,
)
from .options import (
    BuildOptions,
    CacheOptions,
    CheckOptions,
    InstallOptions,
    InvokeOptions,
    MatrixOptions,
    ProbeOptions,
    ProjectOptions,
    PublishOptions,
    VerifyOptions,
)
from .plan import BuildPlan, Bytecode, Installer, cache_volume_name, make_plan
from .project import discover
from .targets import (
    DEFAULT_VERSIONS,
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
    from .config import Dependencies, Function, ProjectConfig
    from .deployed import Deployed
    from .report import Manifest, SourceModel


def _manifest(path: Path) -> Manifest | None:
    from .report import Manifest

    try:
        return Manifest.model_validate_json(path.with_suffix(".manifest.json").read_bytes())
    except (OSError, ValueError):
        return None


def _manifest_image(
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


def _manifest_target(
    path: Path, python: Runtime | None, arch: Arch | None, manifest: Manifest | None = None
) -> Target:
    """--python and --arch, each defaulting to the manifest beside the zip (``manifest``, if
    the caller has read it already), if there is one."""
    if python is not None and arch is not None:
        return Target(python, arch)
    manifest_path = path.with_suffix(".manifest.json")
    manifest = manifest or _manifest(path)
    if manifest is None:
        raise UsageError(
            f"no --arch/--python, and no readable manifest {manifest_path} to take them from",
            tip="pass --arch and --python",
        )
    return Target(python or RUNTIMES[manifest.target.python], arch or Arch(manifest.target.arch))


def _note_unset_configuration(
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


def _check_source(args: CheckOptions, console: Console, scratch: Path) -> Deployed:
    """What to check: a local path, or what is deployed (downloaded into ``scratch``)."""
    from .deployed import Deployed, fetch_function, fetch_layer

    sources = [s for s in (args.path, args.function, args.layer_arn) if s is not None]
    if len(sources) != 1:
        raise UsageError(
            "check takes one of: a path, --function NAME_OR_ARN, --layer-arn ARN",
            tip="e.g. build.py check dist/layer.zip --arch arm64 --python 3.13",
        )
    if args.function is not None:
        return fetch_function(args.function, args.qualifier, args.region, scratch, console.step)
    if args.layer_arn is not None:
        return fetch_layer(args.layer_arn, args.region, scratch, console.step)
    assert args.path is not None
    target = _manifest_target(args.path, args.python, args.arch)
    return Deployed(str(args.path), target, args.kind or Kind.LAYER, args.path)


def run_check(args: CheckOptions, console: Console, env: Mapping[str, str]) -> int:
    import tempfile

    from .checks import detect_kind
    from .facts import gather
    from .report import check_report
    from .tree import open_tree

    with tempfile.TemporaryDirectory(prefix="lambdazip-check-") as scratch:
        source = _check_source(args, console, Path(scratch))
        if source.target is None and (args.python is None or args.arch is None):
            raise UsageError(
                f"{source.what} is compatible with more than one runtime or architecture",
                tip="pass --python and --arch to say which to check it for",
            )
        runtime = args.python or (source.target.runtime if source.target else None)
        arch = args.arch or (source.target.arch if source.target else None)
        assert runtime is not None
        assert arch is not None
        target = Target(runtime, arch)
        with ExitStack() as stack:
            facts = gather(stack.enter_context(open_tree(source.code)))
            layer_paths = [*source.layers, *args.layers]
            layers = [gather(stack.enter_context(open_tree(p))) for p in layer_paths]
    kind = source.kind if args.path is None else args.kind or detect_kind(facts)
    report = check_report(facts, target, kind, layers)
    if args.json:
        console.result(report.model_dump_json(indent=2))
    else:
        for finding in report.findings:
            console.finding(finding)
    summary = (
        f"{source.what} as a {kind.value} for {target}: {len(report.errors)} error(s), "
        f"{len(report.warnings)} warning(s) in {report.files} files "
        f"({report.shared_objects} shared object(s))"
    )
    if not report.ok:
        raise CheckFailed(summary, tip="fix the errors above, then check again")
    console.success(f"ok: {summary}")
    return 0


def run_probe(args: ProbeOptions, console: Console, env: Mapping[str, str]) -> int:
    from .checks import detect_kind
    from .facts import gather
    from .probe import check_probe
    from .runner import probe_artifact
    from .tree import open_tree

    target = Target(args.python, args.arch)
    with open_tree(args.path) as tree:
        facts = gather(tree)
    kind = args.kind or detect_kind(facts)
    if args.layers and kind is not Kind.FUNCTION:
        raise UsageError(
            "--layer is for probing a function", tip="drop --layer, or --kind function"
        )
    _layers_provide(args.layers, target)
    settings = configuration(None, args.env_files, args.env)
    recorded = _manifest(args.path)
    handler = args.handler
    if handler is None and kind is Kind.FUNCTION and recorded and recorded.inputs:
        handler = recorded.inputs.handler
    with Engine.connect(env, target.arch) as engine:
        image, shown = _manifest_image(engine, recorded, args.base_image)
        probe = probe_artifact(
            engine, args.path, kind, target, image, console, args.layers, settings, shown, handler
        )
    findings = check_probe(probe, target, args.strict_import)
    errors = [f for f in findings if f.severity == "error"]
    if args.json:
        console.result(probe.model_dump_json(indent=2))
    else:
        for finding in findings:
            console.finding(finding)
    summary = (
        f"{args.path} probed as a {kind.value} in {target}: machine {probe.machine}, "
        f"EXT_SUFFIX {probe.ext_suffix}, {len(probe.imports)} import(s), "
        f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)"
    )
    if errors:
        raise CheckFailed(summary, tip="fix the errors above")
    console.success(f"ok: {summary}")
    return 0


def _read_event(path: Path, data: bytes | None = None) -> bytes:
    """An event's bytes (``data``: already read, from standard input), JSON and within what
    Lambda accepts for a synchronous invocation."""
    from .inside.lambdazip_contract import REQUEST_LIMIT

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


def _plan(
    args: InstallOptions,
    kind: Kind,
    target: Target,
    env: Mapping[str, str],
    base_image: str | None,
    function: BuildOptions | None = None,
) -> BuildPlan:
    layers = function.layers if function else ()
    provided = _layers_provide(layers, target) if layers else None
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
        installer=args.installer,
        bytecode=args.bytecode,
        cache=not args.no_cache,
        force=args.force,
        allow_unhashed=args.allow_unhashed,
        handler=function.handler if function else None,
        include=function.include if function else (),
        smoke_event=_read_event(function.smoke_event)
        if function and function.smoke_event
        else None,
        groups=args.groups,
        extras=args.extras,
        exclude=args.exclude,
        prune=args.prune,
        strip=args.strip,
        layers=layers,
        provided=provided,
        configuration=configuration(None, function.env_files, function.env) if function else (),
        strict_import=function.strict_import if function else False,
    )


def _layers_provide(layers: Sequence[Path], target: Target) -> dict[str, str]:
    """{name: version} of what a function's layers hold, each layer checked first: at most
    MAX_LAYERS, none twice, each a layer for the function's target (its manifest says so, or
    its content passes `check` for that target)."""
    from .checks import check_artifact, detect_kind
    from .facts import gather
    from .findings import Severity
    from .tree import ReadError, open_tree

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
        manifest = _manifest(layer)
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


def _report_build_failure(exc: LambdaZipError, console: Console) -> None:
    if isinstance(exc, BuildChecksFailed):
        for finding in exc.findings:
            console.finding(finding)


def run_build(args: BuildOptions, console: Console, env: Mapping[str, str]) -> int:
    kind = args.kind
    plan = _plan(args, kind, Target(args.python, args.arch), env, args.base_image, args)
    smoke, handler = args.smoke_event, args.handler
    if smoke is not None and not handler:
        raise UsageError("--smoke-event needs --handler", tip="e.g. --handler app.handler")
    event = _read_event(smoke) if smoke is not None else None
    if args.print_plan:
        console.result("\n".join(plan.describe()))
        return 0
    with Engine.connect(env, plan.target.arch) as engine:
        smoke_test = _smoke_test(engine, plan, handler, event, console)
        try:
            result = build(engine, plan, console, before_writing=smoke_test)
        except LambdaZipError as exc:
            if args.json:  # stdout stays one JSON document, also when the build fails
                findings = exc.findings if isinstance(exc, BuildChecksFailed) else []
                document = {
                    "ok": False,
                    "error": exc.message,
                    "tip": exc.tip,
                    "findings": [f.model_dump(mode="json") for f in findings],
                }
                console.result(json.dumps(document, indent=2))
            else:
                _report_build_failure(exc, console)
            raise
    if args.json:  # the warnings are in the manifest: stdout stays one JSON document
        console.result(result.manifest.model_dump_json(indent=2))
    else:
        for warning in result.warnings:
            console.finding(warning)
    how = "built"
    if result.reused:
        how = (
            "up to date, reused; the smoke event ran again on it"
            if event
            else "up to date, reused (no container started)"
        )
    console.success(
        f"ok: {result.zip.path} {how}: {result.zip.files} files, "
        f"{result.zip.zipped_size:,} bytes, sha256 {result.zip.sha256}"
    )
    if result.timings:
        console.debug(
            "in the image: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
        )
    return 0


SMOKE_TIMEOUT = 30.0  # seconds: the function's own timeout is not known to the build, and a
# build may run emulated; Lambda's memory default (128 MB) holds


def _smoke_test(
    engine: Engine, plan: BuildPlan, handler: str | None, event: bytes | None, console: Console
) -> Callable[[Path], None] | None:
    """The check build() runs on the finished zip before it is put in place: the handler invoked
    with the smoke event in the runtime, with the plan's layers; None without an event."""
    if event is None or handler is None:
        return None

    def smoke_test(staged: Path) -> None:
        from .runner import invoke

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
            raise _invoke_error(outcome.last.error, handler, "no artifact was written", smoke=True)
        returned = plan.redact(json.dumps(outcome.last.result))[:200]
        console.info(f"smoke event: {handler} returned {returned}")

    return smoke_test


def _invoke_error(
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


def _read_events(paths: Sequence[Path], stdin: Callable[[], bytes]) -> list[bytes]:
    """Each --event's bytes; ``-`` is standard input, read (once) only then."""
    if sum(1 for p in paths if str(p) == "-") > 1:
        raise UsageError("--event - is given twice", tip="standard input is read once")
    return [_read_event(p, stdin() if str(p) == "-" else None) for p in paths]


def _standard_input() -> bytes:
    import sys

    if sys.stdin is None or sys.stdin.closed:
        raise UsageError("--event -: standard input is closed", tip="pass the event as a file")
    return sys.stdin.buffer.read()


def run_invoke(args: InvokeOptions, console: Console, env: Mapping[str, str]) -> int:
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


def _invoke(args: InvokeOptions, console: Console, env: Mapping[str, str]) -> int:
    from .runner import invoke

    events = _read_events(args.events, _standard_input) * args.repeat
    settings = configuration(None, args.env_files, args.env)
    recorded = _manifest(args.zip)
    target = _manifest_target(args.zip, args.python, args.arch, recorded)
    if not args.zip.is_file():
        raise UsageError(f"{args.zip} does not exist", tip="pass the zip built for the function")
    _layers_provide(args.layers, target)  # at most 5, none twice, each for the target
    _note_unset_configuration(console, args.zip, recorded, settings, "to run it as configured")
    with Engine.connect(env, target.arch) as engine:
        image, shown = _manifest_image(engine, recorded, args.base_image)
        if image is not None and image != shown:
            console.debug(f"the image {shown} is {image} on this engine")
        outcome = invoke(
            engine,
            args.zip,
            args.layers,
            args.handler,
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
        error = _invoke_error(failed.error, args.handler, seen, args.memory)
        raise InvokeFailed(which + error.message, tip=error.tip)
    first = outcome.invocations[0]
    warm = [i.duration_ms or 0 for i in outcome.invocations[1:]]
    more = f", {len(warm)} warm: {sum(warm) / len(warm):.0f} ms each on average" if warm else ""
    console.success(
        f"ok: {args.handler} in {target} ({outcome.image or target.runtime.image(target.arch)}): "
        f"init {first.init_ms or 0:.0f} ms, duration {first.duration_ms or 0:.0f} ms{more}, "
        f"max memory {max(i.max_memory_mb or 0 for i in outcome.invocations)} of {args.memory} MB"
    )
    return 0


@dataclass(frozen=True)
class _Row:
    target: Target
    status: str
    seconds: float
    detail: str
    engine: str  # the endpoint that built it (engine.EngineInfo.endpoint)


def _base_images(specs: Sequence[str]) -> dict[str, str]:
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


def _engines_of(env: Mapping[str, str], arches: Sequence[Arch]) -> dict[Arch, str]:
    """Reach every architecture's engine once, before anything is built: one that is down or
    would emulate its architecture fails the command here. Their endpoints, by architecture."""
    endpoints: dict[Arch, str] = {}
    for arch in dict.fromkeys(arches):
        with Engine.connect(env, arch) as engine:
            endpoints[arch] = engine.info.endpoint
    return endpoints


def run_matrix(args: MatrixOptions, console: Console, env: Mapping[str, str]) -> int:
    pythons = args.pythons or [RUNTIMES[v] for v in DEFAULT_VERSIONS]
    arches = args.arches or list(Arch)
    targets = [Target(p, a) for p, a in itertools.product(pythons, arches)]
    images = _base_images(args.base_images)
    plans = [_plan(args, Kind.LAYER, t, env, images.get(str(t))) for t in targets]
    endpoints = _engines_of(env, arches)

    def one(plan: BuildPlan) -> _Row:
        started = time.monotonic()
        progress = Prefixed(console, str(plan.target))
        endpoint = endpoints[plan.target.arch]
        try:
            with Engine.connect(env, plan.target.arch) as engine:
                result = build(engine, plan, progress)
        except LambdaZipError as exc:
            _report_build_failure(exc, console)
            console.error(f"[{plan.target}] {exc.message}", exc.tip)
            return _Row(plan.target, "FAILED", time.monotonic() - started, exc.message, endpoint)
        status = "reused" if result.reused else "built"
        return _Row(plan.target, status, time.monotonic() - started, str(result.zip.path), endpoint)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=args.jobs or len(plans)) as pool:
        rows = list(pool.map(one, plans))
    if args.json:
        document = [
            {
                "target": str(r.target),
                "status": r.status,
                "seconds": r.seconds,
                "detail": r.detail,
                "engine": r.engine,
            }
            for r in rows
        ]
        console.result(json.dumps(document, indent=2))
    else:
        width = max(len(str(r.target)) for r in rows)
        engines = max([len(r.engine) for r in rows] + [6])
        console.result(
            f"{'target':<{width}}  {'status':<7} {'seconds':>8}  {'engine':<{engines}}  "
            "artifact or error"
        )
        for row in rows:
            console.result(
                f"{row.target!s:<{width}}  {row.status:<7} {row.seconds:>8.1f}  "
                f"{row.engine:<{engines}}  {row.detail}"
            )
    failed = [r for r in rows if r.status == "FAILED"]
    if failed:
        names = ", ".join(str(r.target) for r in failed)
        raise MatrixFailed(
            f"{len(failed)} of {len(rows)} targets failed: {names}",
            tip="see each target's error above",
        )
    console.success(f"ok: {len(rows)} targets")
    return 0


def run_publish(args: PublishOptions, console: Console, env: Mapping[str, str]) -> int:
    from .publish import publish

    published = publish(
        args.zip, args.layer_name, region=args.region, s3_bucket=args.s3_bucket, status=console.step
    )
    if args.json:
        console.result(json.dumps(dataclasses.asdict(published), indent=2))
    else:
        console.result(published.layer_version_arn)
    console.success(f"ok: published {args.zip.name} as version {published.version}")
    return 0


def run_cache(args: CacheOptions, console: Console, env: Mapping[str, str]) -> int:
    from .carry import export_cache, import_cache

    target = Target(args.python, args.arch)
    image = args.base_image or target.runtime.image(target.arch)
    volume = cache_volume_name(target)
    with Engine.connect(env, target.arch) as engine:
        if args.action == "export":
            size = export_cache(engine, target, image, args.file, console)
            console.success(f"ok: {volume} exported to {args.file} ({size:,} bytes)")
        else:
            size = import_cache(engine, target, image, args.file, console)
            console.success(f"ok: {args.file} imported into {volume} ({size:,} bytes)")
    return 0


def run_verify(args: VerifyOptions, console: Console, env: Mapping[str, str]) -> int:
    """Rebuild ``args.zip`` from what its manifest records, and compare the bytes."""
    import tempfile

    from .verify import first_difference

    manifest_path = args.zip.with_suffix(".manifest.json")
    if not args.zip.is_file():
        raise UsageError(f"{args.zip} does not exist", tip="pass a zip built by lambdazip")
    manifest = _manifest(args.zip)
    if manifest is None:
        raise UsageError(
            f"no readable manifest {manifest_path}",
            tip="verify rebuilds from the manifest written beside the zip: keep the two together",
        )
    inputs = manifest.inputs
    if inputs is None:
        raise UsageError(
            f"{manifest_path} records no build inputs (written by an older lambdazip)",
            tip="rebuild the zip with this version, then verify it",
        )
    actual = sha256_file(args.zip)
    if actual != manifest.sha256:
        raise NotReproduced(
            f"{args.zip} is not the zip its manifest describes (sha256 {actual}, "
            f"the manifest says {manifest.sha256})",
            tip="find the zip that belongs to this manifest",
        )
    requirements = args.requirements or Path(inputs.requirements)
    if not requirements.is_file():
        raise UsageError(
            f"{requirements} (the requirements {args.zip.name} was built from) does not exist here",
            tip="run from the directory of the build, or pass -r PATH",
        )
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if digest != manifest.requirements_sha256:
        raise UsageError(
            f"{requirements} is not the file {args.zip.name} was built from (sha256 {digest}, "
            f"the manifest records {manifest.requirements_sha256})",
            tip="pass -r with the requirements of that build (e.g. from its commit)",
        )
    target = Target(RUNTIMES[manifest.target.python], Arch(manifest.target.arch))
    settings = configuration(None, args.env_files, args.env)
    # the bytes do not depend on them; the import check's verdict may
    _note_unset_configuration(
        console, args.zip, manifest, settings, "for its import check to see what the build saw"
    )
    src = args.src or (Path(inputs.src) if inputs.src else None)
    layers = tuple(Path(p) for p in inputs.layers)
    for number, layer in enumerate(layers):
        if not layer.is_file():
            raise UsageError(
                f"{layer} (a layer {args.zip.name} was built with) does not exist here",
                tip="run from the directory of the build, with its layers built",
            )
        recorded = inputs.layer_sha256[number] if number < len(inputs.layer_sha256) else None
        if recorded is not None and sha256_file(layer) != recorded:
            raise UsageError(
                f"{layer} is not the layer {args.zip.name} was built with (sha256 "
                f"{sha256_file(layer)}, the manifest records {recorded})",
                tip="verify with the layers of that build",
            )
    with Engine.connect(env, target.arch) as engine, ExitStack() as stack:
        base = manifest.base_image
        if engine.image(base.id) is not None:
            image = base.id
        elif base.repo_digests:
            image = base.repo_digests[0]  # pulled by digest: the same bytes, or nothing
        else:
            raise ImageError(
                f"the base image {args.zip.name} was built on ({base.id}, then {base.reference}) "
                "is no longer on this engine, and no registry digest was recorded",
                tip="load that exact image again; a tag may have moved since the build",
            )
        out_dir = args.output_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="lambdazip-verify-"))
        )
        plan = make_plan(
            kind=manifest.kind,
            target=target,
            requirements=requirements,
            src=src,
            out_dir=out_dir,
            name=inputs.name,
            base_image=image,
            ca_bundle=args.ca_bundle,
            env=env,
            epoch=inputs.epoch,
            installer=Installer(inputs.installer),
            bytecode=Bytecode(inputs.bytecode),
            cache=True,
            force=True,
            allow_unhashed=not inputs.require_hashes,
            handler=inputs.handler,
            include=tuple(inputs.include),
            groups=tuple(inputs.groups),
            extras=tuple(inputs.extras),
            exclude=tuple(inputs.exclude),
            prune=inputs.prune,
            strip=inputs.strip,
            layers=layers,
            provided=_layers_provide(layers, target),
            configuration=settings,
            strict_import=inputs.strict_import,
        )
        _same_sources(plan, inputs.sources, args.zip.name)
        rebuilt = build(engine, plan, console)
        difference = None
        if rebuilt.zip.sha256 != manifest.sha256:
            difference = first_difference(args.zip, rebuilt.zip.path, manifest, rebuilt.manifest)
    verdict = {
        "zip": str(args.zip),
        "reproduced": difference is None,
        "sha256": manifest.sha256,
        "rebuilt_sha256": rebuilt.zip.sha256,
        "base_image": image,
        "difference": None if difference is None else dataclasses.asdict(difference),
    }
    if args.json:
        console.result(json.dumps(verdict, indent=2))
    if difference is not None:
        raise NotReproduced(
            f"not reproduced: {args.zip.name} (sha256 {manifest.sha256}) rebuilt as sha256 "
            f"{rebuilt.zip.sha256}; first difference: {difference.member}: {difference.original} "
            f"vs {difference.rebuilt}: {difference.why}",
            tip="the manifest's inputs no longer make these bytes: see the difference, and "
            "-o DIR to keep the rebuild",
        )
    console.success(
        f"reproduced: {args.zip} (sha256 {manifest.sha256}) from {requirements.name} in {image}"
    )
    return 0


def _same_sources(plan: BuildPlan, recorded: Sequence[SourceModel], zip_name: str) -> None:
    """The function's code selected now must be what was packed then, file by file."""
    now = plan.source_digests()
    then = {s.path: s.sha256 for s in recorded}
    for name in sorted(set(now) | set(then)):
        if now.get(name) != then.get(name):
            state = "is new" if name not in then else "is gone" if name not in now else "differs"
            raise UsageError(
                f"{name} in --src {plan.src} {state} since {zip_name} was built",
                tip="verify from the code of that build (e.g. its commit), or pass --src",
            )


@dataclass(frozen=True)
class _Artifact:
    name: str
    kind: Kind
    target: Target
    status: str
    seconds: float
    detail: str
    size: int | None = None


def _config_targets(
    what: str, deps: Dependencies, config: ProjectConfig, args: ProjectOptions
) -> list[Target]:
    """The artifact's targets: the command line's, else its own, else the file's."""
    pythons = list(args.pythons) or [parse_runtime(p) for p in deps.python or config.python]
    arches = list(args.arches) or [parse_arch(a) for a in deps.arch or config.arch] or [Arch.X86_64]
    if not pythons:
        raise UsageError(
            f"no Python for {what}",
            tip='set python = ["3.13"] in [tool.lambdazip] (or in the artifact), or pass --python',
        )
    return [Target(p, a) for p, a in itertools.product(pythons, arches)]


def run_project(args: ProjectOptions, console: Console, env: Mapping[str, str]) -> int:
    """`lambdazip build`: the layers first (each target once), then the functions without what
    their layers provide, each checked with its layers in Lambda's order; one summary."""
    from .config import load_config

    project = args.project or Path()
    config = load_config(project)
    out_dir = args.output_dir or project / config.output_dir
    images = _base_images(args.base_images)
    unknown = [n for n in args.only if n not in config.layers and n not in config.functions]
    if unknown:
        raise UsageError(
            f"--only {unknown[0]}: [tool.lambdazip] declares no such layer or function",
            tip=f"one of: {', '.join([*config.layers, *config.functions])}",
        )
    functions = {n: f for n, f in config.functions.items() if not args.only or n in args.only}
    wanted_layers = {layer for f in functions.values() for layer in f.layers}
    layers = {
        n: spec
        for n, spec in config.layers.items()
        if not args.only or n in args.only or n in wanted_layers
    }

    def plan_of(
        name: str, kind: Kind, deps: Dependencies, target: Target, **more: Any
    ) -> BuildPlan:
        requirements = deps.file(project) or discover(project, None, Path.cwd())
        return make_plan(
            kind=kind,
            target=target,
            requirements=requirements,
            out_dir=out_dir,
            name=name,
            base_image=images.get(str(target)),
            ca_bundle=args.ca_bundle,
            env=env,
            epoch=source_date_epoch(env),
            installer=args.installer,
            bytecode=args.bytecode,
            cache=not args.no_cache,
            force=args.force,
            groups=tuple(deps.group),
            extras=tuple(deps.extra),
            strict_import=args.strict_import,
            **more,
        )

    # every plan first: a mistake in the file or an input is said before anything is built
    layer_plans = [
        (n, plan_of(n, Kind.LAYER, spec, t, src=None))
        for n, spec in layers.items()
        for t in _config_targets(f"layers.{n}", spec, config, args)
    ]
    function_targets = [
        (name, spec, target)
        for name, spec in functions.items()
        for target in _config_targets(f"functions.{name}", spec, config, args)
    ]
    for spec in functions.values():  # Lambda's rules, said before anything is built
        configuration(spec.environment, _env_files(project, spec))
    # each architecture to its engine: --engine or the environment, else the file's [engines]
    env = {**{engine_variable(a): e for a, e in config.engines.items()}, **env}
    arches = [p.target.arch for _, p in layer_plans] + [t.arch for _, _, t in function_targets]
    rows: list[_Artifact] = []
    built: dict[tuple[str, str], BuildResult] = {}
    with ExitStack() as stack:
        # every engine reached (and checked) once, before anything is built
        engines = {a: stack.enter_context(Engine.connect(env, a)) for a in dict.fromkeys(arches)}
        for name, plan in layer_plans:
            row, result = _build_one(engines[plan.target.arch], name, plan, console)
            rows.append(row)
            if result is not None:
                built[name, str(plan.target)] = result
        for name, spec, target in function_targets:
            engine = engines[target.arch]
            rows.append(
                _build_function(engine, project, name, spec, target, built, plan_of, console)
            )
    if args.json:
        document = [
            {**dataclasses.asdict(r), "kind": r.kind.value, "target": str(r.target)} for r in rows
        ]
        console.result(json.dumps(document, indent=2))
    else:
        width = max([len(r.name) for r in rows] + [8])
        console.result(
            f"{'artifact':<{width}}  {'kind':<8}  {'target':<18}  {'status':<7} {'bytes':>11} "
            f"{'seconds':>8}  zip or error"
        )
        for r in rows:
            size = f"{r.size:,}" if r.size is not None else "-"
            console.result(
                f"{r.name:<{width}}  {r.kind.value:<8}  {r.target!s:<18}  {r.status:<7} "
                f"{size:>11} {r.seconds:>8.1f}  {r.detail}"
            )
    failed = [r for r in rows if r.status in ("FAILED", "SKIPPED")]
    if failed:
        names = ", ".join(f"{r.name} ({r.target})" for r in failed)
        raise MatrixFailed(
            f"{len(failed)} of {len(rows)} artifacts failed: {names}",
            tip="see each one's error above",
        )
    console.success(f"ok: {len(rows)} artifacts in {out_dir}")
    return 0


def _build_one(
    engine: Engine,
    name: str,
    plan: BuildPlan,
    console: Console,
    before_writing: Callable[[Path], None] | None = None,
) -> tuple[_Artifact, BuildResult | None]:
    started = time.monotonic()
    progress = Prefixed(console, f"{name} {plan.target}")
    try:
        result = build(engine, plan, progress, before_writing=before_writing)
    except LambdaZipError as exc:
        _report_build_failure(exc, console)
        console.error(f"[{name} {plan.target}] {exc.message}", exc.tip)
        row = _Artifact(
            name, plan.kind, plan.target, "FAILED", time.monotonic() - started, exc.message
        )
        return row, None
    for warning in result.warnings:
        console.finding(warning)
    status = "reused" if result.reused else "built"
    row = _Artifact(
        name,
        plan.kind,
        plan.target,
        status,
        time.monotonic() - started,
        str(result.zip.path),
        result.zip.zipped_size,
    )
    return row, result


def _env_files(project: Path, spec: Function) -> list[Path]:
    return [project / spec.env_file] if spec.env_file else []


def _build_function(
    engine: Engine,
    project: Path,
    name: str,
    spec: Function,
    target: Target,
    built: Mapping[tuple[str, str], BuildResult],
    plan_of: Callable[..., BuildPlan],
    console: Console,
) -> _Artifact:
    from .facts import gather
    from .report import check_report
    from .tree import open_tree

    missing = [layer for layer in spec.layers if (layer, str(target)) not in built]
    if missing:
        return _Artifact(
            name, Kind.FUNCTION, target, "SKIPPED", 0.0, f"its layer {missing[0]} failed"
        )
    results = [built[layer, str(target)] for layer in spec.layers]
    provided = {d.name: d.version for r in results for d in r.manifest.distributions}
    event = _read_event(project / spec.smoke_event) if spec.smoke_event else None
    if event is not None and not spec.handler:
        raise UsageError(
            f"functions.{name} has a smoke-event but no handler",
            tip="add handler = MODULE.FUNCTION",
        )
    plan = plan_of(
        name,
        Kind.FUNCTION,
        spec,
        target,
        src=project / spec.src,
        handler=spec.handler,
        smoke_event=event,
        layers=tuple(r.zip.path for r in results),
        provided=provided,
        configuration=configuration(spec.environment, _env_files(project, spec)),
    )

    smoke = _smoke_test(engine, plan, spec.handler, event, console)
    row, result = _build_one(engine, name, plan, console, smoke)
    if result is None:
        return row
    # the function as Lambda assembles it: its zip with its layers, in their order
    with ExitStack() as stack:
        facts = gather(stack.enter_context(open_tree(result.zip.path)))
        layer_facts = [gather(stack.enter_context(open_tree(p))) for p in plan.layers]
    report = check_report(facts, target, Kind.FUNCTION, layer_facts)
    if not report.ok:
        for finding in report.errors:
            console.finding(finding)
        detail = f"with its layers: {len(report.errors)} error(s) (above)"
        return dataclasses.replace(row, status="FAILED", detail=detail)
    return row
