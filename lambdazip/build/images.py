"""The two images a job needs: the base (the Lambda image of the target, verified to be of its
platform) and the build image derived from it by the Dockerfile, which every job runs in."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Protocol

from lambdazip.build import resources
from lambdazip.build.engine import Engine, ImageInfo
from lambdazip.errors import ImageError
from lambdazip.inside.lambdazip_contract import FILES
from lambdazip.targets import Target

BUILD_IMAGE_REPOSITORY = "lambdazip-build"


class Progress(Protocol):
    """Where long jobs report: a step begins; a line of a tool's output; bytes moved so far."""

    def step(self, title: str) -> None: ...

    def detail(self, line: str) -> None: ...

    def transfer(self, what: str, done: int, total: int) -> None: ...


def resolve_base_image(
    engine: Engine, reference: str, target: Target, progress: Progress, shown: str | None = None
) -> ImageInfo:
    """The base image, pulled for the target's platform if absent, and of that platform.
    ``shown``: the name the user knows it by, when ``reference`` is its ID on this engine."""
    named = f"{shown} ({reference} here)" if shown and shown != reference else reference
    progress.step(f"resolving the base image {shown or reference}")
    platform = target.arch.info.oci_platform
    info = engine.image(reference)
    if info is None:
        progress.step(f"pulling {reference} for {platform}")
        info = engine.pull(
            reference,
            platform,
            progress.detail,
            lambda done, total: progress.transfer("pulling", done, total),
        )
    if info.architecture != target.arch.info.oci_architecture or info.os not in ("linux", ""):
        raise ImageError(
            f"{named} is an image for {info.os}/{info.architecture}, but the target "
            f"{target.arch.value} needs {platform}",
            tip=f"use the arch-suffixed tag ({target.runtime.image(target.arch)}) or a "
            "digest of that platform; a tag holds one platform on this engine",
        )
    return info


@functools.cache  # the same files for the whole run: read once
def _context_files() -> dict[str, bytes]:
    files = {"Dockerfile": resources.dockerfile()}
    return files | {f"lambdazip/inside/{name}": resources.inside(name) for name in FILES}


@functools.cache
def build_context_digest() -> str:
    """A digest of what the build image is built from (part of every cache key)."""
    digest = hashlib.sha256()
    for name, data in sorted(_context_files().items()):
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def build_context() -> tuple[bytes, str]:
    """The tar the engine builds the build image from, and a digest of what is in it."""
    from lambdazip.build.transfer import tar_files  # only when an image is built

    return tar_files(_context_files()), build_context_digest()


def build_image_tag(base_id: str, target: Target) -> str:
    """The build image's name: one per content of the Dockerfile and scripts, base and platform."""
    platform = target.arch.info.oci_platform
    digest = build_context_digest()
    key = hashlib.sha256(f"{digest} {base_id} {platform}".encode()).hexdigest()[:16]
    return f"{BUILD_IMAGE_REPOSITORY}:{key}"


def inside_files() -> dict[str, bytes]:
    """What the Dockerfile copies into the build image, by name."""
    return {name: resources.inside(name) for name in FILES}


def build_image(engine: Engine, base: ImageInfo, target: Target, progress: Progress) -> ImageInfo:
    """The build image (Dockerfile) on ``base``, built once per content and base."""
    platform = target.arch.info.oci_platform
    tag = build_image_tag(base.id, target)
    cached = engine.image(tag)
    if cached is not None:
        return cached
    context, _ = build_context()
    progress.step(f"building the build image {tag} on {base.reference}")
    return engine.build(
        context,
        tag,
        platform,
        buildargs={"BASE_IMAGE": base.id},
        labels={"io.lambdazip.base": base.reference},
        progress=progress.detail,
    )


def job_image(
    engine: Engine, reference: str, target: Target, progress: Progress, shown: str | None = None
) -> tuple[ImageInfo, ImageInfo]:
    """The verified base image and the build image on it (``shown``: as resolve_base_image)."""
    base = resolve_base_image(engine, reference, target, progress, shown)
    if shown:
        base = dataclasses.replace(base, reference=shown)
    return base, build_image(engine, base, target, progress)
