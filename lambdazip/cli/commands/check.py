"""`check`: judge a zip, a directory or what is deployed, without Docker."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.cli.commands.shared import manifest_target
from lambdazip.cli.console import Console
from lambdazip.errors import CheckFailed, UsageError
from lambdazip.inputs.options import CheckOptions
from lambdazip.targets import Kind, Target

if TYPE_CHECKING:  # imported where used: a no-op build loads neither pydantic nor pyelftools
    from lambdazip.aws.deployed import Deployed


def _check_source(args: CheckOptions, console: Console, scratch: Path) -> Deployed:
    """What to check: a local path, or what is deployed (downloaded into ``scratch``)."""
    from lambdazip.aws.deployed import Deployed, fetch_function, fetch_layer

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
    target = manifest_target(args.path, args.python, args.arch)
    return Deployed(str(args.path), target, args.kind or Kind.LAYER, args.path)


def run(args: CheckOptions, console: Console, env: Mapping[str, str]) -> int:
    import dataclasses
    import tempfile

    # the region the tips name: boto3 itself reads AWS_DEFAULT_REGION and the configuration only
    args = dataclasses.replace(args, region=args.region or env.get("AWS_REGION") or None)

    if args.image is not None:
        if args.path is not None:
            raise UsageError(
                "check takes one of: a path, --function, --layer-arn, --image",
                tip="e.g. build.py check --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/f",
            )
        from lambdazip.cli.commands import check_image

        return check_image.run(args, console, env)

    from lambdazip.judge.checks import detect_kind
    from lambdazip.judge.facts import gather
    from lambdazip.judge.tree import open_tree
    from lambdazip.outputs.report import check_report

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
