"""`probe`: the diagnostic on a zip, inside the Lambda image of its target."""

from __future__ import annotations

from collections.abc import Mapping

from lambdazip.build.engine import Engine
from lambdazip.cli.commands.shared import layers_provide, manifest_image, manifest_of
from lambdazip.cli.console import Console
from lambdazip.errors import CheckFailed, UsageError
from lambdazip.inputs.configuration import configuration
from lambdazip.inputs.options import ProbeOptions
from lambdazip.targets import Kind, Target


def run(args: ProbeOptions, console: Console, env: Mapping[str, str]) -> int:
    from lambdazip.build.runner import probe_artifact
    from lambdazip.judge.checks import detect_kind
    from lambdazip.judge.facts import gather
    from lambdazip.judge.probe import check_probe
    from lambdazip.judge.tree import open_tree

    target = Target(args.python, args.arch)
    with open_tree(args.path) as tree:
        facts = gather(tree)
    kind = args.kind or detect_kind(facts)
    if args.layers and kind is not Kind.FUNCTION:
        raise UsageError(
            "--layer is for probing a function", tip="drop --layer, or --kind function"
        )
    layers_provide(args.layers, target)
    settings = configuration(None, args.env_files, args.env)
    recorded = manifest_of(args.path)
    handler = args.handler
    if handler is None and kind is Kind.FUNCTION and recorded and recorded.inputs:
        handler = recorded.inputs.handler
    with Engine.connect(env, target.arch) as engine:
        image, shown = manifest_image(engine, recorded, args.base_image)
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
