"""`publish` against moto in server mode: a real HTTP endpoint on loopback, reached by boto3
through AWS_ENDPOINT_URL, as it would reach AWS. boto3 itself is not patched."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import boto3
import pytest

from lambdazip.cli import main
from lambdazip.judge.checks import Kind
from lambdazip.judge.probe import ProbeFacts
from lambdazip.outputs.archive import ZipResult, sha256_file
from lambdazip.outputs.manifest import write_manifest
from lambdazip.outputs.report import BaseImageModel, DistModel, Manifest, TargetModel
from lambdazip.targets import RUNTIMES, Arch, Target
from tests import wheels
from tests.conftest import SECRET
from tests.zips import collect, write_zip


def _layer(tmp_path: Path, payload: bytes = b"X = 1\n", name: str = "layer") -> Path:
    tree = tmp_path / "tree" / "python"
    tree.mkdir(parents=True)
    (tree / "mod.py").write_bytes(payload)
    result = write_zip(tmp_path / f"{name}-python3.13-arm64.zip", collect(tmp_path / "tree"))
    _manifest(result)
    return result.path


def _manifest(result: ZipResult) -> None:
    """The manifest a python3.13 arm64 build writes beside ``result`` (what publish reads)."""
    target = Target(RUNTIMES["3.13"], Arch.ARM64)
    probe = ProbeFacts(
        schema_version=1, machine="aarch64", python_version="3.13.1", implementation="cpython",
        cache_tag="cpython-313", ext_suffix=".cpython-313-aarch64-linux-gnu.so", soabi=None,
        libc="glibc", libc_version="2.34", sys_path=[], pydantic_core=None, distributions=[],
        imports=[], pydantic=None,
    )  # fmt: skip
    manifest = Manifest(
        tool="lambdazip test", kind=Kind.LAYER, target=TargetModel.of(target),
        artifact=result.path.name, sha256=result.sha256, zipped_size=result.zipped_size,
        unzipped_size=result.unzipped_size, files=result.files, requirements_sha256="0",
        cache_key="0", base_image=BaseImageModel(reference="i", id="sha256:0", repo_digests=[],
        architecture="arm64"), installer="uv", bytecode="unchecked-hash",
        distributions=[DistModel(name="mod", version="1", location="python")], probe=probe,
        findings=[],
    )  # fmt: skip
    write_manifest(result.path.with_suffix(".manifest.json"), manifest)


def _versions(endpoint: str, name: str) -> list[dict[str, object]]:
    client = boto3.client("lambda", region_name="us-east-1", endpoint_url=endpoint)
    return list(client.list_layer_versions(LayerName=name)["LayerVersions"])


def test_publish_takes_runtime_and_architecture_from_the_manifest(
    aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = _layer(tmp_path)
    argv = ["publish", str(layer), "--layer-name", "pydantic", "--region", "us-east-1", "-v"]
    assert main([*argv, "--json"], env={}) == 0
    captured = capsys.readouterr()
    published = json.loads(captured.out)
    assert published["version"] == 1
    assert published["via_s3"] is None
    [version] = _versions(aws, "pydantic")
    assert version["LayerVersionArn"] == published["layer_version_arn"]
    assert version["CompatibleRuntimes"] == ["python3.13"]
    assert version["CompatibleArchitectures"] == ["arm64"]
    assert SECRET not in captured.out + captured.err


def test_a_zip_changed_after_its_build_is_refused(
    aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = _layer(tmp_path)
    layer.write_bytes(layer.read_bytes() + b"\0")
    code = main(["publish", str(layer), "--layer-name", "changed", "--region", "us-east-1"], env={})
    err = capsys.readouterr().err
    assert code == 12
    assert "it changed after it was built; rebuild it; nothing was published" in err
    assert err.count("\n") == 3  # the step, its end ("failed after ..."), the error line
    assert _versions(aws, "changed") == []


def test_over_50_mb_goes_through_s3(
    aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = _layer(tmp_path, os.urandom(51 * 1024 * 1024))
    argv = ["publish", str(layer), "--layer-name", "big", "--region", "us-east-1"]
    assert main(argv, env={}) == 2
    assert "pass --s3-bucket BUCKET" in capsys.readouterr().err

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws)
    s3.create_bucket(Bucket="layers")
    assert main([*argv, "--s3-bucket", "layers", "--json"], env={}) == 0
    published = json.loads(capsys.readouterr().out)
    key = published["via_s3"].removeprefix("s3://layers/")
    assert s3.head_object(Bucket="layers", Key=key)["ContentLength"] == layer.stat().st_size
    [version] = _versions(aws, "big")
    assert version["CompatibleArchitectures"] == ["arm64"]


def test_missing_credentials_are_one_line(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    layer = _layer(tmp_path)
    code = main(["publish", str(layer), "--layer-name", "x", "--region", "us-east-1", "-q"], env={})
    assert code == 12
    assert capsys.readouterr().err.startswith("error: no AWS credentials were found; configure")


def test_a_zip_without_manifest_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = _layer(tmp_path)
    layer.with_suffix(".manifest.json").unlink()
    assert main(["publish", str(layer), "--layer-name", "x"], env={}) == 2
    assert "no manifest layer-python3.13-arm64.manifest.json beside" in capsys.readouterr().err


def test_the_same_bytes_again_reuse_the_latest_version(
    aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The latest version's CodeSha256 is these bytes: no new version, said so; --new-version
    publishes one anyway."""
    layer = _layer(tmp_path)
    argv = ["publish", str(layer), "--layer-name", "again", "--region", "us-east-1"]
    assert main(argv, env={}) == 0
    assert "as version 1, for python3.13 on arm64" in capsys.readouterr().err
    assert main([*argv, "--json"], env={}) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["reused"] is True
    assert "version 1 of again has these bytes already (CodeSha256): reused" in captured.err
    assert len(_versions(aws, "again")) == 1
    assert main([*argv, "--new-version"], env={}) == 0
    assert "as version 2" in capsys.readouterr().err
    assert len(_versions(aws, "again")) == 2


@pytest.mark.parametrize(
    ("runtimes", "architectures", "said"),
    [
        (["python3.12"], ["arm64"], "declares python3.12 on arm64"),
        (["python3.13"], ["x86_64", "arm64"], "declares python3.13 on x86_64, arm64"),
        ([], [], "declares no runtime on no architecture"),
    ],
)
def test_the_same_bytes_declaring_otherwise_are_published_anew(
    aws: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    runtimes: list[str],
    architectures: list[str],
    said: str,
) -> None:
    """The latest version holds these bytes but declares other runtimes or architectures (put
    there by another tool): reusing it would claim what is not so; a new version is published,
    and the command says why."""
    layer = _layer(tmp_path)
    name = f"other-{len(runtimes)}-{len(architectures)}"  # (one moto server for the session)
    client = boto3.client("lambda", region_name="us-east-1", endpoint_url=aws)
    client.publish_layer_version(
        LayerName=name, Content={"ZipFile": layer.read_bytes()},
        CompatibleRuntimes=runtimes, CompatibleArchitectures=architectures,
    )  # fmt: skip
    argv = ["publish", str(layer), "--layer-name", name, "--region", "us-east-1"]
    assert main(argv, env={}) == 0
    err = capsys.readouterr().err
    assert f"version 1 holds these bytes but {said}: publishing another" in err
    assert f"as version 2 (version 1 holds these bytes but {said}), for python3.13 on arm64" in err
    assert main([*argv, "-q", "--new-version"], env={}) == 0  # (quiet: the result line alone)
    assert "as version 3, for python3.13 on arm64" in capsys.readouterr().err
    assert [v["Version"] for v in _versions(aws, name)] == [3, 2, 1]
    assert main(argv, env={}) == 0  # and now the latest fits: reused
    assert f"version 3 of {name} has these bytes already" in capsys.readouterr().err


@pytest.mark.network
def test_a_zip_unfit_for_what_its_manifest_declares_is_refused(
    aws: str, tmp_path: Path, x86_313: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Real x86_64 wheels under a manifest that says arm64: the findings, exit 3, nothing
    published."""
    path = wheels.pack(tmp_path / "wrong-python3.13-arm64.zip", x86_313)
    with zipfile.ZipFile(path) as opened:
        unzipped = sum(i.file_size for i in opened.infolist())
        files = len(opened.infolist())
    _manifest(ZipResult(path, sha256_file(path), path.stat().st_size, unzipped, files))
    argv = ["publish", str(path), "--layer-name", "unfit", "--region", "us-east-1"]
    assert main(argv, env={}) == 3
    err = capsys.readouterr()
    assert "does not fit python3.13-arm64, what it declares" in err.err
    assert "nothing was published" in err.err
    assert "error:" in err.out  # the findings, as check prints them
    assert _versions(aws, "unfit") == []


def test_an_answer_that_is_not_aws_s_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An endpoint answering a page of HTML with 200: boto3 parses it as an answer without a
    field; one line, no traceback, whether the latest version is asked for or not."""
    from tests.bad_inputs import html_ok_endpoint

    layer = _layer(tmp_path)
    argv = ["publish", str(layer), "--layer-name", "x", "--region", "us-east-1"]
    with html_ok_endpoint(tmp_path):
        for extra in ([], ["--new-version"]):
            assert main([*argv, *extra], env={}) == 12
            err = capsys.readouterr().err
            assert "Traceback" not in err
            [line] = [x for x in err.splitlines() if x.startswith("error:")]
            assert "has no LayerArn: it is not AWS Lambda's; check AWS_ENDPOINT_URL" in line
