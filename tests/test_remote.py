"""A whole build against an engine reached over TCP, as a remote daemon is: the test forwards
127.0.0.1:PORT to the local engine's socket and reads every request that crosses, to assert that
no container asked for a bind mount (files cross the archive API only). Docker contexts too."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdazip.cli import main
from tests.conftest import host_env
from tests.endpoints import TcpToUnix, docker_context
from tests.wheels import REPO

pytestmark = [pytest.mark.integration, pytest.mark.network]


def _build(tmp_path: Path, image: str, env: dict[str, str]) -> int:
    argv = ["layer", "--arch", "x86_64", "--python", "3.11", "-o", str(tmp_path), "--force"]
    argv += ["-r", str(REPO / "requirements.txt"), "--base-image", image, "-q"]
    return main(argv, env={**host_env(), **env})


def _assert_no_bind_mounts(creations: list[dict[str, object]]) -> None:
    assert creations, "no container was created through the TCP engine"
    for body in creations:
        host_config = body.get("HostConfig") or {}
        assert isinstance(host_config, dict)
        assert not host_config.get("Binds"), host_config
        mounts = host_config.get("Mounts") or []
        assert all(m["Type"] == "volume" for m in mounts), mounts


def test_a_whole_build_over_tcp_uses_no_bind_mount(
    tmp_path: Path, tcp_engine: TcpToUnix, images: dict[tuple[str, str], str]
) -> None:
    env = {"DOCKER_HOST": f"tcp://127.0.0.1:{tcp_engine.port}"}
    assert _build(tmp_path, images[("3.11", "x86_64")], env) == 0
    assert (tmp_path / "layer-python3.11-x86_64.zip").is_file()
    creations = tcp_engine.container_creations()
    _assert_no_bind_mounts(creations)
    targets = [
        mount["Target"]
        for body in creations
        for mount in body["HostConfig"]["Mounts"] or []  # type: ignore[index]
    ]
    assert "/lambdazip/cache" in targets  # the download cache: a named volume


def test_the_current_docker_context_is_honoured(
    tmp_path: Path,
    tcp_engine: TcpToUnix,
    images: dict[tuple[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = f"tcp://127.0.0.1:{tcp_engine.port}"
    config = docker_context(tmp_path / "docker-config", "remote", host, current=True)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert _build(tmp_path / "out", images[("3.11", "x86_64")], {}) == 0
    _assert_no_bind_mounts(tcp_engine.container_creations())
