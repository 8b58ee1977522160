"""Image references (``registry/repository:tag@digest``) read by docker's own rules, so that a name
means here what it means to ``docker pull``: no registry part is Docker Hub (``docker.io``), a
one-component name there is an official image (``library/NAME``), and a first component is a
registry only if it has a ``.`` or a ``:`` or is ``localhost``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from lambdazip.errors import UsageError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"  # where docker.io's distribution API answers
_LEGACY_HUB = "index.docker.io"

# distribution/reference's grammar (regexp.go); a digest is sha256 only, the one we verify
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_NAME_MAX = 255  # registry + repository, as docker counts it
_LOOPBACK = {"localhost", "127.0.0.1", "[::1]"}

_TIP = (
    "write it as [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST], "
    "e.g. public.ecr.aws/lambda/python:3.13"
)


def _bad(text: str, why: str) -> UsageError:
    return UsageError(f"invalid image reference {text!r}: {why}", tip=_TIP)


def _check_digest(digest: str, text: str) -> str:
    if not DIGEST.fullmatch(digest):
        raise _bad(text, "a digest is sha256: and 64 lowercase hex digits")
    return digest


def _check_tag(tag: str, text: str) -> str:
    if not _TAG.fullmatch(tag):
        raise _bad(text, "a tag is up to 128 letters, digits, '_', '.' and '-' (not first)")
    return tag


@dataclass(frozen=True)
class Reference:
    """One image in one registry: a tag, a digest, both (the digest decides) or neither
    (``latest``, as docker reads it)."""

    registry: str  # as written (host[:port]), docker.io for Docker Hub
    repository: str  # library/python for the official images
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """``parse(text)``, for callers that hold only the class."""
        return parse(text)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def manifest_reference(self) -> str:
        """What to ask the registry's manifest endpoint for: the digest if pinned (a tag beside
        it is only a label, as for docker), else the tag, else ``latest``."""
        return self.digest or self.tag or "latest"

    @property
    def api_host(self) -> str:
        """The host (and port) that serves the distribution API for this registry."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def insecure(self) -> bool:
        """A loopback registry is spoken to in plain http, as docker does; anything else is
        https only (a registry on another host without TLS is a configuration we refuse)."""
        host = self.registry
        if not host.startswith("["):
            host = host.partition(":")[0]
        elif "]" in host:
            host = host[: host.index("]") + 1]
        return host in _LOOPBACK

    def with_digest(self, digest: str) -> Reference:
        """The same image pinned to ``digest`` (the tag stays, as a label)."""
        return dataclasses.replace(self, digest=_check_digest(digest, digest))

    def with_tag(self, tag: str) -> Reference:
        """The image this repository will call ``tag``. The digest is dropped: it named the
        bytes of the old reference, and a tag is a name for whatever is pushed next."""
        return dataclasses.replace(self, tag=_check_tag(tag, tag), digest=None)


def parse(text: str) -> Reference:
    """Read ``text`` as docker reads an image reference; a UsageError says what is wrong."""
    if not text or text != text.strip():
        raise _bad(text, "it is empty or has spaces around it")
    name, at, digest = text.partition("@")
    if at:
        _check_digest(digest, text)
    # the tag's ':' is the last one after the last '/' (a registry's port has one before it)
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag: str | None = None
    if colon > slash:
        name, tag = name[:colon], _check_tag(name[colon + 1 :], text)

    first, slash_found, rest = name.partition("/")
    if slash_found and (("." in first or ":" in first) or first == "localhost"):
        registry, repository = first, rest
        if not _DOMAIN.fullmatch(registry):
            raise _bad(text, f"{registry!r} is not a registry host[:port]")
    elif slash_found and first.lower() != first:
        # Foo/bar: docker's versions disagree (Docker Hub's, or a registry named Foo); a typo
        raise _bad(text, "a repository name must be lowercase")
    else:
        registry, repository = DOCKER_HUB, name
    if registry == _LEGACY_HUB:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"

    if repository.lower() != repository:
        raise _bad(text, "a repository name must be lowercase")
    if not all(_PATH_COMPONENT.fullmatch(part) for part in repository.split("/")):
        raise _bad(
            text,
            "each part of a repository name is lowercase letters and digits, joined by "
            "'.', '_', '__' or dashes",
        )
    if len(registry) + 1 + len(repository) > _NAME_MAX:
        raise _bad(text, f"the name is longer than {_NAME_MAX} characters")
    return Reference(registry, repository, tag, digest or None)
