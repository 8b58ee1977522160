"""A whole build against an engine reached over TCP, as a remote daemon is: the test forwards
127.0.0.1:PORT to the local engine's socket and reads every request that crosses, to assert that
no container asked for a bind mount (files cross the archive API only). Docker contexts too."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdazip.cli import main
from tests.conftest import host_env
from tests.wheels import REPO

pytestmark = [pytest.mark.integration, pytest.mark.network]
ENGINE_SOCKET = "/var/run/docker.sock"


class TcpToUnix:
    """Forwards TCP connections on loopback to a Unix socket, keeping what clients sent."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent: list[bytearray] = []
        self.sockets: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.path)
            self.sockets += [client, upstream]
            record = bytearray()
            self.sent.append(record)
            threading.Thread(
                target=self._pump, args=(client, upstream, record), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, record: bytearray | None) -> None:
        try:
            while data := source.recv(65536):
                if record is not None:
                    record += data
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
            source.close()  # each socket is the source of one pump: both end up closed

    def close(self) -> None:
        self._stop.set()
        self.listener.close()

    def cut(self) -> None:
        """The engine goes away: no new connection, and every open one is broken."""
        self.close()
        for end in self.sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def container_creations(self) -> list[dict[str, object]]:
        """The JSON bodies of every POST .../containers/create that crossed."""
        bodies = []
        for stream in self.sent:
            for match in re.finditer(rb"POST /v[\d.]+/containers/create[^\r]*\r\n", stream):
                head_end = stream.index(b"\r\n\r\n", match.start())
                head = bytes(stream[match.start() : head_end]).decode("latin-1")
                length = int(re.search(r"(?i)content-length: (\d+)", head)[1])  # type: ignore[index]
                body = stream[head_end + 4 : head_end + 4 + length]
                bodies.append(json.loads(bytes(body)))
        return bodies


@pytest.fixture
def tcp_engine() -> Iterator[TcpToUnix]:
    if not Path(ENGINE_SOCKET).exists():
        pytest.fail(f"the local engine's socket {ENGINE_SOCKET} is not there")
    proxy = TcpToUnix(ENGINE_SOCKET)
    yield proxy
    proxy.close()


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
    config = tmp_path / "docker-config"
    meta = config / "contexts" / "meta" / hashlib.sha256(b"remote").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps(
            {
                "Name": "remote",
                "Metadata": {},
                "Endpoints": {"docker": {"Host": f"tcp://127.0.0.1:{tcp_engine.port}"}},
            }
        )
    )
    (config / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert _build(tmp_path / "out", images[("3.11", "x86_64")], {}) == 0
    _assert_no_bind_mounts(tcp_engine.container_creations())
