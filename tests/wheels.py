"""Real wheels from the package index, downloaded once and cached between runs, and packed into
Lambda-shaped zips without extracting them to disk.

The cache lives in $LAMBDAZIP_TEST_CACHE (default ~/.cache/lambdazip-tests); a wheel already there
is used without asking the index, so only the first run on a machine needs the network.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    root = Path(os.environ.get("LAMBDAZIP_TEST_CACHE", Path.home() / ".cache" / "lambdazip-tests"))
    path = root / "wheels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def locked_version(project: str) -> str:
    """The version requirements.txt pins, so tests follow `make lock`."""
    text = (REPO / "requirements.txt").read_text()
    match = re.search(rf"^{re.escape(project)}==(\S+)", text, re.MULTILINE)
    assert match, f"{project} is not pinned in requirements.txt"
    return match[1]


def fetch(
    project: str, version: str, python: str | None = None, platform: str | None = None
) -> Path:
    """One wheel of ``project==version`` for CPython ``python`` (e.g. "313") on ``platform``
    (e.g. "manylinux2014_aarch64"); a pure wheel when both are None."""
    stem = project.replace("-", "_")
    if python is None:
        pattern = f"{stem}-{version}-py3-none-any.whl"
    else:
        assert platform is not None
        pattern = f"{stem}-{version}-cp{python}-cp{python}-*{platform}*.whl"
    cached = sorted(cache_dir().glob(pattern))
    if cached:
        return cached[0]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--only-binary=:all:", "--dest", str(cache_dir())]
    if python is not None:
        command += [
            "--python-version",
            python,
            "--implementation",
            "cp",
            "--platform",
            str(platform),
        ]
    subprocess.run([*command, f"{project}=={version}"], check=True)
    cached = sorted(cache_dir().glob(pattern))
    assert cached, f"pip downloaded no wheel matching {pattern}"
    return cached[0]


def fetch_any(
    requirement: str,
    pattern: str,
    python: str = "3.11",
    platforms: tuple[str, ...] = (),
    abi: str | None = None,
) -> Path:
    """The wheel matching ``pattern`` of an exactly pinned ``requirement`` (``name==version``),
    for CPython ``python`` on ``platforms`` (any platform when empty), downloaded once."""
    assert "==" in requirement, "pin the version: what a test downloads must not move"
    cached = sorted(cache_dir().glob(pattern))
    if cached:
        return cached[0]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--only-binary=:all:", "--dest", str(cache_dir()), "--python-version", python]
    if platforms:
        command += ["--implementation", "cp"]
        for platform in platforms:
            command += ["--platform", platform]
    if abi is not None:  # e.g. cp314t, a free-threaded build
        command += ["--abi", abi]
    subprocess.run([*command, requirement], check=True)
    cached = sorted(cache_dir().glob(pattern))
    assert cached, f"pip downloaded no wheel matching {pattern}"
    return cached[0]


def pydantic_wheels(python: str, platform: str) -> list[Path]:
    """pydantic (pure) and pydantic-core for one interpreter and platform, as locked."""
    return [
        fetch("pydantic", locked_version("pydantic")),
        fetch("pydantic-core", locked_version("pydantic-core"), python, platform),
    ]


Rewrite = Callable[[str, bytes], "tuple[str, bytes] | None"]


def pack(
    dest: Path,
    wheels: Iterable[Path],
    prefix: str = "python",
    rewrite: Rewrite | None = None,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """Copy every member of ``wheels`` into the zip ``dest`` under ``prefix``, as an installer
    would lay them out. ``rewrite(name, data)`` may rename, change or (returning None) drop one."""
    prefix = prefix.strip("/")
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as source:
                for info in source.infolist():
                    if info.is_dir():
                        continue
                    name, data = info.filename, source.read(info)
                    if rewrite is not None:
                        changed = rewrite(name, data)
                        if changed is None:
                            continue
                        name, data = changed
                    arcname = f"{prefix}/{name}" if prefix else name
                    member = zipfile.ZipInfo(arcname, info.date_time)
                    member.compress_type = zipfile.ZIP_DEFLATED
                    out.writestr(member, data)
        for name, data in (extra or {}).items():
            out.writestr(name, data)
    return dest
