"""`image`: a function as a Lambda container image, built, proven and (if asked) pushed."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from lambdazip.build.engine import Engine
from lambdazip.build.plan import BuildPlan
from lambdazip.cli.commands.shared import (
    inputs_of,
    plan_for,
    read_event,
    report_build_failure,
    report_shared_cache,
)
from lambdazip.cli.console import Console
from lambdazip.errors import LambdaZipError, OutputError, UsageError
from lambdazip.inputs.options import ImageOptions
from lambdazip.oci.reference import Reference
from lambdazip.oci.store import cache_root
from lambdazip.targets import Kind, Target

SMOKE_TIMEOUT = 30.0


def run(args: ImageOptions, console: Console, env: Mapping[str, str]) -> int:
    from lambdazip.build.image_build import ImageRequest, build_function_image

    target = Target(args.python, args.arch)
    plan = plan_for(args, inputs_of(args, env), Kind.FUNCTION, target, env, args.base_image, args)
    handler = args.handler
    if not handler:
        raise UsageError(
            "image needs --handler: it is the image's CMD", tip="e.g. --handler app.handler"
        )
    tag = _tag(args.tag, plan)
    if args.push is not None:
        Reference.parse(args.push)  # a malformed reference fails now, not after the build
    _handler_selected(plan, handler)
    event = read_event(args.smoke_event) if args.smoke_event is not None else None
    if plan.layers:
        raise UsageError(
            "an image has no layers: --layer goes with `function`",
            tip="put what the layer holds in the requirements: it goes into the image",
        )
    # the dependencies' zip the image is made from: kept in the cache, not in -o
    work = cache_root(env) / "work" / _work_name(plan)
    if args.print_plan:
        from lambdazip.build.image_build import record_path, sbom_path

        zip_only = ("output:", "manifest:", "sbom:")
        lines = [line for line in plan.describe() if not line.startswith(zip_only)]
        lines = [line.replace("kind:          function", "kind:          image") for line in lines]
        lines.append(f"image:         {tag} (CMD [{handler!r}])")
        lines.append(f"dependencies:  {work / 'dependencies'} (their zip, kept in the cache)")
        lines.append(f"record:        {record_path(plan, plan.out_dir)}")
        lines.append(f"sbom:          {sbom_path(plan, plan.out_dir)}")
        console.result("\n".join(lines))
        return 0
    _writable(plan.out_dir)
    request = ImageRequest(handler=handler, tag=tag, oci_archive=args.oci_archive, push=args.push)
    with Engine.connect(env, target.arch) as engine:
        smoke = _smoke(engine, plan, handler, event, console, tag)
        try:
            built = build_function_image(engine, plan, request, console, env, work, smoke=smoke)
        except LambdaZipError as exc:
            if args.json:
                console.result(json.dumps({"ok": False, "error": exc.message, "tip": exc.tip}))
            else:
                report_build_failure(exc, console)
            raise
    report_shared_cache(built.shared, console)
    if args.json:
        console.result(built.record.model_dump_json(indent=2))
    elif built.warned:
        record = built.record
        found = record.findings + (record.dependencies.findings if record.dependencies else [])
        for warning in found:
            if warning.severity.value == "warning":
                console.finding(warning)
    how = "up to date" if built.reused else "built"
    console.success(
        f"ok: {built.fact('tag')} {how}: image {str(built.fact('image_id'))[:19]}, manifest "
        f"{built.fact('manifest_digest')}, {built.files} files at /var/task; "
        f"record {built.record_path}"
    )
    if args.oci_archive is not None:
        console.info(f"OCI archive: {args.oci_archive}")
    if built.pushed is not None:
        console.success(f"pushed: {built.pushed}")
    return 0


def _tag(given: str | None, plan: BuildPlan) -> str:
    """--tag, or NAME:python3.X-ARCH; checked now, not after the build."""
    tag = given or f"{plan.name.lower()}:{plan.target.runtime.name}-{plan.target.arch.value}"
    try:
        parsed = Reference.parse(tag)
    except UsageError as exc:
        if given is None:
            raise UsageError(
                f"the default image name {tag!r} is not a valid one", tip="pass --tag NAME:TAG"
            ) from exc
        raise UsageError(f"--tag: {exc.message}", tip=exc.tip) from exc
    if parsed.digest is not None:
        raise UsageError(
            f"--tag {tag} names a digest; the engine names an image by a tag",
            tip="pass --tag NAME:TAG",
        )
    return tag


def _handler_selected(plan: BuildPlan, handler: str) -> None:
    """The handler's module is among the files that go in, or Lambda cannot import it."""
    module = handler.rpartition(".")[0]
    path = module.replace(".", "/")
    names = {m.arcname for m in plan.sources}
    candidates = (f"{path}.py", f"{path}/__init__.py")
    if plan.sources and not any(c in names for c in candidates):
        left = next((lo for lo in plan.left_out if lo.path in candidates), None)
        why = f" ({left.reason})" if left is not None else ""
        raise UsageError(
            f"--handler {handler}: {candidates[0]} is not among the files of --src that go into "
            f"the image{why}",
            tip="point --handler at a module in --src, or take it out of .lambdazipignore "
            "(--include PATTERN takes in what the defaults leave out)",
        )


def _writable(out_dir: Path) -> None:
    """The record goes to -o at the end: found unwritable now, not after the build."""
    import tempfile

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise OutputError(
            f"cannot write to {out_dir}: {exc.strerror}", tip="pass a writable -o DIR"
        ) from exc


def _work_name(plan: BuildPlan) -> str:
    import hashlib

    where = hashlib.sha256(str(plan.out_dir.resolve()).encode()).hexdigest()[:12]
    return f"{plan.name}-{where}"


def _smoke(
    engine: Engine,
    plan: BuildPlan,
    handler: str,
    event: bytes | None,
    console: Console,
    tag: str,
) -> Callable[[str, str], None] | None:
    if event is None:
        return None

    def smoke_test(image_id: str, job: str) -> None:
        from lambdazip.build.runner import invoke
        from lambdazip.cli.commands.shared import invoke_error

        outcome = invoke(
            engine,
            None,
            (),
            handler,
            [event],
            plan.target,
            image_id,
            console,
            timeout=SMOKE_TIMEOUT,
            configuration=plan.configuration,
            shown_as=tag,
            job=job,
        )
        if not outcome.ok:
            raise invoke_error(outcome.last.error, handler, "the image was not kept", smoke=True)
        returned = plan.redact(json.dumps(outcome.last.result))[:200]
        console.info(f"smoke event: {handler} returned {returned}")

    return smoke_test
