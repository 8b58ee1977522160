"""`check --function` and `check --layer-arn` against moto in server mode on loopback: functions
and layers created there from real zips (one fit, one unfit), read back with GetFunction and
GetLayerVersion through boto3.

What runs against what: every Lambda API call goes to moto's server (boto3 unpatched, through
AWS_ENDPOINT_URL). moto answers GetFunction with a Code.Location on an amazonaws host it does not
serve, and GetLayerVersion with Content.Location "s3://"; so the download of those presigned URLs
goes to an HTTP server on loopback that serves the same real zips, through the download function
the product takes at its edge (``opener``). The CodeSha256 moto reports is checked against them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.request import urlopen

import boto3
import pytest

from lambdazip.aws import deployed
from lambdazip.cli import main
from lambdazip.errors import DeployedError
from tests import wheels

pytestmark = pytest.mark.network  # the wheels come from the package index (cached)

REGION = ("--region", "us-east-1")


class _Zips:
    """A loopback HTTP server for the zips: /function/NAME and /layer/N."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requested: list[str] = []
        zips = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = zips.files.get(self.path)
                self.send_response(200 if data is not None else 404)
                self.end_headers()
                self.wfile.write(data or b"")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def zips() -> Iterator[_Zips]:
    served = _Zips()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def opener(zips: _Zips, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The download at the edge, sent to the loopback server: moto's amazonaws Location of a
    function by the function's name in its key, "s3://" layer Locations in the order asked."""
    asked: list[str] = []

    def open_url(url: str) -> BinaryIO:
        asked.append(url)
        if url.startswith("https://awslambda-") and ".amazonaws.com/" in url:
            name = url.rsplit("/", 1)[1].rsplit("-", 5)[0]
            response: BinaryIO = urlopen(f"{zips.url}/function/{name}")
            return response
        if url.startswith("s3://"):
            layers = sorted(k for k in zips.files if k.startswith("/layer/"))
            index = sum(1 for u in asked[:-1] if u.startswith("s3://"))
            layer: BinaryIO = urlopen(f"{zips.url}{layers[index % len(layers)]}")
            return layer
        raise AssertionError(f"the product asked for {url}")

    monkeypatch.setattr(deployed, "_open_url", open_url)
    return asked


def _lambda(endpoint: str) -> Any:
    return boto3.client("lambda", region_name="us-east-1", endpoint_url=endpoint)


def _role(endpoint: str) -> str:
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=endpoint)
    try:
        return str(iam.get_role(RoleName="lambdazip-test")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        document = json.dumps({"Version": "2012-10-17", "Statement": []})
        role = iam.create_role(RoleName="lambdazip-test", AssumeRolePolicyDocument=document)
        return str(role["Role"]["Arn"])


def _publish_layer(endpoint: str, zips: _Zips, path: Path, name: str, arch: str) -> str:
    data = path.read_bytes()
    version = _lambda(endpoint).publish_layer_version(
        LayerName=name,
        Content={"ZipFile": data},
        CompatibleRuntimes=["python3.13"],
        CompatibleArchitectures=[arch],
    )
    zips.files[f"/layer/{len(zips.files):03d}-{name}"] = data
    return str(version["LayerVersionArn"])


def _create_function(
    endpoint: str, zips: _Zips, name: str, code: Path, arch: str, layers: list[str]
) -> None:
    data = code.read_bytes()
    _lambda(endpoint).create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=_role(endpoint),
        Handler="app.handler",
        Code={"ZipFile": data},
        Architectures=[arch],
        Layers=layers,
    )
    zips.files[f"/function/{name}"] = data


def _app(tmp_path: Path) -> Path:
    return wheels.pack(
        tmp_path / "app.zip",
        [],
        extra={"app.py": b"import pydantic\ndef handler(e, c): return e\n"},
    )


def test_a_deployed_function_is_checked_with_its_layers(
    aws: str,
    zips: _Zips,
    opener: list[str],
    tmp_path: Path,
    x86_313: list[Path],
    arm64_313: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    fit = _publish_layer(
        aws, zips, wheels.pack(tmp_path / "fit.zip", arm64_313), "deps-arm", "arm64"
    )
    unfit = _publish_layer(aws, zips, wheels.pack(tmp_path / "x.zip", x86_313), "deps-x86", "arm64")
    _create_function(aws, zips, "orders-fit", _app(tmp_path), "arm64", [fit])
    _create_function(aws, zips, "orders-unfit", _app(tmp_path), "arm64", [unfit])

    assert main(["check", "--function", "orders-fit", *REGION, "--json"]) == 0, (
        capsys.readouterr().err
    )
    report = json.loads(capsys.readouterr().out)
    assert report["target"]["runtime"] == "python3.13"
    assert report["target"]["arch"] == "arm64"  # from the configuration, not from the host
    assert report["findings"] == []
    assert report["unzipped_size_with_layers"] > report["unzipped_size"]

    assert main(["check", "--function", "orders-unfit", *REGION]) == 3
    captured = capsys.readouterr()
    assert "error: deps-x86-1.zip:python/pydantic_core/_pydantic_core.cpython-313-x86_64" in (
        captured.out
    )
    assert "EM_X86_64" in captured.out
    assert "function orders-unfit as a function for python3.13-arm64" in captured.err
    assert any("amazonaws.com" in url for url in opener)
    assert any(url == "s3://" for url in opener)


def test_a_deployed_layer_is_checked_for_its_declared_target(
    aws: str,
    zips: _Zips,
    opener: list[str],
    tmp_path: Path,
    x86_313: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    arn = _publish_layer(aws, zips, wheels.pack(tmp_path / "l.zip", x86_313), "wrong-arch", "arm64")
    assert main(["check", "--layer-arn", arn, *REGION]) == 3
    assert "as a layer for python3.13-arm64" in capsys.readouterr().err
    assert main(["check", "--layer-arn", arn, *REGION, "--arch", "x86_64"]) == 0


def test_what_aws_does_not_have_is_one_error_line(
    aws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--function", "orders"]) == 15  # no region anywhere
    assert "no AWS region is set; pass --region" in capsys.readouterr().err
    assert main(["check", "--function", "nowhere", *REGION]) == 15
    err = capsys.readouterr().err
    assert err.count("error:") == 1
    assert "ResourceNotFoundException" in err
    assert "Traceback" not in err
    bad = "arn:aws:lambda:us-east-1:123456789012:layer:nothing"
    assert main(["check", "--layer-arn", bad, *REGION]) == 2
    assert "is not a layer version ARN" in capsys.readouterr().err


def test_a_code_location_that_is_not_https_is_said_as_what_it_is(
    aws: str, zips: _Zips, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto gives a layer's Content.Location as "s3://...": the product's own download (no
    opener of the tests') says what it got in one line, and tries nothing."""
    layer = wheels.pack(tmp_path / "l.zip", [], extra={"python/m.py": b"x = 1\n"})
    arn = _publish_layer(aws, zips, layer, "elsewhere", "x86_64")
    assert main(["check", "--layer-arn", arn, *REGION]) == 15
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1
    assert "the code's location AWS gave is 's3://" in err[0]
    assert "(s3 scheme), not an HTTPS URL; the endpoint answering may not be AWS" in err[0]


def test_a_download_that_does_not_match_codesha256_is_refused(tmp_path: Path) -> None:
    class Bytes:
        def __init__(self, data: bytes) -> None:
            self.data = [data, b""]

        def read(self, _size: int) -> bytes:
            return self.data.pop(0)

        def __enter__(self) -> Bytes:
            return self

        def __exit__(self, *_exc: object) -> None:
            pass

    def opener(_url: str) -> Any:
        return Bytes(b"changed on the way")

    with pytest.raises(DeployedError, match="does not match the CodeSha256"):
        deployed._download("https://x", tmp_path / "f.zip", "AAAA", "function f", opener)


def test_a_code_location_is_said_without_its_signature() -> None:
    """A presigned URL's query is its credential: a location that is not HTTPS is named without
    it."""
    from lambdazip.aws.deployed import _open_url
    from lambdazip.errors import DeployedError

    url = "http://bucket.example/code.zip?X-Amz-Credential=AKIA&X-Amz-Signature=5ec12e7"
    with pytest.raises(DeployedError) as raised:
        _open_url(url)
    said = raised.value.message
    assert "'http://bucket.example/code.zip' (http scheme), not an HTTPS URL" in said
    assert "Signature" not in said
    assert "AKIA" not in said
