from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests import wheels


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
