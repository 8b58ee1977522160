"""`image`: a function as a Lambda container image, on the real engine, the stand-ins of the Lambda
image and a real registry on loopback (Debian's docker-registry): reproducible, probed as
Lambda's user, invoked, pushed and pulled back by digest, judged by `check --image`."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from lambdazip.build.engine import Engine
from lambdazip.cli import main
from tests.conftest import host_env
from tests.wheels import REPO

pytestmark = [pytest.mark.integration, pytest.mark.network]
EXAMPLE = REPO / "examples" / "orders"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One blob store for the module: what one test compressed or fetched, the next reuses."""
    return tmp_path_factory.mktemp("image-cache")


def _env(cache: Path) -> dict[str, str]:
    return {**host_env(), "LAMBDAZIP_CACHE_DIR": str(cache)}


def _image(
    tmp_path: Path,
    cache: Path,
    capsys: pytest.CaptureFixture[str],
    base: str,
    arch: str,
    python: str,
    *extra: str,
) -> tuple[int, dict[str, object], str]:
    requirements = tmp_path / "requirements.txt"
    shutil.copy(REPO / "requirements.txt", requirements)
    out = tmp_path / "dist"
    argv = ["image", "--arch", arch, "--python", python, "-o", str(out), "-r", str(requirements)]
    argv += ["--src", str(EXAMPLE), "--handler", "app.handler", "--base-image", base, "--json"]
    argv += list(extra)
    code = main(argv, env=_env(cache))
    captured = capsys.readouterr()
    try:
        document = json.loads(captured.out)
    except ValueError:
        document = {}
    return code, document, captured.err


@pytest.fixture
def tags(engine: Engine) -> Iterator[list[str]]:
    """The images a test makes, removed after it."""
    made: list[str] = []
    yield made
    for tag in made:
        with contextlib.suppress(docker.errors.NotFound):
            engine.api.remove_image(tag, force=True)


@pytest.mark.parametrize(
    ("python", "arch"),
    [("3.11", "x86_64"), ("3.13", "x86_64"), ("3.11", "arm64")],
)
def test_the_same_inputs_give_the_same_image(
    images: dict[tuple[str, str], str],
    engine: Engine,
    tmp_path: Path,
    cache: Path,
    capsys: pytest.CaptureFixture[str],
    tags: list[str],
    python: str,
    arch: str,
) -> None:
    base = images[python, arch]
    tag = f"lambdazip-test-orders:{python}-{arch}"
    tags.append(tag)
    event = EXAMPLE / "event.json"
    code, first, err = _image(
        tmp_path / "a", cache, capsys, base, arch, python, "--tag", tag, "--smoke-event", str(event)
    )
    assert code == 0, err
    assert "smoke event: app.handler returned" in err
    info = engine.inspect(tag)
    assert info is not None
    assert info["Id"] == first["image_id"]
    assert info["Config"]["Cmd"] == ["app.handler"]
    assert info["Architecture"] == {"x86_64": "amd64", "arm64": "arm64"}[arch]
    # the probe ran in the image itself, as Lambda's user: every module imported
    probe = first["probe"]
    assert isinstance(probe, dict)
    assert all(i["ok"] for i in probe["imports"])
    # built again elsewhere, from nothing (a new output, --force): the same digests
    engine.api.remove_image(tag, force=True)
    code, second, err = _image(
        tmp_path / "b", cache, capsys, base, arch, python, "--tag", tag, "--force"
    )
    assert code == 0, err
    assert second["image_id"] == first["image_id"]
    assert second["manifest_digest"] == first["manifest_digest"]
    # and a third time: nothing changed, nothing done
    code, third, err = _image(tmp_path / "b", cache, capsys, base, arch, python, "--tag", tag)
    assert code == 0, err
    assert third["manifest_digest"] == first["manifest_digest"]
