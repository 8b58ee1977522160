"""`publish`: a built layer to AWS Lambda."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from lambdazip.cli.console import Console
from lambdazip.inputs.options import PublishOptions


def run(args: PublishOptions, console: Console, env: Mapping[str, str]) -> int:
    from lambdazip.aws.publish import publish
    from lambdazip.errors import PublishRefused

    region = args.region or env.get("AWS_REGION") or None  # (boto3 reads AWS_DEFAULT_REGION)
    try:
        published = publish(
            args.zip,
            args.layer_name,
            region=region,
            s3_bucket=args.s3_bucket,
            status=console.step,
            new_version=args.new_version,
        )
    except PublishRefused as exc:
        for finding in exc.findings:
            console.finding(finding)
        raise
    if args.json:
        console.result(json.dumps(dataclasses.asdict(published), indent=2))
    else:
        console.result(published.layer_version_arn)
    declared = f"for {published.declared}"
    if published.reused:
        console.success(
            f"ok: version {published.version} of {args.layer_name} has these bytes already "
            f"(CodeSha256): reused, {declared} (--new-version publishes another)"
        )
    else:
        why = f" ({published.anew})" if published.anew else ""
        console.success(
            f"ok: published {args.zip.name} as version {published.version}{why}, {declared}"
        )
    return 0
