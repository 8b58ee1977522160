"""`matrix`: the layer for every (python x arch) target, in parallel."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

from lambdazip.build.builder import build
from lambdazip.build.engine import Engine
from lambdazip.build.plan import BuildPlan
from lambdazip.cli.commands.shared import (
    base_images,
    engines_of,
    inputs_of,
    plan_for,
    report_build_failure,
    report_shared_cache,
)
from lambdazip.cli.console import Console, Prefixed
from lambdazip.errors import LambdaZipError, MatrixFailed
from lambdazip.inputs.options import MatrixOptions
from lambdazip.targets import DEFAULT_VERSIONS, RUNTIMES, Arch, Kind, Target


@dataclass(frozen=True)
class _Row:
    target: Target
    status: str
    seconds: float
    detail: str
    engine: str  # the endpoint that built it (engine.EngineInfo.endpoint)


def run(args: MatrixOptions, console: Console, env: Mapping[str, str]) -> int:
    pythons = args.pythons or [RUNTIMES[v] for v in DEFAULT_VERSIONS]
    arches = args.arches or list(Arch)
    targets = [Target(p, a) for p, a in itertools.product(pythons, arches)]
    images = base_images(args.base_images)
    inputs = inputs_of(args, env)
    plans = [plan_for(args, inputs, Kind.LAYER, t, env, images.get(str(t))) for t in targets]
    endpoints = engines_of(env, arches)

    def one(plan: BuildPlan) -> _Row:
        started = time.monotonic()
        progress = Prefixed(console, str(plan.target))
        endpoint = endpoints[plan.target.arch]
        try:
            with Engine.connect(env, plan.target.arch) as engine:
                result = build(engine, plan, progress)
        except LambdaZipError as exc:
            report_build_failure(exc, console)
            console.error(f"[{plan.target}] {exc.message}", exc.tip)
            return _Row(plan.target, "FAILED", time.monotonic() - started, exc.message, endpoint)
        report_shared_cache(result.shared, console, f"[{plan.target}] ")
        status = result.status
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
        console.table(
            ["target", "status", ">seconds", "engine", "artifact or error"],
            [[str(r.target), r.status, f"{r.seconds:.1f}", r.engine, r.detail] for r in rows],
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
