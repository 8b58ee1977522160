"""`image`: a function as a Lambda container image, on the real engine, the stand-ins of the Lambda
image and a real registry on loopback (Debian's docker-registry): reproducible, probed as
Lambda's user, invoked, pushed and pulled back by digest, judged by `check --image`, verified."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import docker
import pytest

from lambdazip.build.engine import Engine
from lambdazip.build.images import build_image_tag
from lambdazip.cli import main
from lambdazip.oci.image import canonical, digest_of
from lambdazip.oci.media_types import OCI_INDEX
from lambdazip.oci.reference import Reference
from lambdazip.oci.registry import Registry
from lambdazip.targets import RUNTIMES, Arch, Target
from tests.conftest import host_env
from tests.wheels import REPO

pytestmark = [pytest.mark.integration, pytest.mark.network]
EXAMPLE = REPO / "examples" / "orders"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ARCHITECTURES = {"x86_64": "amd64", "arm64": "arm64"}
STANDINS = [
    pytest.param("3.11", "x86_64", id="python3.11-x86_64"),
    pytest.param("3.13", "x86_64", id="python3.13-x86_64"),
    pytest.param("3.14", "x86_64", id="python3.14-x86_64"),
    pytest.param("3.15", "x86_64", id="python3.15-x86_64"),
    pytest.param("3.11", "arm64", id="python3.11-arm64"),
    pytest.param("3.13", "arm64", id="python3.13-arm64", marks=pytest.mark.slow),
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One blob store for the module: what one test compressed or fetched, the next reuses."""
    return tmp_path_factory.mktemp("image-cache")


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def json(self) -> dict[str, Any]:
        document = json.loads(self.out)
        assert isinstance(document, dict)
        return document


def run(capsys: pytest.CaptureFixture[str], cache: Path, *argv: str) -> Run:
    code = main(list(argv), env={**host_env(), "LAMBDAZIP_CACHE_DIR": str(cache)})
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def image_argv(tmp: Path, base: str, python: str, arch: str, src: Path = EXAMPLE) -> list[str]:
    requirements = tmp / "requirements.txt"
    if not requirements.exists():
        tmp.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "requirements.txt", requirements)
    argv = ["image", "--arch", arch, "--python", python, "-r", str(requirements)]
    return [*argv, "--src", str(src), "--handler", "app.handler", "--base-image", base]


@pytest.fixture
def made(engine: Engine) -> Iterator[list[str]]:
    """The images a test makes (tags or IDs), removed after it."""
    images: list[str] = []
    yield images
    for image in images:
        with contextlib.suppress(docker.errors.NotFound):
            engine.api.remove_image(image, force=True)


def job_image_left(engine: Engine, image_id: str, python: str, arch: str) -> bool:
    """Whether the build image made on the function's image (for its probe and invoke) is
    still there: it must not be (every image built would leave one)."""
    return engine.image(build_image_tag(image_id, Target(RUNTIMES[python], Arch(arch)))) is not None


@pytest.mark.parametrize(("python", "arch"), STANDINS)
def test_an_image_is_reproducible_proven_pushed_and_pulled_back(
    images: dict[tuple[str, str], str],
    engine: Engine,
    registry: str,
    tmp_path: Path,
    cache: Path,
    capsys: pytest.CaptureFixture[str],
    made: list[str],
    python: str,
    arch: str,
) -> None:
    base = images[python, arch]
    tag = f"lambdazip-test-orders:{python}-{arch}"
    pushed = f"{registry}/orders/{arch}:{python}"
    made += [tag, pushed]
    argv = [*image_argv(tmp_path, base, python, arch), "--tag", tag, "--json"]
    event = str(EXAMPLE / "event.json")
    first = run(capsys, cache, *argv, "-o", str(tmp_path / "a"), "--smoke-event", event,
                "--push", pushed)  # fmt: skip
    assert first.code == 0, first.err
    record = first.json
    assert "smoke event: app.handler returned" in first.err
    assert f"pushed: {registry}/orders/{arch}@{record['manifest_digest']}" in first.err
    info = engine.inspect(tag)
    assert info is not None
    assert info["Id"] == record["image_id"]
    assert info["Config"]["Cmd"] == ["app.handler"]
    assert info["Architecture"] == ARCHITECTURES[arch]
    # proven in the image itself, as Lambda's user: the handler's module and every other imported
    assert record["probe"]["handler"] == "app.handler"
    assert record["probe"]["imports"]
    assert all(i["ok"] for i in record["probe"]["imports"])
    assert [layer["what"] for layer in record["layers"]] == [
        "lambdazip image: the dependencies at /var/task",
        "lambdazip image: the function's code at /var/task",
    ]
    assert not job_image_left(engine, record["image_id"], python, arch)

    # built again from nothing: another output, another blob store, every step forced
    engine.api.remove_image(tag, force=True)
    again = run(capsys, tmp_path / "other-cache", *argv, "-o", str(tmp_path / "b"), "--force")
    assert again.code == 0, again.err
    assert again.json["image_id"] == record["image_id"]
    assert again.json["manifest_digest"] == record["manifest_digest"]
    assert again.json["layers"] == record["layers"]

    # pulled back by digest: the engine's image is the one built
    by_digest = f"{registry}/orders/{arch}@{record['manifest_digest']}"
    engine.api.pull(by_digest)
    made.append(by_digest)
    pulled = engine.inspect(by_digest)
    assert pulled is not None
    assert pulled["Id"] == record["image_id"]

    # what was pushed passes `check --image`, read from the registry
    checked = run(capsys, cache, "check", "--image", f"docker://{pushed}", "--json")
    assert checked.code == 0, checked.err
    assert [f for f in checked.json["findings"] if f["severity"] == "error"] == []
    assert checked.json["manifest_digest"] == record["manifest_digest"]

    # and runs with `invoke --image`, as Lambda runs it
    invoked = run(capsys, cache, "invoke", "--image", by_digest, "--event", event, "--json")
    assert invoked.code == 0, invoked.err
    assert invoked.json["result"] == {"statusCode": 200, "order_id": 17, "items": 2}
    assert any(line.startswith("REPORT RequestId:") for line in invoked.json["logs"])
    assert not job_image_left(engine, record["image_id"], python, arch)


@pytest.fixture(scope="module")
def pushed(
    images: dict[tuple[str, str], str],
    registry: str,
    tmp_path_factory: pytest.TempPathFactory,
    cache: Path,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The example function as an image on the python3.11 x86_64 stand-in, pushed: its
    reference in the registry and its record."""
    tmp = tmp_path_factory.mktemp("pushed")
    tag = "lambdazip-test-pushed:1"
    reference = f"{registry}/pushed/orders:1"
    argv = image_argv(tmp, images["3.11", "x86_64"], "3.11", "x86_64")
    argv += ["--tag", tag, "-o", str(tmp / "dist"), "--push", reference, "--json", "-q"]
    code = main(argv, env={**host_env(), "LAMBDAZIP_CACHE_DIR": str(cache)})
    assert code == 0
    recorded = tmp / "dist" / "orders-python3.11-x86_64.image.json"
    record = json.loads(recorded.read_text())
    record["path"] = str(recorded)
    yield reference, record
    Engine.connect({}).api.remove_image(tag, force=True)


def test_check_image_refuses_an_index_with_an_attestation_in_one_line(
    pushed: tuple[str, dict[str, Any]],
    registry: str,
    cache: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reference, record = pushed
    index = _index_with_an_attestation(registry, "pushed/orders", record["manifest_digest"])
    checked = run(capsys, cache, "check", "--image", f"docker://{index}")
    assert checked.code == 3
    said = (checked.out + checked.err).splitlines()
    errors = [line for line in said if line.startswith("error: ")]
    assert len(errors) == 2, said  # the finding, and the summary
    assert "an image index" in errors[0] or "index" in errors[0]
    assert "--provenance=false" in errors[0]
    as_json = run(capsys, cache, "check", "--image", f"docker://{index}", "--json")
    assert [f["code"] for f in as_json.json["findings"]] == ["image-index"]
    # the image's own manifest, by digest, is fine
    fine = run(capsys, cache, "check", "--image", f"docker://{reference}")
    assert fine.code == 0, fine.err


def test_check_image_refuses_the_wrong_platform_in_one_line(
    pushed: tuple[str, dict[str, Any]],
    cache: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reference, _record = pushed
    checked = run(capsys, cache, "check", "--image", f"docker://{reference}", "--arch", "arm64")
    assert checked.code == 3
    said = (checked.out + checked.err).splitlines()
    errors = [line for line in said if line.startswith("error: ")]
    assert len(errors) == 2, said  # the finding, and the summary
    assert "linux/arm64" in errors[0]
    assert "linux/amd64" in errors[0]
    as_json = run(
        capsys, cache, "check", "--image", f"docker://{reference}", "--arch", "arm64", "--json"
    )
    assert [f["code"] for f in as_json.json["findings"]] == ["image-platform"]


def test_verify_rebuilds_an_image_from_its_record_alone(
    pushed: tuple[str, dict[str, Any]],
    tmp_path: Path,
    cache: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _reference, record = pushed
    verified = run(capsys, cache, "verify", record["path"], "--json")
    assert verified.code == 0, verified.err
    assert verified.json["reproduced"] is True
    assert verified.json["rebuilt_manifest_digest"] == record["manifest_digest"]
    assert f"reproduced: {record['tag']}" in verified.err
    # the code changed since: said, file by file, before anything is built
    changed = tmp_path / "src"
    shutil.copytree(EXAMPLE, changed)
    (changed / "app.py").write_text((changed / "app.py").read_text() + "# changed\n")
    refused = run(capsys, cache, "verify", record["path"], "--src", str(changed))
    assert refused.code == 2
    assert "app.py in --src" in refused.err
    assert "differs since" in refused.err


def test_a_base_pulled_from_a_registry_lends_its_layers(
    images: dict[tuple[str, str], str],
    engine: Engine,
    registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    made: list[str],
) -> None:
    """The official image comes from a registry: its layers are named as they are there (no
    compressing here), and a push to that registry mounts them."""
    base = f"{registry}/lambda/python:3.11"
    engine.api.tag(images["3.11", "x86_64"], f"{registry}/lambda/python", "3.11")
    made.append(base)
    for _ in engine.api.push(f"{registry}/lambda/python", "3.11", stream=True, decode=True):
        pass
    engine.api.remove_image(base)
    engine.api.pull(f"{registry}/lambda/python", "3.11")
    tag = "lambdazip-test-registry-base:1"
    made.append(tag)
    argv = [*image_argv(tmp_path, base, "3.11", "x86_64"), "--tag", tag, "-o", str(tmp_path)]
    built = run(capsys, tmp_path / "cache", *argv, "--push", f"{registry}/on-registry-base:1")
    assert built.code == 0, built.err
    record = json.loads((tmp_path / "orders-python3.11-x86_64.image.json").read_text())
    assert record["base_layers_from"].startswith(f"registry {registry}/lambda/python@sha256:")
    assert "compressing" not in built.err


def test_an_image_that_fails_its_probe_is_not_kept(
    images: dict[tuple[str, str], str],
    engine: Engine,
    tmp_path: Path,
    cache: Path,
    capsys: pytest.CaptureFixture[str],
    made: list[str],
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text(
        "import pydantic_settings_not_installed\n\ndef handler(e, c):\n    return 1\n"
    )
    tag = "lambdazip-test-broken:1"
    made.append(tag)
    ours = {"label": "io.lambdazip.runtime"}  # what `image` makes, and the build images on them
    before = {str(i["Id"]) for i in engine.api.images(all=True, filters=ours)}
    argv = image_argv(tmp_path, images["3.11", "x86_64"], "3.11", "x86_64", src)
    failed = run(capsys, cache, *argv, "--tag", tag, "-o", str(tmp_path / "dist"))
    assert failed.code == 3, failed.out + failed.err
    assert "pydantic_settings_not_installed" in failed.out, failed.out + failed.err
    assert engine.image(tag) is None
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())
    after = {str(i["Id"]): i.get("RepoTags") for i in engine.api.images(all=True, filters=ours)}
    new = {image: tags for image, tags in after.items() if image not in before}
    assert new == {}, failed.out + failed.err  # neither the image nor the build image on it


def _index_with_an_attestation(registry: str, repository: str, image: str) -> str:
    """What BuildKit pushes by default: an OCI index of the image's manifest and a provenance
    attestation manifest (platform unknown/unknown), made by hand as JSON and blobs."""
    client = Registry.for_reference(Reference.parse(f"{registry}/{repository}"), {})
    with client:
        fetched = client.get_manifest(repository, image)
        statement = canonical({"_type": "https://in-toto.io/Statement/v0.1", "subject": []})
        config = canonical({"architecture": "unknown", "os": "unknown", "rootfs": {}})
        for blob in (statement, config):
            client.push_blob(repository, digest_of(blob), len(blob), partial(io.BytesIO, blob))
        attestation = canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digest_of(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.in-toto+json",
                        "digest": digest_of(statement),
                        "size": len(statement),
                        "annotations": {
                            "in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"
                        },
                    }
                ],
            }
        )
        client.put_manifest(repository, digest_of(attestation), OCI_MANIFEST, attestation)
        index = canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": fetched.media_type,
                        "digest": fetched.digest,
                        "size": len(fetched.data),
                        "platform": {"architecture": "amd64", "os": "linux"},
                    },
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": digest_of(attestation),
                        "size": len(attestation),
                        "platform": {"architecture": "unknown", "os": "unknown"},
                        "annotations": {
                            "vnd.docker.reference.digest": fetched.digest,
                            "vnd.docker.reference.type": "attestation-manifest",
                        },
                    },
                ],
            }
        )
        client.put_manifest(repository, "with-provenance", OCI_INDEX, index)
    return f"{registry}/{repository}:with-provenance"
