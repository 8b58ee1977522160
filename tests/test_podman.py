"""The tool on Podman (`podman system service`, tests/podman.py), the engine many macOS and
Windows users run instead of Docker Desktop: what works works the same (the same bytes as on
Docker), and what Podman cannot do is refused in one line. What differs, and how each is met,
is listed in docs/shared-cache.md ("The engines people run")."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdazip.build.engine import Engine, engine_product
from lambdazip.build.transfer import named_under, unpack
from lambdazip.cli import main
from tests.conftest import host_env
from tests.podman import Podman

REPO = Path(__file__).resolve().parent.parent


def test_podman_is_told_from_docker_by_its_version() -> None:
    assert engine_product({"Components": [{"Name": "Podman Engine"}, {"Name": "Conmon"}]}) == (
        "podman"
    )
    assert engine_product({"Components": [{"Name": "Engine"}, {"Name": "containerd"}]}) == "docker"
    assert engine_product({}) == "docker"


def _tar(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name in names:
            info = tarfile.TarInfo(name)
            if name.endswith("/") or name == "":
                info.type = tarfile.DIRTYPE
            else:
                data = name.encode() * 3
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
                continue
            archive.addfile(info)
    return buffer.getvalue()


def _chunks(data: bytes, size: int = 700) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def test_a_volume_root_as_podman_names_it_reads_as_docker_names_it(tmp_path: Path) -> None:
    """Podman's archive of a volume's mount point names its members "", "/f", "/d/g"."""
    podman_style = _tar(["", "/outcome.json", "/d/", "/d/g.txt"])
    fixed = b"".join(named_under(_chunks(podman_style), "outcome"))
    with tarfile.open(fileobj=io.BytesIO(fixed)) as archive:
        names = archive.getnames()
        assert names == ["outcome", "outcome/outcome.json", "outcome/d", "outcome/d/g.txt"]
        member = archive.extractfile("outcome/d/g.txt")
        assert member is not None
        assert member.read() == b"/d/g.txt" * 3
    assert unpack(_chunks(fixed), tmp_path / "out") == 2
    assert (tmp_path / "out" / "d" / "g.txt").read_bytes() == b"/d/g.txt" * 3
    # Docker's naming passes through unchanged
    docker_style = _tar(["outcome/", "outcome/outcome.json"])
    with tarfile.open(fileobj=io.BytesIO(b"".join(named_under(_chunks(docker_style), "x")))) as a:
        assert a.getnames() == ["outcome", "outcome/outcome.json"]


@pytest.fixture(scope="session")
def podman_image(podman: Podman, images: dict[tuple[str, str], str], engine: Engine,
                 tmp_path_factory: pytest.TempPathFactory) -> str:  # fmt: skip
    """The python3.11 x86_64 stand-in, saved from Docker and loaded into Podman."""
    image = images["3.11", "x86_64"]
    saved = tmp_path_factory.mktemp("podman-load") / "standin.tar"
    with saved.open("wb") as out:
        for chunk in engine.client.images.get(image).save(named=True):
            out.write(chunk)
    podman.run("load", "-q", "-i", str(saved))
    saved.unlink()
    return f"localhost/{image}"


def _env(podman: Podman) -> dict[str, str]:
    return {**host_env(), "DOCKER_HOST": podman.host}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.integration
@pytest.mark.network
def test_a_layer_and_a_function_build_on_podman_as_on_docker(
    podman: Podman,
    podman_image: str,
    images: dict[tuple[str, str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = ["--python", "3.11", "--arch", "x86_64"]
    lock = ["-r", str(REPO / "requirements.txt")]
    on_podman, on_docker = tmp_path / "podman", tmp_path / "docker"
    layer = ["layer", *target, *lock]
    assert main([*layer, "-o", str(on_podman), "--base-image", podman_image], env=_env(podman)) == 0
    assert main([*layer, "-o", str(on_docker), "--base-image", images["3.11", "x86_64"]],
                env=host_env()) == 0  # fmt: skip
    name = "layer-python3.11-x86_64"
    assert _sha256(on_podman / f"{name}.zip") == _sha256(on_docker / f"{name}.zip")
    manifest = json.loads((on_podman / f"{name}.manifest.json").read_text())
    assert manifest["engine"]["product"] == "podman"
    assert not any(d.startswith("localhost/") for d in manifest["base_image"]["repo_digests"])
    capsys.readouterr()

    # a function whose smoke event runs in a Podman container, then invoked there
    function = [
        "function", *target, *lock, "--src", str(REPO / "examples" / "orders"),
        "--handler", "app.handler", "--smoke-event", str(REPO / "examples/orders/event.json"),
        "--layer", str(on_podman / f"{name}.zip"), "-o", str(on_podman),
        "--base-image", podman_image,
    ]  # fmt: skip
    assert main(function, env=_env(podman)) == 0, capsys.readouterr().err
    capsys.readouterr()
    invoke = [
        "invoke", str(on_podman / "orders-python3.11-x86_64.zip"), "--handler", "app.handler",
        "--event", str(REPO / "examples/orders/event.json"),
        "--layer", str(on_podman / f"{name}.zip"), "--base-image", podman_image,
    ]  # fmt: skip
    assert main(invoke, env=_env(podman)) == 0
    assert '"statusCode": 200' in capsys.readouterr().out


@pytest.mark.integration
def test_an_image_on_podman_is_refused_in_one_line_before_anything_is_built(
    podman: Podman, podman_image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "image", "--python", "3.11", "--arch", "x86_64", "-r", str(REPO / "requirements.txt"),
        "--src", str(REPO / "examples" / "orders"), "--handler", "app.handler",
        "--base-image", podman_image, "-o", str(tmp_path / "dist"),
    ]  # fmt: skip
    code = main(argv, env=_env(podman))
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 7, err
    assert len(errors) == 1
    assert "loads only archives that hold every layer of an image" in errors[0]
    assert "build images with Docker" in errors[0]
    assert "installing" not in err  # refused before the dependencies were built
