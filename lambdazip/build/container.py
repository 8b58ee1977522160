"""One container's life, as engine.py's Engine.container() hands it out: files in (put), run with
its output streamed, files out (get). With engine.py and local_socket.py, all that talks to the
container engine."""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, BinaryIO

from lambdazip.errors import ContainerError, EmulationMissing, TimedOut

if TYPE_CHECKING:
    from lambdazip.build.engine import Engine


class Container:
    def __init__(self, engine: Engine, container_id: str, name: str, platform: str) -> None:
        self.engine = engine
        self.id = container_id
        self.name = name
        self.platform = platform
        self.killed = False

    def _kill(self) -> None:
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        self.killed = True
        with suppress(DockerException, RequestException):  # it may have ended meanwhile
            self.engine.api.kill(self.id)

    def put(self, path: str, tar: bytes | BinaryIO) -> None:
        """Unpack the tar ``tar`` (bytes, or a file streamed to the engine) at ``path`` (which
        must exist) in the container."""
        if not self.engine.api.put_archive(self.id, path, tar):
            raise ContainerError(f"could not copy files to {path} in {self.name}")

    def run(self, output: Callable[[str], None], timeout: float | None = None) -> int:
        """Start, stream the output line by line, wait; the exit code. After ``timeout`` seconds
        the container is killed and :class:`TimedOut` raised."""
        api = self.engine.api
        api.start(self.id)
        killer = threading.Timer(timeout, self._kill) if timeout else None
        if killer is not None:
            killer.daemon = True
            killer.start()
        try:
            logs = api.logs(self.id, stream=True, follow=True, stdout=True, stderr=True)
            first = _lines(logs, output)
            code = int(api.wait(self.id)["StatusCode"])
        finally:
            if killer is not None:
                killer.cancel()
        if self.killed:
            raise TimedOut(f"timed out after {timeout:g} seconds")
        if code != 0 and b"exec format error" in first:
            arch = self.platform.split("/")[-1]
            raise EmulationMissing(
                f"the Docker engine cannot run {self.platform} containers: it has no emulation "
                f"for {arch}",
                tip="on Linux: sudo apt-get install qemu-user-static binfmt-support (or docker run "
                f"--privileged --rm tonistiigi/binfmt --install {arch}); Docker Desktop has it; "
                f"or build on a native {arch} machine",
            )
        return code

    def start(self) -> None:
        """Start it (its command runs on: a warm container's, until it is removed)."""
        self.engine.api.start(self.id)

    def running(self) -> bool:
        from docker.errors import NotFound

        try:
            return bool(self.engine.api.inspect_container(self.id)["State"]["Running"])
        except NotFound:
            return False

    def exec(self, command: list[str], output: Callable[[str], None]) -> int:
        """Run ``command`` in the started container, its output streamed line by line; the exit
        code (a warm container's build: no new container, a tenth of a second less to wait)."""
        api = self.engine.api
        created = api.exec_create(self.id, command, stdout=True, stderr=True)
        _lines(api.exec_start(created["Id"], stream=True), output)
        code = api.exec_inspect(created["Id"])["ExitCode"]
        return -1 if code is None else int(code)

    def out_of_memory(self) -> bool:
        """Whether the kernel killed it for going over its memory limit."""
        return bool(self.engine.api.inspect_container(self.id)["State"].get("OOMKilled"))

    def get(self, path: str) -> Iterator[bytes]:
        """The tar stream of ``path`` in the container."""
        from docker.errors import NotFound

        try:
            stream, _stat = self.engine.api.get_archive(self.id, path)
        except NotFound as exc:
            raise ContainerError(f"{path} does not exist in {self.name}") from exc
        if self.engine.info.product == "podman":  # a volume's root comes as "", "/f", "/d/g"
            from lambdazip.build.transfer import named_under

            yield from named_under(stream, posixpath.basename(path.rstrip("/")))
            return
        yield from stream


def _lines(chunks: Iterator[bytes], output: Callable[[str], None]) -> bytes:
    """Each line of a stream of output to ``output``; its first bytes (what a CPU the engine
    cannot run says: "exec format error")."""
    pending = first = b""
    for chunk in chunks:
        first = first or chunk[:512]
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            output(line.decode("utf-8", "replace").rstrip())
    if pending:
        output(pending.decode("utf-8", "replace").rstrip())
    return first
