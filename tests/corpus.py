"""A corpus of (distribution set, runtime, architecture) combinations from real wheels, laid out
the ways people lay them out, rightly and wrongly, for tests/test_corpus.py, which holds `check`'s
static verdict against what really happens when Lambda's non-root user imports them.

Every wheel is pinned (name, version) and cached by tests/wheels.py: the index moving changes
nothing. A combination is a function zip (packages at its root) of one package's wheel (with its
pure-Python dependencies) chosen for one of these layouts:

- right: the wheel for the runtime's Python on its CPU (manylinux);
- other-cpu: for the runtime's Python, but the other CPU (the classic `--platform` mistake);
- other-python: for another CPython (the classic `--python-version` mistake);
- musl: a musllinux wheel (an Alpine build);
- macos: a macOS wheel (installed on a Mac, zipped as is).
"""

from __future__ import annotations

import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests import wheels

# name: (version, pure-Python dependencies (name, version) that importing it needs)
PACKAGES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "pydantic-core": (wheels.locked_version("pydantic-core"), (("typing-extensions", "4.16.0"),)),
    "orjson": ("3.13.0", ()),
    "msgpack": ("1.2.4", ()),
    "ujson": ("6.1.0", ()),
    "markupsafe": ("3.0.4", ()),
    "regex": ("2026.12.2", ()),
    "charset-normalizer": ("3.5.3", ()),
    "pyyaml": ("6.0.4", ()),
    "rpds-py": ("2026.9.1", ()),
    "multidict": ("7.2.1", (("typing-extensions", "4.16.0"),)),
    "frozenlist": ("1.8.0", ()),
    "cffi": ("2.1.1", (("pycparser", "3.12"),)),
    "bcrypt": ("5.0.0", ()),
    "simplejson": ("4.3.0", ()),
    "psutil": ("7.2.2", ()),
}
# (runtime, architecture): every stand-in there is (arm64 runs emulated; python3.13 on arm64 is
# the `slow` one; python3.15 is a preview, for which not every package publishes wheels yet)
TARGETS = (
    ("3.11", "x86_64"),
    ("3.13", "x86_64"),
    ("3.14", "x86_64"),
    ("3.15", "x86_64"),
    ("3.11", "arm64"),
    ("3.13", "arm64"),
)
LAYOUTS = ("right", "other-cpu", "other-python", "musl", "macos")


def _platforms(layout: str, arch: str) -> tuple[tuple[str, ...], str]:
    """pip's --platform values for a layout on a target CPU, and the wheel file's pattern."""
    cpu = {"x86_64": "x86_64", "arm64": "aarch64"}[arch]
    other = "aarch64" if cpu == "x86_64" else "x86_64"
    if layout in ("right", "other-python", "other-cpu"):
        machine = other if layout == "other-cpu" else cpu
        tags = ("manylinux_2_17", "manylinux2014", "manylinux_2_5", "manylinux1", "manylinux2010")
        return tuple(f"{t}_{machine}" for t in tags), f"*linux*{machine}"
    if layout == "musl":
        return (f"musllinux_1_1_{cpu}", f"musllinux_1_2_{cpu}"), f"*musllinux*{cpu}"
    macs = ("macosx_11_0_arm64", "macosx_10_9_x86_64", "macosx_10_9_universal2")
    return (*macs, "macosx_10_12_x86_64", "macosx_10_13_x86_64", "macosx_10_15_x86_64"), "*macosx"


@dataclass(frozen=True)
class Combination:
    package: str
    runtime: str  # "3.13"
    arch: str  # "x86_64", "arm64"
    layout: str
    wheels: tuple[Path, ...]  # the package's wheel, then its dependencies'

    @property
    def id(self) -> str:
        return f"{self.package}-{self.runtime}-{self.arch}-{self.layout}"

    @property
    def wheel_python(self) -> str:
        if self.layout != "other-python":
            return self.runtime
        return "3.13" if self.runtime == "3.11" else "3.11"


def _wheel(package: str, python: str, arch: str, layout: str) -> Path | None:
    """The pinned wheel of ``package`` for CPython ``python`` in ``layout``; None if it publishes
    none (a combination that cannot be made is left out, and said in the table)."""
    version, _ = PACKAGES[package]
    stem = package.replace("-", "_")
    tag = python.replace(".", "")
    platforms, platform = _platforms(layout, arch)
    # the runtime's Python, or a stable-ABI build it can load
    for pattern, abi in (
        (f"{stem}-{version}-cp{tag}-cp{tag}-{platform}*.whl", f"cp{tag}"),
        (f"{stem}-{version}-cp3*-abi3-{platform}*.whl", "abi3"),
    ):
        try:
            return wheels.fetch_any(
                f"{package}=={version}", pattern, python=python, platforms=platforms, abi=abi
            )
        except (AssertionError, subprocess.CalledProcessError):  # pip found no such wheel
            continue
    return None


def combinations() -> list[Combination]:
    """Every combination the pinned wheels allow, wheels fetched (4 at a time, once a machine)."""
    wanted = [(p, r, a, layout) for p in PACKAGES for r, a in TARGETS for layout in LAYOUTS]

    def make(item: tuple[str, str, str, str]) -> Combination | None:
        package, runtime, arch, layout = item
        python = runtime if layout != "other-python" else ("3.13" if runtime == "3.11" else "3.11")
        wheel = _wheel(package, python, arch, layout)
        if wheel is None:
            return None
        deps = tuple(
            wheels.fetch_any(
                f"{name}=={version}", f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
            )
            for name, version in PACKAGES[package][1]
        )
        return Combination(package, runtime, arch, layout, (wheel, *deps))

    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(make, wanted))
    return [c for c in made if c is not None]


def top_level_modules(wheel: Path) -> list[str]:
    """What `import` names the wheel provides at the top, read from its file list (not from
    anything `check` reads): packages, modules and extension modules at the root."""
    names: set[str] = set()
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            first, slash, rest = name.partition("/")
            if first.endswith((".dist-info", ".data", ".libs")):
                continue
            if slash:
                if rest == "__init__.py":
                    names.add(first)
            elif name.endswith(".py"):
                names.add(name[:-3])
            elif name.endswith((".so", ".pyd")):
                names.add(name.split(".", 1)[0])
    return sorted(names)


def glibc_ceiling_exceeded(wheel: Path, runtime_glibc_minor: int) -> bool:
    """Whether the wheel's manylinux tag needs a newer glibc than the runtime has: the ground
    truth for glibc where the stand-in's own glibc is newer than the runtime's."""
    import re

    minors = [
        int(m)
        for m in re.findall(r"manylinux_2_(\d+)_", wheel.name)
        + [
            {"1": "5", "2010": "12", "2014": "17"}[m]
            for m in re.findall(r"manylinux(1|2010|2014)_", wheel.name)
        ]
    ]
    return bool(minors) and min(minors) > runtime_glibc_minor
