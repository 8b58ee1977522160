"""A package index of local files, for containers on this engine: PEP 503 simple pages served
from the host on the engine's bridge gateway, so a build resolves against exactly these wheels
(what the test pinned and cached), never against what the index publishes tomorrow."""

from __future__ import annotations

import fcntl
import html
import re
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import docker


def _project(filename: str) -> str:
    return re.sub(r"[-_.]+", "-", filename.split("-", 1)[0]).lower()


class _Simple(SimpleHTTPRequestHandler):
    files: dict[str, list[Path]]

    def do_GET(self) -> None:  # the http.server interface
        parts = [p for p in self.path.split("?", 1)[0].split("/") if p]
        if len(parts) == 2 and parts[0] == "simple":
            wheels = self.files.get(parts[1].lower())
            if wheels is None:
                self.send_error(404)
                return
            links = "".join(
                f'<a href="/files/{html.escape(w.name)}">{html.escape(w.name)}</a>\n'
                for w in wheels
            )
            body = f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if len(parts) == 2 and parts[0] == "files":
            self.path = "/" + parts[1]
            super().do_GET()
            return
        self.send_error(404)

    def log_message(self, *_args: object) -> None:
        pass


def gateway(client: docker.DockerClient) -> str:
    """The host's address as containers on the default bridge see it: the gateway the engine
    records, or else the address of the bridge's interface on this host."""
    bridge = client.networks.get("bridge").attrs
    for config in bridge["IPAM"]["Config"] or []:
        if config.get("Gateway"):
            return str(config["Gateway"])
    name = (bridge.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("256s", name.encode()[:15])
        answer = fcntl.ioctl(probe.fileno(), 0x8915, request)  # SIOCGIFADDR
    return socket.inet_ntoa(answer[20:24])


@contextmanager
def serve(directory: Path, client: docker.DockerClient) -> Iterator[dict[str, str]]:
    """The environment that points pip and uv (through lambdazip) at ``directory`` alone."""
    files: dict[str, list[Path]] = {}
    for wheel in sorted(directory.glob("*.whl")):
        files.setdefault(_project(wheel.name), []).append(wheel)
    handler = type("Handler", (_Simple,), {"files": files})
    host = gateway(client)
    server = ThreadingHTTPServer((host, 0), partial(handler, directory=str(directory)))
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://{host}:{server.server_address[1]}/simple"
        yield {"PIP_INDEX_URL": url, "PIP_TRUSTED_HOST": host, "NO_PROXY": host, "no_proxy": host}
    finally:
        server.shutdown()
        server.server_close()
