"""Real uv projects for the tests, locked by the pinned uv (the one lambdazip runs), with exact pins
and a fixed --exclude-newer: the same lock on any day. The lock is kept in the test cache (as the
wheels are), so only the first run on a machine asks the index."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from lambdazip.inputs.project import uv_binary
from tests.wheels import cache_dir, locked_version

LOCK_DATE = "2026-11-25T00:00:00Z"  # the Makefile's LOCK_DATE

APP = """
from pydantic import BaseModel


class Order(BaseModel):
    id: int
    items: list[str]


def handler(event, context):
    return Order.model_validate(event).model_dump()
"""


def pyproject(name: str = "orders") -> str:
    return f"""[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["pydantic=={locked_version("pydantic")}"]

[project.optional-dependencies]
fast = ["orjson==3.11.5"]

[dependency-groups]
dev = ["iniconfig==2.3.1"]
lambda = ["typing-inspection=={locked_version("typing-inspection")}"]
aws = ["jmespath==1.1.0"]  # the runtime has it too (boto3's)
science = ["numpy==2.2.6"]  # tests/ folders inside, for --prune

[build-system]
requires = ["uv_build>=0.8,<0.14"]
build-backend = "uv_build"
"""


def uv_project(directory: Path, name: str = "orders") -> Path:
    """A src-layout project with a handler (``orders.app.handler``) and its uv.lock."""
    text = pyproject(name)
    (directory / "src" / name).mkdir(parents=True)
    (directory / "src" / name / "__init__.py").write_text("")
    (directory / "src" / name / "app.py").write_text(APP)
    (directory / "pyproject.toml").write_text(text)
    key = hashlib.sha256(f"{text}{LOCK_DATE}".encode()).hexdigest()[:16]
    cached = cache_dir().parent / "locks" / f"uv-{key}.lock"
    if not cached.is_file():
        subprocess.run(
            [uv_binary(), "lock", "--exclude-newer", LOCK_DATE, "--quiet", "--no-progress"],
            cwd=directory,
            check=True,
        )
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(directory / "uv.lock", cached)
    shutil.copyfile(cached, directory / "uv.lock")
    return directory


def export_pylock(directory: Path, *options: str) -> Path:
    """The project's uv.lock as pylock.toml beside it, by the pinned uv, offline."""
    command = [uv_binary(), "export", "--format", "pylock.toml", "--frozen", "--no-emit-project"]
    command += ["--quiet", "--output-file", "pylock.toml", *options]
    subprocess.run(command, cwd=directory, check=True, capture_output=True)
    return directory / "pylock.toml"
