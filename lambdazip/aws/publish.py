"""Publish a built layer with boto3 (with deployed.py, the only modules that talk to AWS).

The zip's sha256 is checked against its manifest first (a zip changed after it was built is
refused), then the zip itself, as `check` judges it, against the runtime and architecture it
will be declared for (CompatibleRuntimes and CompatibleArchitectures, from the manifest): an
unfit zip is refused with the findings. When the layer's latest version holds the same bytes
(its CodeSha256) and declares the same runtimes and architectures, that version is reused unless
a new one is asked for; zips over the direct-upload limit go through S3. Credentials come from
boto3's usual chain (environment, profiles, SSO, instance roles) and are never printed.
AWS_ENDPOINT_URL (boto3's own setting) points it elsewhere, e.g. at a local test server.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdazip.errors import PublishError, PublishRefused, UsageError, one_line
from lambdazip.judge.checks import ZIPPED_DIRECT_UPLOAD_LIMIT, Kind
from lambdazip.outputs.archive import sha256_file
from lambdazip.outputs.report import Manifest
from lambdazip.targets import Target


@dataclass(frozen=True)
class Published:
    layer_arn: str
    layer_version_arn: str
    version: int
    via_s3: str | None = None  # s3://bucket/key when it went through S3
    runtimes: tuple[str, ...] = ()  # what the version declares
    architectures: tuple[str, ...] = ()
    reused: bool = False  # the latest version held these bytes already: no new one
    # why a new version although the latest holds these bytes (it declares otherwise)
    anew: str | None = None

    @classmethod
    def of(cls, answer: Any, **more: Any) -> Published:
        """From a layer version as AWS describes it (PublishLayerVersion, GetLayerVersion):
        what it declares is AWS's word, not ours."""
        from lambdazip.aws.deployed import answered

        def field(key: str) -> Any:
            return answered(answer, "the layer version", key, error=PublishError)

        return cls(
            layer_arn=str(field("LayerArn")),
            layer_version_arn=str(field("LayerVersionArn")),
            version=int(field("Version")),
            runtimes=tuple(answer.get("CompatibleRuntimes") or ()),
            architectures=tuple(answer.get("CompatibleArchitectures") or ()),
            **more,
        )

    def declares(self, runtimes: tuple[str, ...], architectures: tuple[str, ...]) -> bool:
        """Whether the version declares exactly these: reusing one that declares others would say
        a thing of it that is not so (and leave it unattachable, or attachable where it does not
        fit)."""
        return set(self.runtimes) == set(runtimes) and set(self.architectures) == set(architectures)

    @property
    def declared(self) -> str:
        """What the version declares, as the commands say it: "python3.13 on arm64"."""
        runtimes = ", ".join(self.runtimes) or "no runtime"
        return f"{runtimes} on {', '.join(self.architectures) or 'no architecture'}"


def load_manifest(zip_path: Path) -> Manifest:
    path = zip_path.with_suffix(".manifest.json")
    if not zip_path.is_file():
        raise UsageError(
            f"{zip_path} does not exist", tip="pass a layer zip lambdazip built (`layer`, `build`)"
        )
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except OSError:
        raise UsageError(
            f"no manifest {path.name} beside {zip_path}",
            tip="publish takes the layer zips lambdazip builds (`layer`, or `build`), which "
            "write one",
        ) from None
    except ValueError as exc:
        raise UsageError(f"{path} is not a lambdazip manifest: {exc}", tip="rebuild it") from None


def _description(manifest: Manifest) -> str:
    dists = ", ".join(f"{d.name} {d.version}" for d in manifest.distributions)
    text = f"{dists} for {manifest.target.runtime} {manifest.target.arch}, sha256 {manifest.sha256}"
    return text[:256]  # Lambda's limit


def publish(
    zip_path: Path,
    layer_name: str,
    *,
    region: str | None,
    s3_bucket: str | None,
    status: Callable[[str], None],
    new_version: bool = False,
) -> Published:
    manifest = load_manifest(zip_path)
    if manifest.kind is not Kind.LAYER:
        raise UsageError(
            f"{zip_path} is a {manifest.kind.value}, not a layer",
            tip="publish layers; deploy functions with your usual tool",
        )
    status(f"verifying {zip_path.name} against its manifest")
    actual = sha256_file(zip_path)
    if actual != manifest.sha256:
        raise PublishError(
            f"{zip_path} has sha256 {actual}, but its manifest says {manifest.sha256}: "
            "it changed after it was built",
            tip="rebuild it; nothing was published",
        )
    runtimes, architectures = (manifest.target.runtime,), (manifest.target.arch,)
    status(f"checking {zip_path.name} for {runtimes[0]} {architectures[0]}, what it declares")
    _fits(zip_path, manifest)
    size = zip_path.stat().st_size
    if size > ZIPPED_DIRECT_UPLOAD_LIMIT and not s3_bucket:
        raise UsageError(
            f"{zip_path} is {size:,} bytes, over the {ZIPPED_DIRECT_UPLOAD_LIMIT:,} of a direct "
            "upload",
            tip="pass --s3-bucket BUCKET to upload it through S3",
        )

    import boto3  # here, not at the top: only this command pays for importing it
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    anew = None
    try:
        session = boto3.session.Session(region_name=region)
        if not new_version:
            latest = _latest_with(session.client("lambda"), layer_name, manifest.sha256)
            if latest is not None and latest.declares(runtimes, architectures):
                return latest
            if latest is not None:
                anew = f"version {latest.version} holds these bytes but declares {latest.declared}"
                status(f"{anew}: publishing another")
        content: dict[str, Any]
        via_s3 = None
        if s3_bucket:
            key = f"lambdazip/{layer_name}/{manifest.sha256}.zip"
            via_s3 = f"s3://{s3_bucket}/{key}"
            status(f"uploading to {via_s3}")
            session.client("s3").upload_file(str(zip_path), s3_bucket, key)
            content = {"S3Bucket": s3_bucket, "S3Key": key}
        else:
            content = {"ZipFile": zip_path.read_bytes()}
        status(f"publishing layer {layer_name}")
        answer = session.client("lambda").publish_layer_version(
            LayerName=layer_name,
            Description=_description(manifest),
            Content=content,
            CompatibleRuntimes=[manifest.target.runtime],
            CompatibleArchitectures=[manifest.target.arch],
        )
    except NoCredentialsError:
        raise PublishError(
            "no AWS credentials were found",
            tip="configure them as for the AWS CLI (AWS_PROFILE, aws configure, aws sso login, "
            "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
        ) from None
    except NoRegionError:
        raise PublishError(
            "no AWS region is configured", tip="pass --region or set AWS_REGION"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise PublishError(
            f"AWS refused: {one_line(error.get('Code') or 'error')}: "
            f"{one_line(error.get('Message', ''))}".rstrip(": "),
            tip="check the layer name, the bucket and the permissions of your credentials",
        ) from None
    except BotoCoreError as exc:
        raise PublishError(
            f"cannot reach AWS: {one_line(str(exc))}", tip="check the network and region"
        ) from None
    published = Published.of(answer, via_s3=via_s3, anew=anew)
    return dataclasses.replace(  # an endpoint that leaves them out of its answer: what was sent
        published,
        runtimes=published.runtimes or runtimes,
        architectures=published.architectures or architectures,
    )


def _fits(zip_path: Path, manifest: Manifest) -> None:
    """The zip judged as `check` judges it, for the target it will be declared for."""
    from lambdazip.judge.checks import check_artifact
    from lambdazip.judge.facts import gather
    from lambdazip.judge.findings import Severity
    from lambdazip.judge.tree import open_tree
    from lambdazip.targets import parse_arch, parse_runtime

    target = Target(parse_runtime(manifest.target.python), parse_arch(manifest.target.arch))
    with open_tree(zip_path) as opened:
        facts = gather(opened)
    errors = [f for f in check_artifact(facts, target, Kind.LAYER) if f.severity is Severity.ERROR]
    if errors:
        raise PublishRefused(f"{zip_path.name} does not fit {target}, what it declares", errors)


def _latest_with(client: Any, layer_name: str, sha256: str) -> Published | None:
    """The layer's latest version, if its code is these bytes (its CodeSha256); None also when
    the credentials may publish but not list (a new version is published, as before)."""
    from botocore.exceptions import ClientError

    from lambdazip.aws.deployed import answered

    try:
        listed = client.list_layer_versions(LayerName=layer_name, MaxItems=1).get("LayerVersions")
        if not listed:
            return None
        version = answered(listed[0], "the latest layer version", "Version", error=PublishError)
        latest = client.get_layer_version(LayerName=layer_name, VersionNumber=version)
    except ClientError:
        return None
    code = str(latest.get("Content", {}).get("CodeSha256", ""))
    if code != base64.b64encode(bytes.fromhex(sha256)).decode():
        return None
    return Published.of(latest, reused=True)
