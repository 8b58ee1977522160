"""The files the tool ships into the image, read the same way from a source checkout, an editable
install, a wheel (pip, pipx, uvx) or a zip import: through importlib.resources."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.abc import Traversable


@functools.cache  # one package for the whole run
def _package() -> Traversable:
    return resources.files("lambdazip")


def dockerfile() -> bytes:
    """The Dockerfile of the build image: package data in an installed wheel (setup.py puts it
    there), the repository's top-level file in a checkout; the same bytes either way."""
    packaged = _package() / "Dockerfile"
    if packaged.is_file():
        return packaged.read_bytes()
    return (Path(__file__).resolve().parents[2] / "Dockerfile").read_bytes()


def inside(name: str) -> bytes:
    """One of the standard-library scripts (or uv's lock) that run inside the image."""
    return (_package() / "inside" / name).read_bytes()
