"""The container engine (the Docker SDK for Python): with container.py (one container's life) and
local_socket.py (a no-op build's two questions), the only code that talks to it.

Everything crosses the engine's API: images are pulled and built through it, files go into a
container with put_archive and come out with get_archive. No bind mounts and no docker CLI, so a
remote engine (DOCKER_HOST=tcp://..., ssh://..., a docker context) works like a local one, and no
root-owned file ever lands on the host.

The SDK (with requests and urllib3: 0.2-0.3 s of imports) is loaded when first needed. A no-op
build only asks the engine its version and two images' IDs; on the local Unix socket those two
read-only questions are asked with the standard library, and anything unexpected in the answer
hands the question to the SDK, which then says what went wrong.
"""

from __future__ import annotations

import io
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Literal
from urllib.parse import quote

from lambdazip.build.container import Container
from lambdazip.build.endpoints import (
    NATIVE,
    describe_host,
    endpoint_environment,
    endpoint_label,
    engine_endpoint,
    engine_variable,
)
from lambdazip.build.local_socket import ABSENT, local_get, local_socket
from lambdazip.errors import (
    ContainerError,
    EngineError,
    EngineLost,
    ImageError,
)
from lambdazip.interrupts import uninterrupted

if TYPE_CHECKING:
    import docker

LABEL = "io.lambdazip"  # on every container and temporary volume, so leftovers can be found
ENGINE_LABEL = "io.lambdazip.build.engine"  # on every container: the endpoint it was sent to
CACHE_LABEL = "io.lambdazip.cache"  # on the download caches, which are meant to stay
# on every container and temporary volume: the run that made it (LAMBDAZIP_RUN_ID, e.g. a CI job's
# id, else this host and process), so one run's leftovers can be told from another's
RUN_LABEL = "io.lambdazip.run"
RUN_VARIABLE = "LAMBDAZIP_RUN_ID"


def run_id() -> str:
    """This run's RUN_LABEL: the process's LAMBDAZIP_RUN_ID, else its host and process id."""
    return os.environ.get(RUN_VARIABLE) or f"{socket.gethostname()}-{os.getpid()}"


REMOVAL_PATIENCE = 20.0  # seconds an engine under load may take to remove a container
MIN_API_VERSION = (1, 41)  # platform on container create (Docker Engine 20.10)


@dataclass(frozen=True)
class VolumeMount:
    volume: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class ImageInfo:
    reference: str
    id: str
    architecture: str
    variant: str | None
    os: str
    repo_digests: tuple[str, ...]

    @classmethod
    def of(cls, reference: str, attrs: Mapping[str, Any]) -> ImageInfo:
        return cls(
            reference=reference,
            id=str(attrs["Id"]),
            architecture=str(attrs.get("Architecture", "")),
            variant=attrs.get("Variant"),
            os=str(attrs.get("Os", "")),
            # Podman makes one up for an image no registry served (localhost/NAME@...): none
            repo_digests=tuple(
                d for d in attrs.get("RepoDigests") or () if not str(d).startswith("localhost/")
            ),
        )


def _engine_lost(exc: BaseException, cleanup: str | None = None) -> EngineLost:
    tip = "check that the engine runs, then build again"
    if cleanup:
        tip += f"; if it comes back, `{cleanup}` removes what this job left there"
    return EngineLost(
        f"lost the connection to the Docker engine ({type(exc).__name__}); nothing was written",
        tip=tip,
    )


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return str(text).strip().splitlines()[0] if str(text).strip() else type(exc).__name__


@dataclass(frozen=True)
class EngineInfo:
    """Which engine ran a job: recorded in the manifest and shown by matrix."""

    endpoint: str  # endpoint_label(): a URL without its password, "context NAME" or "default"
    arch: str  # the engine's own CPU, as Lambda names it (x86_64, arm64), or what it reports
    os: str
    version: str
    product: Literal["docker", "podman"] = "docker"  # its Docker API differs: engine_product


def engine_product(version: Mapping[str, Any]) -> Literal["docker", "podman"]:
    """Which engine serves the Docker API, from its /version: Podman names its component
    "Podman Engine" (Docker: "Engine"). What differs is handled where it matters: the names of
    a volume's archive (Container.get), loading an image (refused), made-up repo digests."""
    components = version.get("Components") or []
    names = {str(c.get("Name", "")) for c in components if isinstance(c, dict)}
    return "podman" if any(n.startswith("Podman") for n in names) else "docker"


def _sdk_client(settings: Mapping[str, str], version: str | None = None) -> docker.DockerClient:
    import docker

    # never an empty mapping: docker-py reads os.environ instead of an empty one;
    # ssh:// goes through the system's ssh client, as the docker CLI does; a known API version
    # spares the client asking for it again
    return docker.from_env(
        environment={"LAMBDAZIP": "1", **settings}, use_ssh_client=True, version=version
    )


class Engine:
    def __init__(
        self,
        client: docker.DockerClient | None,
        info: EngineInfo | None = None,
        settings: Mapping[str, str] | None = None,
        local: tuple[str, str] | None = None,
    ) -> None:
        self._client = client
        self._settings = dict(settings or {})
        self._local = local  # (Unix socket, API version) for the read-only questions
        self.info = info or EngineInfo("default", "", "", "")

    @property
    def client(self) -> docker.DockerClient:
        """docker-py's client, made (and the SDK imported) on first use."""
        if self._client is None:
            known = self._local[1] if self._local else None
            self._client = _sdk_client(self._settings, known)
        return self._client

    @property
    def api(self) -> docker.APIClient:
        return self.client.api

    @classmethod
    def connect(cls, env: Mapping[str, str], arch: str | None = None) -> Engine:
        """Reach the engine for ``arch``: the endpoint LAMBDAZIP_ENGINE_<ARCH> names, which must
        run ``arch`` natively; else the default one (DOCKER_HOST, DOCKER_TLS_VERIFY,
        DOCKER_CERT_PATH, else the current context). Unreachable, too old, or not native: one
        EngineError with the fix, before anything is built."""
        arch = str(getattr(arch, "value", arch)) if arch else None  # an Arch, or its name
        endpoint = engine_endpoint(env, arch) if arch else None
        settings = dict(env) if endpoint is None else endpoint_environment(env, endpoint)
        label = endpoint_label(endpoint, env)
        tip = (
            "start Docker (Docker Desktop, or `sudo systemctl start docker`), or point "
            "DOCKER_HOST at a running engine"
        )
        if endpoint is not None:
            tip = f"check that the engine at {label} runs and answers, or change --engine {arch}="
        client = None
        local = local_socket(settings)
        version = local_get(local, "/version") if local else None
        if not isinstance(version, dict):
            from docker.errors import DockerException
            from requests.exceptions import RequestException

            local = None
            try:
                client = _sdk_client(settings)
                version = client.version()
            except DockerException as exc:
                where = f"for {arch} at {label}" if endpoint else describe_host(settings)
                raise EngineError(
                    f"cannot reach the Docker engine {where}: {_first_line(exc)}", tip=tip
                ) from exc
            except RequestException as exc:
                raise EngineError(
                    f"cannot reach the Docker engine at {label}: {_first_line(exc)}", tip=tip
                ) from exc
        api_version = str(version.get("ApiVersion", "0.0"))
        api = tuple(int(p) for p in api_version.split(".")[:2])
        if api < MIN_API_VERSION:
            if client is not None:
                client.close()
            raise EngineError(
                f"the Docker engine{f' at {label}' if endpoint else ''} speaks API {api_version}, "
                "older than "
                f"{'.'.join(map(str, MIN_API_VERSION))}",
                tip="upgrade Docker Engine to 20.10 or newer",
            )
        reported = str(version.get("Arch", ""))
        info = EngineInfo(
            endpoint=label,
            arch=NATIVE.get(reported, reported),
            os=str(version.get("Os", "")),
            version=str(version.get("Version", "")),
            product=engine_product(version),
        )
        if arch is not None and endpoint is not None and info.arch != arch:
            if client is not None:
                client.close()
            raise EngineError(
                f"the engine for {arch} at {label} runs on {info.arch or 'another CPU'}: it would "
                f"run {arch} containers only under emulation, 5-30x slower",
                tip=f"point --engine {arch}= (or {engine_variable(arch)}) at a native {arch} "
                f"engine, or leave it out to build {arch} on the default engine",
            )
        return cls(client, info, settings, (local, api_version) if local else None)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._client is not None:
            self._client.close()

    # -- images -----------------------------------------------------------------------------------

    def image(self, reference: str) -> ImageInfo | None:
        if self._local is not None:
            path, api_version = self._local
            found = local_get(path, f"/v{api_version}/images/{quote(reference, safe='/:@')}/json")
            if found is ABSENT:
                return None
            if isinstance(found, dict):
                return ImageInfo.of(reference, found)
        from docker.errors import APIError, ImageNotFound
        from requests.exceptions import RequestException

        try:
            return ImageInfo.of(reference, self.api.inspect_image(reference))
        except ImageNotFound:
            return None
        except APIError as exc:
            raise ImageError(f"cannot inspect image {reference}: {_first_line(exc)}") from exc
        except RequestException as exc:
            raise _engine_lost(exc) from exc

    def pull(
        self,
        reference: str,
        platform: str,
        status: Callable[[str], None] | None = None,
        transferred: Callable[[int, int], None] | None = None,
    ) -> ImageInfo:
        """Pull ``reference`` for ``platform``, reporting status lines and the bytes of all layers
        downloaded so far against their total."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        layers: dict[str, tuple[int, int]] = {}
        try:
            for event in self.api.pull(reference, platform=platform, stream=True, decode=True):
                if "error" in event:
                    raise ImageError(f"cannot pull {reference} for {platform}: {event['error']}")
                detail = event.get("progressDetail") or {}
                if event.get("status") == "Downloading" and detail.get("total"):
                    layers[str(event.get("id"))] = (int(detail["current"]), int(detail["total"]))
                    if transferred is not None:
                        done = sum(c for c, _ in layers.values())
                        transferred(done, sum(t for _, t in layers.values()))
                elif status is not None and event.get("status") and not detail:
                    status(f"{event.get('id', '')} {event['status']}".strip())
        except DockerException as exc:
            raise ImageError(
                f"{reference} is not on this engine and cannot be pulled for {platform}: "
                f"{_first_line(exc)}",
                tip="check the name and your network or registry login, or pass a local image "
                "with --base-image",
            ) from exc
        except RequestException as exc:
            raise _engine_lost(exc) from exc
        info = self.image(reference)
        if info is None:
            raise ImageError(f"{reference} was pulled but the engine does not list it")
        return info

    def build(
        self,
        context: bytes,
        tag: str,
        platform: str,
        buildargs: Mapping[str, str],
        labels: Mapping[str, str],
        progress: Callable[[str], None] | None = None,
    ) -> ImageInfo:
        """Build the Dockerfile in the tar ``context`` (legacy builder; the base is local)."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        try:
            for event in self.api.build(
                fileobj=io.BytesIO(context),
                custom_context=True,
                tag=tag,
                platform=platform,
                buildargs=dict(buildargs),
                labels=dict(labels),
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
            ):
                if "error" in event:
                    raise ImageError(f"cannot build {tag}: {str(event['error']).strip()}")
                if progress and event.get("stream", "").strip():
                    progress(event["stream"].strip())
        except DockerException as exc:
            raise ImageError(f"cannot build {tag}: {_first_line(exc)}") from exc
        except RequestException as exc:
            raise _engine_lost(exc) from exc
        info = self.image(tag)
        if info is None:
            raise ImageError(f"{tag} was built but the engine does not list it")
        return info

    def inspect(self, reference: str) -> dict[str, Any] | None:
        """The engine's whole record of an image (its Config: Cmd, Entrypoint, Env, ...)."""
        from docker.errors import APIError, ImageNotFound
        from requests.exceptions import RequestException

        try:
            return dict(self.api.inspect_image(reference))
        except ImageNotFound:
            return None
        except APIError as exc:
            raise ImageError(f"cannot inspect image {reference}: {_first_line(exc)}") from exc
        except RequestException as exc:
            raise _engine_lost(exc) from exc

    def save(self, reference: str) -> Iterator[bytes]:
        """The image as the archive ``docker save`` writes, in chunks."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        try:
            yield from self.api.get_image(reference, chunk_size=1024 * 1024)
        except DockerException as exc:
            raise ImageError(f"cannot read image {reference}: {_first_line(exc)}") from exc
        except RequestException as exc:
            raise _engine_lost(exc) from exc

    def load(self, archive: BinaryIO | Iterator[bytes]) -> None:
        """Load an archive in ``docker load``'s format (the engine's API: a remote engine too)."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        self.require_partial_load()
        try:
            for event in self.api.load_image(archive):
                if isinstance(event, dict) and "error" in event:
                    raise ImageError(f"the engine refused the image: {event['error']}")
        except DockerException as exc:
            raise ImageError(f"the engine refused the image: {_first_line(exc)}") from exc
        except RequestException as exc:
            raise _engine_lost(exc) from exc

    def require_partial_load(self) -> None:
        """An image is loaded from an archive of only its new layers (the base's are named, not
        sent): Podman refuses those (podman#8132), so `image` refuses Podman before it builds."""
        if self.info.product == "podman":
            raise ImageError(
                f"Podman {self.info.version} at {self.info.endpoint} loads only archives that "
                "hold every layer of an image, and `image` sends the new layers alone",
                tip="build images with Docker (Docker Desktop, colima, OrbStack or Rancher "
                "Desktop serve it); layers and functions build on Podman as they are",
            )

    def tag(self, image_id: str, reference: str) -> None:
        from docker.errors import DockerException

        repository, _, tag = reference.rpartition(":")
        if not repository or "/" in tag:
            repository, tag = reference, "latest"
        try:
            self.api.tag(image_id, repository, tag, force=True)
        except DockerException as exc:
            raise ImageError(f"cannot tag the image {reference}: {_first_line(exc)}") from exc

    def remove_image(self, reference: str) -> None:
        """Remove an image of ours (a job image made on a user's image); absent is fine."""
        from docker.errors import APIError, NotFound
        from requests.exceptions import RequestException

        try:
            with uninterrupted():
                self.api.remove_image(reference, force=True, noprune=False)
        except NotFound:
            pass
        except (APIError, RequestException) as exc:
            raise ImageError(
                f"could not remove image {reference}: {_first_line(exc)}",
                tip=f"remove it by hand: docker rmi {reference}",
            ) from exc

    # -- containers -------------------------------------------------------------------------------

    @contextmanager
    def container(
        self,
        image: str,
        command: Sequence[str],
        *,
        platform: str,
        environment: Mapping[str, str],
        purpose: str,
        read_only: bool = False,
        tmpfs: Mapping[str, str] | None = None,
        volumes: Sequence[VolumeMount] = (),
        user: str | None = None,
        memory_mb: int | None = None,
        auto_remove: bool = False,
    ) -> Iterator[Container]:
        """A uniquely named, labelled container, removed on the way out whatever happens
        (success, error, Ctrl-C), also when creating it fails half-way; ``auto_remove``: also
        by the engine when its command ends (a warm container whose process was killed)."""
        from docker.types import Mount

        name = f"lambdazip-{purpose}-{secrets.token_hex(4)}"
        container_id: str | None = None
        try:
            with self.failures(name):
                memory = f"{memory_mb}m" if memory_mb else None
                host_config = self.api.create_host_config(
                    mem_limit=memory,
                    memswap_limit=memory,  # no swap: the limit is the limit, as on Lambda
                    read_only=read_only,
                    tmpfs=dict(tmpfs) if tmpfs else None,
                    auto_remove=auto_remove,
                    mounts=[
                        Mount(v.target, v.volume, type="volume", read_only=v.read_only)
                        for v in volumes
                    ],
                )
                created = self.api.create_container(
                    image,
                    command=list(command),
                    entrypoint=[],
                    name=name,
                    labels={LABEL: purpose, ENGINE_LABEL: self.info.endpoint, RUN_LABEL: run_id()},
                    environment=dict(environment),
                    platform=platform,
                    host_config=host_config,
                    network_disabled=False,
                    user=user or "",
                )
                container_id = str(created["Id"])
                yield Container(self, container_id, name, platform)
        finally:
            failing = sys.exc_info()[0]
            # interrupted while the engine was creating it: it may appear after our first try
            patience = 10.0 if container_id is None and failing is KeyboardInterrupt else 0.0
            with uninterrupted():  # a Ctrl-C now waits for the removal, then unwinds
                self._remove(container_id or name, failing is not None, patience)

    @contextmanager
    def failures(self, name: str) -> Iterator[None]:
        """The engine's errors while container ``name`` is made or used, as this tool's: one
        line, and the command that removes it if the engine was lost on the way."""
        from docker.errors import DockerException
        from requests.exceptions import RequestException

        try:
            yield
        except DockerException as exc:
            raise ContainerError(f"container {name} failed: {_first_line(exc)}") from exc
        except RequestException as exc:
            raise _engine_lost(exc, f"docker rm -f {name}") from exc

    @contextmanager
    def volume(self, purpose: str) -> Iterator[str]:
        """A uniquely named, labelled volume for one job, removed on the way out."""
        from docker.errors import APIError, DockerException, NotFound
        from requests.exceptions import RequestException

        name = f"lambdazip-{purpose}-{secrets.token_hex(4)}"
        try:
            self.api.create_volume(name, labels={LABEL: purpose, RUN_LABEL: run_id()})
            yield name
        except DockerException as exc:
            raise ContainerError(f"volume {name} failed: {_first_line(exc)}") from exc
        except RequestException as exc:
            raise _engine_lost(exc, f"docker volume rm {name}") from exc
        finally:
            failing = sys.exc_info()[0] is not None
            try:
                with uninterrupted():
                    self.api.remove_volume(name, force=True)
            except NotFound:
                pass
            except (APIError, RequestException) as exc:
                if not failing:  # never hide the error that is on its way out
                    raise ContainerError(
                        f"could not remove volume {name}: {_first_line(exc)}",
                        tip=f"remove it by hand: docker volume rm {name}",
                    ) from exc

    def cache_volume(self, name: str) -> str:
        """A named volume that outlives builds (the download cache); created if absent."""
        from docker.errors import DockerException

        try:
            self.api.create_volume(name, labels={CACHE_LABEL: "downloads"})
        except DockerException as exc:
            raise ContainerError(
                f"cannot create the cache volume {name}: {_first_line(exc)}"
            ) from exc
        return name

    def _remove(self, container: str, failing: bool, patience: float = 0.0) -> None:
        """Remove ``container``, and see it gone: an engine under load may refuse at first (a
        kill still under way) or be removing it already (409); it is asked again until it says
        the container is gone, for at most REMOVAL_PATIENCE seconds. With ``patience``, keep
        looking that long for a container that is not there yet. If removing fails while
        another error is on its way out, that error (which names the container when the engine
        was lost) is the one the user sees."""
        from docker.errors import APIError, NotFound
        from requests.exceptions import RequestException

        started = time.monotonic()
        asked = False  # once refused, NotFound means gone, not "not there yet"
        try:
            while True:
                try:
                    self.api.remove_container(container, force=True, v=True)
                    return
                except NotFound:
                    if asked or time.monotonic() >= started + patience:
                        return
                    time.sleep(0.1)
                except APIError:
                    if time.monotonic() >= started + REMOVAL_PATIENCE:
                        raise
                    asked = True
                    time.sleep(0.5)
        except (APIError, RequestException) as exc:
            if not failing:
                raise ContainerError(
                    f"could not remove container {container}: {_first_line(exc)}",
                    tip=f"remove it by hand: docker rm -f {container}",
                ) from exc
