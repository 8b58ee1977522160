"""Engine endpoints for the tests: a TCP loopback endpoint in front of the local engine's socket
(which keeps what crossed it), and docker contexts written where docker-py reads them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
from pathlib import Path

ENGINE_SOCKET = "/var/run/docker.sock"


def docker_context(config: Path, name: str, host: str, current: bool = False) -> Path:
    """A docker context ``name`` for the engine at ``host`` in the docker config directory
    ``config`` (set DOCKER_CONFIG to it); the current one if ``current``. Returns ``config``."""
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    endpoints = {"docker": {"Host": host}}
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": endpoints})
    )
    (config / "config.json").write_text(json.dumps({"currentContext": name} if current else {}))
    return config


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
