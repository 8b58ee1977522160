"""Which Docker engine an architecture's containers go to, decided from the environment alone:
--engine ARCH=ENDPOINT, LAMBDAZIP_ENGINE_<ARCH> and [tool.lambdazip.engines] name one (a
DOCKER_HOST URL or a docker context); without one, the default engine (DOCKER_HOST, else the
current docker context), which may emulate. engine.py connects to what this module names."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from lambdazip.errors import EngineError


def describe_host(env: Mapping[str, str]) -> str:
    host = env.get("DOCKER_HOST")
    if host:
        return f"at DOCKER_HOST={host}"
    if env.get("DOCKER_CONTEXT"):
        return f"of docker context {env['DOCKER_CONTEXT']}"
    return "(local socket or current docker context)"


# An architecture's builds, probes and invokes go to the engine its variable names (set by
# --engine ARCH=ENDPOINT, the environment, or [tool.lambdazip.engines]); without one, to the
# default engine (DOCKER_HOST, else the current docker context), which may emulate.

ENGINE_SETTINGS = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
NATIVE = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}


def engine_variable(arch: str) -> str:
    """LAMBDAZIP_ENGINE_X86_64, LAMBDAZIP_ENGINE_ARM64."""
    return f"LAMBDAZIP_ENGINE_{arch.upper()}"


def engine_endpoint(env: Mapping[str, str], arch: str) -> str | None:
    """The endpoint named for ``arch`` (a DOCKER_HOST URL or a docker context), or None."""
    return env.get(engine_variable(arch), "").strip() or None


def with_engines(env: Mapping[str, str], endpoints: Mapping[str, str]) -> dict[str, str]:
    """``env`` with each architecture's endpoint set (these take precedence over ``env``'s)."""
    return {**env, **{engine_variable(arch): value for arch, value in endpoints.items()}}


def endpoint_label(endpoint: str | None, env: Mapping[str, str]) -> str:
    """How an endpoint is named in the manifest, labels and tables: its URL without a password,
    the context's name, or where the default engine is."""
    if endpoint is None:
        host = env.get("DOCKER_HOST")
        if host:
            endpoint = host
        elif env.get("DOCKER_CONTEXT"):
            endpoint = env["DOCKER_CONTEXT"]
        else:
            return "default"
    if "://" not in endpoint:
        return f"context {endpoint}"
    parts = urlsplit(endpoint)
    if parts.password is not None:
        netloc = f"{parts.username}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return endpoint


def endpoint_environment(env: Mapping[str, str], endpoint: str) -> dict[str, str]:
    """The settings docker-py reads, for ``endpoint`` alone: a URL becomes DOCKER_HOST (with the
    TLS settings of ``env``), a name the docker context of that name."""
    kept = {k: v for k, v in env.items() if k not in ENGINE_SETTINGS}
    if "://" in endpoint:
        for name in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
            if name in env:
                kept[name] = env[name]
        return {**kept, "DOCKER_HOST": endpoint}
    from docker.context import ContextAPI

    if ContextAPI.get_context(endpoint) is None:
        raise EngineError(
            f"there is no docker context named {endpoint!r}",
            tip="`docker context ls` lists them; or give a URL: ssh://user@host, tcp://host:2376, "
            "unix:///path/docker.sock",
        )
    return {**kept, "DOCKER_CONTEXT": endpoint}
