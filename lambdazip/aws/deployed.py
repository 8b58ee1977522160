"""Fetch what is deployed, with boto3, to check it exactly as a local zip: a function's code and
its layers, in order, and the runtime and architecture from its configuration (GetFunction), or
one layer version (GetLayerVersion). The zips are downloaded from the presigned Location URLs
into a directory the caller owns, and each is verified against the CodeSha256 AWS reports.

With publish.py, the only modules that talk to AWS. Credentials and region come from boto3's
usual chain; AWS_ENDPOINT_URL points it elsewhere (a local test server).
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from lambdazip.errors import DeployedError, LambdaZipError, UsageError, one_line
from lambdazip.targets import Kind, Target, parse_arch, parse_runtime

MAX_DOWNLOAD = 300 * 1024 * 1024  # more than Lambda allows a function and its layers unzipped
Opener = Callable[[str], BinaryIO]
_LAYER_ARN = re.compile(r"^(?P<layer>arn:aws[\w-]*:lambda:[\w-]+:\d{12}:layer:[\w-]+):(?P<v>\d+)$")


def _open_url(url: str) -> BinaryIO:
    """The presigned URL AWS gave, opened; anything but HTTPS is said as what it is (an endpoint
    that is not AWS's may give an s3:// or file: location), never tried."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme != "https":  # shown without its query: a presigned URL's signature is a credential
        shown = one_line(url.split("?", 1)[0].split("#", 1)[0], 80)
        raise DeployedError(
            f"the code's location AWS gave is {shown!r} ({scheme or 'no'} scheme), not an "
            "HTTPS URL",
            tip="the endpoint answering may not be AWS (AWS_ENDPOINT_URL?); check against AWS, "
            "or download the zip and check it as a path",
        )
    response: BinaryIO = urllib.request.urlopen(url, timeout=120)  # noqa: S310 - AWS's presigned URL
    return response


@dataclass(frozen=True)
class Deployed:
    """What Lambda runs: the code and its layers (local copies), and for what target."""

    what: str  # the function's name or the layer's ARN, for messages
    target: Target | None  # None for a layer compatible with several: the user picks
    kind: Kind
    code: Path
    layers: tuple[Path, ...] = ()


def _client(region: str | None) -> Any:
    import boto3  # imported here: only the AWS commands pay for it
    from botocore.exceptions import NoRegionError

    try:
        return boto3.client("lambda", region_name=region)
    except NoRegionError:
        raise DeployedError(
            "no AWS region is set", tip="pass --region, or set AWS_REGION"
        ) from None


def _aws_error(exc: Exception, what: str) -> DeployedError:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = one_line(error.get("Code") or "Error"), one_line(error.get("Message", ""))
        tip = {
            "ResourceNotFoundException": "check the name or ARN, --qualifier and --region",
            "AccessDeniedException": "the credentials need lambda:GetFunction and "
            "lambda:GetLayerVersion",
        }.get(code, "check the name, the region and the credentials")
        return DeployedError(f"AWS refused to show {what}: {code}: {message}", tip=tip)
    if isinstance(exc, BotoCoreError):
        return DeployedError(
            f"could not reach AWS for {what}: {one_line(str(exc))}",
            tip="check the credentials, --region (or AWS_REGION) and the network",
        )
    raise exc


def _download(url: str, dest: Path, sha256_b64: str | None, what: str, opener: Opener) -> Path:
    digest = hashlib.sha256()
    written = 0
    try:
        with opener(url) as response, dest.open("wb") as out:
            while chunk := response.read(1024 * 1024):
                written += len(chunk)
                if written > MAX_DOWNLOAD:
                    raise DeployedError(
                        f"{what} is larger than {MAX_DOWNLOAD:,} bytes", tip="check it locally"
                    )
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        raise DeployedError(
            f"could not download {what}: {exc}",
            tip="check the network (and HTTPS_PROXY); the presigned URL is valid for 10 minutes",
        ) from exc
    if sha256_b64 and base64.b64encode(digest.digest()).decode() != sha256_b64:
        raise DeployedError(
            f"the download of {what} does not match the CodeSha256 AWS reports",
            tip="run the check again; if it persists, something between you and AWS changes it",
        )
    return dest


def answered(got: Any, what: str, *keys: str, error: type[LambdaZipError] = DeployedError) -> Any:
    """``got[keys[0]][keys[1]]...`` of an answer boto3 parsed, or one line saying it is not what
    AWS answers (a page served with 200 by whatever AWS_ENDPOINT_URL names parses as nothing)."""
    value = got
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise error(
                f"the answer for {what} has no {'.'.join(keys)}: it is not AWS Lambda's",
                tip="check AWS_ENDPOINT_URL and the region: something else answered",
            )
        value = value[key]
    return value


def _target(runtime: str, architectures: list[str], what: str) -> Target:
    if not runtime.startswith("python"):
        raise UsageError(
            f"{what} runs {runtime or 'no managed runtime'}, not a Python runtime",
            tip="check Python functions and layers",
        )
    return Target(parse_runtime(runtime), parse_arch((architectures or ["x86_64"])[0]))


def fetch_function(
    name: str,
    qualifier: str | None,
    region: str | None,
    dest: Path,
    status: Callable[[str], None],
    opener: Opener | None = None,
) -> Deployed:
    """The function's code and its layers, downloaded into ``dest``, and its target."""
    opener = opener or _open_url
    client = _client(region)
    what = f"function {name}" + (f":{qualifier}" if qualifier else "")
    status(f"reading {what}")
    try:
        got = client.get_function(
            FunctionName=name, **({"Qualifier": qualifier} if qualifier else {})
        )
    except Exception as exc:
        raise _aws_error(exc, what) from exc
    config = answered(got, what, "Configuration")
    if config.get("PackageType") == "Image":
        raise UsageError(
            f"{what} is a container image function, not a zip",
            tip="check the image's contents instead (build.py check on an exported tree)",
        )
    target = _target(str(config.get("Runtime", "")), list(config.get("Architectures") or []), what)
    status(f"downloading the code of {what}")
    location = answered(got, what, "Code", "Location")
    code = _download(location, dest / "function.zip", config.get("CodeSha256"), what, opener)
    layers = []
    for layer in config.get("Layers") or []:
        layers.append(_fetch_layer_zip(client, str(layer["Arn"]), dest, status, opener)[0])
    return Deployed(what, target, Kind.FUNCTION, code, tuple(layers))


def _fetch_layer_zip(
    client: Any, arn: str, dest: Path, status: Callable[[str], None], opener: Opener
) -> tuple[Path, dict[str, Any]]:
    match = _LAYER_ARN.match(arn)
    if match is None:
        raise UsageError(
            f"{arn!r} is not a layer version ARN",
            tip="arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION",
        )
    what = f"layer {arn}"
    status(f"downloading {what}")
    try:
        got = client.get_layer_version(LayerName=match["layer"], VersionNumber=int(match["v"]))
    except Exception as exc:
        raise _aws_error(exc, what) from exc
    name = match["layer"].rsplit(":", 1)[1]
    path = dest / f"{name}-{match['v']}.zip"
    content = answered(got, what, "Content")
    location = answered(got, what, "Content", "Location")
    _download(location, path, content.get("CodeSha256"), what, opener)
    return path, got


def fetch_layer(
    arn: str,
    region: str | None,
    dest: Path,
    status: Callable[[str], None],
    opener: Opener | None = None,
) -> Deployed:
    """One layer version, downloaded into ``dest``; its target when it declares exactly one."""
    path, got = _fetch_layer_zip(_client(region), arn, dest, status, opener or _open_url)
    runtimes = list(got.get("CompatibleRuntimes") or [])
    arches = list(got.get("CompatibleArchitectures") or [])
    target = None
    if len(runtimes) == 1 and len(arches) <= 1:
        target = _target(runtimes[0], arches, f"layer {arn}")
    return Deployed(f"layer {arn}", target, Kind.LAYER, path)
