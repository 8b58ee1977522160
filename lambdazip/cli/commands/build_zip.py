"""`layer` and `function`: one zip for one target."""

from __future__ import annotations

import json
from collections.abc import Mapping

from lambdazip.build.builder import build
from lambdazip.build.engine import Engine
from lambdazip.cli.commands.shared import (
    inputs_of,
    plan_for,
    read_event,
    report_build_failure,
    report_shared_cache,
    smoke_check,
)
from lambdazip.cli.console import Console
from lambdazip.errors import BuildChecksFailed, LambdaZipError, UsageError
from lambdazip.inputs.options import BuildOptions
from lambdazip.targets import Target


def run(args: BuildOptions, console: Console, env: Mapping[str, str]) -> int:
    kind = args.kind
    plan = plan_for(
        args, inputs_of(args, env), kind, Target(args.python, args.arch), env, args.base_image, args
    )
    smoke, handler = args.smoke_event, args.handler
    if smoke is not None and not handler:
        raise UsageError("--smoke-event needs --handler", tip="e.g. --handler app.handler")
    event = read_event(smoke) if smoke is not None else None
    if args.print_plan:
        console.result("\n".join(plan.describe()))
        return 0
    with Engine.connect(env, plan.target.arch) as engine:
        smoke_test = smoke_check(engine, plan, handler, event, console)
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
                report_build_failure(exc, console)
            raise
    report_shared_cache(result.shared, console)
    if args.json:  # the warnings are in the manifest: stdout stays one JSON document
        console.result(result.manifest.model_dump_json(indent=2))
    else:
        for warning in result.warnings:
            console.finding(warning)
    how = "built"
    if result.shared and result.shared.pulled_from:
        how = f"pulled from the shared cache {result.shared.pulled_from} (no container started)"
    elif result.shared and result.shared.pushed_to:
        how = f"built, pushed to {result.shared.pushed_to}"
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
