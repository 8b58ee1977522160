from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import docker
import pytest
from moto.server import ThreadedMotoServer

from lambdazip.build.engine import LABEL, RUN_LABEL, RUN_VARIABLE, Engine
from lambdazip.cli import main
from tests import standin, wheels
from tests.endpoints import ENGINE_SOCKET, TcpToUnix
from tests.podman import podman  # noqa: F401 - a fixture
from tests.registry import registry, registry_with_login  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def _no_engine_in_unit_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Unit tests must not reach the Docker engine: any attempt fails the test loudly."""
    if request.node.get_closest_marker("integration"):
        yield
        return

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a unit test tried to reach the Docker engine; mark it integration")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(docker, "from_env", refuse)
        patch.setattr(docker.DockerClient, "__init__", refuse)
        patch.setattr(docker.APIClient, "__init__", refuse)
        yield


@pytest.fixture(scope="session")
def arm64_313() -> list[Path]:
    return wheels.pydantic_wheels("313", "manylinux2014_aarch64")


@pytest.fixture(scope="session")
def x86_313() -> list[Path]:
    return wheels.pydantic_wheels("313", "manylinux2014_x86_64")


@pytest.fixture(scope="session")
def x86_311() -> list[Path]:
    return wheels.pydantic_wheels("311", "manylinux2014_x86_64")


@pytest.fixture(scope="session")
def musl_313() -> list[Path]:
    return wheels.pydantic_wheels("313", "musllinux_1_1_x86_64")


@pytest.fixture(scope="session")
def numpy_glibc_2_27() -> Path:
    """A real manylinux_2_28 wheel whose shared objects need GLIBC_2.27 or newer."""
    return wheels.fetch("numpy", "2.4.6", "311", "manylinux_2_28_x86_64")


# -- integration: the real engine and the stand-ins of the Lambda image --------------------------


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.connect({})


@pytest.fixture(scope="session")
def images(engine: Engine) -> dict[tuple[str, str], str]:
    """The stand-in images, built once per recipe on this engine (see tests/standin.py)."""
    return {key: standin.build(*key, engine.client) for key in standin.RECIPES}


# every container and volume this session makes, in this process or a build.py it starts, carries
# this run's label: the leak checks look at nothing else, so a user's build or another suite on the
# same engine cannot turn them red
RUN = f"tests-{uuid.uuid4().hex[:12]}"
os.environ[RUN_VARIABLE] = RUN


def ours(engine: Engine, kind: str = "containers") -> set[str]:
    """The names of this run's containers (running or not), or of its temporary volumes."""
    label = {"label": f"{RUN_LABEL}={RUN}"}
    if kind == "volumes":
        return {str(v["Name"]) for v in engine.api.volumes(filters=label).get("Volumes") or []}
    return {str(c["Names"][0]).lstrip("/") for c in engine.api.containers(all=True, filters=label)}


def leftovers(engine: Engine, before: tuple[set[str], set[str]]) -> list[str]:
    """What this run made since ``before`` (ours() of containers and volumes) and left."""
    containers, volumes = before
    return sorted((ours(engine) - containers) | (ours(engine, "volumes") - volumes))


@pytest.fixture(autouse=True)
def _nothing_of_ours_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every integration test: no container and no temporary volume that the test (or a
    helper of it, which labels what it runs with RUN too) made remains."""
    if not request.node.get_closest_marker("integration"):
        yield
        return
    engine: Engine = request.getfixturevalue("engine")
    before = (ours(engine), ours(engine, "volumes"))
    yield
    assert leftovers(engine, before) == [], f"left behind by this run ({RUN_LABEL}={RUN})"


def containers_created(engine: Engine, since: float) -> int:
    """How many containers of ours the engine created since ``since`` (time.time(); the engine's
    event times are whole seconds)."""
    events = engine.api.events(
        since=int(since), until=int(time.time()) + 1, decode=True,
        filters={"type": "container", "event": "create", "label": LABEL},
    )  # fmt: skip
    return sum(1 for _ in events)


def host_env() -> dict[str, str]:
    """Only the host's CA bundle setting (the index is behind a TLS-inspecting proxy here)."""
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        if os.environ.get(name) and Path(os.environ[name]).is_file():
            return {"PIP_CERT": os.environ[name]}
    return {}


# -- `check` as a user runs it ------------------------------------------------------------------


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def codes(self) -> list[str]:
        return [f["code"] for f in json.loads(self.out)["findings"]]


class CheckRunner(Protocol):
    def __call__(self, path: Path, arch: str, python: str, *extra: str) -> Result: ...


@pytest.fixture
def check(capsys: pytest.CaptureFixture[str]) -> CheckRunner:
    def run(path: Path, arch: str, python: str, *extra: str) -> Result:
        code = main(["check", str(path), "--arch", arch, "--python", python, *extra], env={})
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


# -- AWS: moto in server mode on loopback, reached by boto3 through AWS_ENDPOINT_URL ----------

SECRET = "lambdazip-test-secret-key-0123456789"


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """boto3's usual chain, pointed at the local server (and at no config file of this host)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIALAMBDAZIPTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    return endpoint


@pytest.fixture
def tcp_engine() -> Iterator[TcpToUnix]:
    """A TCP loopback endpoint of the local engine; it keeps every request that crossed it."""
    if not Path(ENGINE_SOCKET).exists():
        pytest.fail(f"the local engine's socket {ENGINE_SOCKET} is not there")
    proxy = TcpToUnix(ENGINE_SOCKET)
    yield proxy
    proxy.close()
