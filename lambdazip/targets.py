"""The target model: which Lambda runtimes and architectures exist, and what follows from each.

Two tables, one per closed set. Everything that depends on an architecture (OCI platform, ELF
machine, the triplet in EXT_SUFFIX, wheel platform tags) or on a runtime (OS, glibc ceiling,
image tag, status) is read from them and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from lambdazip.errors import UsageError

OFFICIAL_IMAGE = "public.ecr.aws/lambda/python"
ZIPPED_DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes; bigger zips go through S3
UNZIPPED_LIMIT = 262_144_000  # bytes, a function and all its layers together
MAX_LAYERS = 5  # layers a function may use


class Kind(str, enum.Enum):
    """What Lambda does with a zip."""

    LAYER = "layer"  # unpacked at /opt: packages under python/
    FUNCTION = "function"  # unpacked at /var/task: packages at the root


class Arch(str, enum.Enum):
    """A Lambda instruction set architecture, named as Lambda names it."""

    X86_64 = "x86_64"
    ARM64 = "arm64"

    @property
    def info(self) -> ArchInfo:
        return ARCHITECTURES[self]


@dataclass(frozen=True)
class ArchInfo:
    lambda_name: str  # CompatibleArchitectures / the image tag suffix
    aliases: tuple[str, ...]
    oci_platform: str  # what the engine is asked for
    oci_architecture: str  # what an image's config says ("amd64", "arm64")
    elf_machine: str  # pyelftools' e_machine name
    elf_class: int
    uname_machine: str  # platform.machine() inside the image
    triplet: str  # the multiarch triplet in EXT_SUFFIX
    wheel_machine: str  # the machine part of wheel platform tags


ARCHITECTURES: dict[Arch, ArchInfo] = {
    Arch.X86_64: ArchInfo(
        lambda_name="x86_64",
        aliases=("x86_64", "amd64", "x86-64", "x64"),
        oci_platform="linux/amd64",
        oci_architecture="amd64",
        elf_machine="EM_X86_64",
        elf_class=64,
        uname_machine="x86_64",
        triplet="x86_64-linux-gnu",
        wheel_machine="x86_64",
    ),
    Arch.ARM64: ArchInfo(
        lambda_name="arm64",
        aliases=("arm64", "aarch64", "arm64/v8"),
        oci_platform="linux/arm64",
        oci_architecture="arm64",
        elf_machine="EM_AARCH64",
        elf_class=64,
        uname_machine="aarch64",
        triplet="aarch64-linux-gnu",
        wheel_machine="aarch64",
    ),
}


def parse_arch(value: str) -> Arch:
    """Accept Lambda's names and the usual aliases (amd64, aarch64), case-insensitively."""
    wanted = value.strip().lower()
    for arch, info in ARCHITECTURES.items():
        if wanted in info.aliases:
            return arch
    valid = ", ".join(f"{a.value} (or {i.aliases[1]})" for a, i in ARCHITECTURES.items())
    raise UsageError(f"unknown architecture {value!r}", tip=f"use one of: {valid}")


class RuntimeStatus(str, enum.Enum):
    PREVIEW = "preview"  # AWS's public preview: builds, with a warning (not for production)
    SUPPORTED = "supported"
    DEPRECATED = "deprecated"  # still runs; AWS no longer patches it: a warning
    RETIRED = "retired"  # cannot be deployed to any more: refused


@dataclass(frozen=True)
class Runtime:
    """A Lambda Python runtime (``python3.X``)."""

    version: str  # "3.13"
    os: str
    glibc: tuple[int, int]  # the ceiling: a shared object may need no newer GLIBC_x.y
    pyc_magic: int  # importlib.util.MAGIC_NUMBER of the final release, as an integer
    status: RuntimeStatus
    deprecated_on: dt.date | None = None
    create_blocked_on: dt.date | None = None  # from then on, no new function on it
    tag: str | None = None  # the official image's tag before -ARCH, if not the version

    @property
    def version_tuple(self) -> tuple[int, int]:
        major, minor = self.version.split(".")
        return int(major), int(minor)

    @property
    def name(self) -> str:
        return f"python{self.version}"

    @property
    def nodot(self) -> str:
        return self.version.replace(".", "")

    @property
    def cache_tag(self) -> str:
        """``sys.implementation.cache_tag``: the tag of this runtime's ``__pycache__`` files."""
        return f"cpython-{self.nodot}"

    def ext_suffix(self, arch: Arch) -> str:
        """``sysconfig.get_config_var('EXT_SUFFIX')`` of this runtime on ``arch``."""
        return f".cpython-{self.nodot}-{arch.info.triplet}.so"

    def loadable_suffixes(self, arch: Arch) -> tuple[str, ...]:
        """Every extension-module suffix the interpreter tries (importlib.machinery)."""
        return (self.ext_suffix(arch), ".abi3.so", ".so")

    def image_tag(self, arch: Arch) -> str:
        """The official image's arch-suffixed tag: one platform per tag, never overwritten."""
        return f"{self.tag or self.version}-{arch.info.lambda_name}"

    def image(self, arch: Arch) -> str:
        return f"{OFFICIAL_IMAGE}:{self.image_tag(arch)}"

    @property
    def glibc_text(self) -> str:
        return f"{self.glibc[0]}.{self.glibc[1]}"

    def wheel_platform_tags(self, arch: Arch) -> tuple[str, ...]:
        """Every manylinux platform tag a wheel loadable here may carry, best first: PEP 600's
        ``manylinux_2_Y`` from the runtime's glibc down to the oldest there is for the CPU, and
        the legacy aliases (manylinux2014 = 2.17, manylinux2010 = 2.12, manylinux1 = 2.5)."""
        machine = arch.info.wheel_machine
        major, top = self.glibc
        oldest = 17 if arch is Arch.ARM64 else 5  # no aarch64 manylinux before manylinux2014
        tags = [f"manylinux_{major}_{minor}_{machine}" for minor in range(top, oldest - 1, -1)]
        tags.append(f"manylinux2014_{machine}")
        if arch is Arch.X86_64:
            tags += [f"manylinux2010_{machine}", f"manylinux1_{machine}"]
        return tuple(tags)

    def uv_platform(self, arch: Arch) -> str:
        """uv's ``--python-platform`` for this runtime and CPU: the newest manylinux uv names
        that is not newer than the runtime's glibc. uv names only some (UV_MANYLINUX): for
        glibc 2.26 that is manylinux_2_17, so uv never takes a 2.24-2.26 wheel pip would take."""
        minor = max(m for m in UV_MANYLINUX if m <= self.glibc[1])
        return f"{arch.info.wheel_machine}-manylinux_2_{minor}"


# What every Lambda Python runtime provides in /var/runtime (after the layers on sys.path): the AWS
# SDK and its dependencies, and the runtime interface client. A function may bundle its own (AWS
# recommends it, to choose the version); the probe reports the image's versions.
RUNTIME_PROVIDED = (
    "awslambdaric",
    "boto3",
    "botocore",
    "jmespath",
    "python-dateutil",
    "s3transfer",
    "six",
    "urllib3",
)
# of those, each distribution pins these others to its own release line: bundle all or none, or
# the runtime's copy of one meets the bundled copy of the other
SDK_PINS = {"boto3": ("botocore", "s3transfer"), "s3transfer": ("botocore",)}

# the manylinux_2_Y that uv (the pinned version, lambdazip/inside/uv-requirements.txt) accepts in
# --python-platform (`uv pip install --help`)
UV_MANYLINUX = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)

_AL2 = ("Amazon Linux 2", (2, 26))
_AL2023 = ("Amazon Linux 2023", (2, 34))

RUNTIMES: dict[str, Runtime] = {
    r.version: r
    for r in (
        Runtime("3.9", *_AL2, 3425, RuntimeStatus.RETIRED, dt.date(2025, 12, 15)),
        Runtime(
            "3.10", *_AL2, 3439, RuntimeStatus.DEPRECATED, dt.date(2026, 10, 31),
            create_blocked_on=dt.date(2026, 11, 30),
        ),
        Runtime("3.11", *_AL2, 3495, RuntimeStatus.SUPPORTED),
        Runtime("3.12", *_AL2023, 3531, RuntimeStatus.SUPPORTED),
        Runtime("3.13", *_AL2023, 3571, RuntimeStatus.SUPPORTED),
        Runtime("3.14", *_AL2023, 3627, RuntimeStatus.SUPPORTED),
        # AWS's public preview since 2026-08-25 (image tag 3.15-preview; the arch-suffixed
        # tags follow 3.14's preview, 3.14-preview-x86_64); AL2023 as 3.12-3.14; magic 3666
        # is 3.15's final (3.15b1)
        Runtime("3.15", *_AL2023, 3666, RuntimeStatus.PREVIEW, tag="3.15-preview"),
    )
}  # fmt: skip

# the ranges of .pyc magic numbers each CPython release line used (Include/internal/
# pycore_magic_number.h), to name the Python a foreign .pyc was compiled by
_MAGIC_RANGES = (
    ((3400, 3425), "3.9"),
    ((3430, 3439), "3.10"),
    ((3450, 3495), "3.11"),
    ((3500, 3531), "3.12"),
    ((3550, 3571), "3.13"),
    ((3600, 3627), "3.14"),
    ((3650, 3699), "3.15"),
)


def python_of_magic(magic: int) -> str | None:
    """The CPython version line (e.g. "3.12") whose .pyc files carry ``magic``."""
    return next((v for (low, high), v in _MAGIC_RANGES if low <= magic <= high), None)


SUPPORTED_VERSIONS = tuple(v for v, r in RUNTIMES.items() if r.status is not RuntimeStatus.RETIRED)
# what `matrix` builds unless told: not a preview, which is not for production
DEFAULT_VERSIONS = tuple(
    v for v in SUPPORTED_VERSIONS if RUNTIMES[v].status is not RuntimeStatus.PREVIEW
)


def parse_runtime(value: str) -> Runtime:
    """Accept ``3.13``, ``313``, ``python3.13`` or ``py3.13``; refuse retired runtimes."""
    text = value.strip().lower().removeprefix("python").removeprefix("py")
    if text.isdigit() and len(text) >= 2:
        text = f"{text[0]}.{text[1:]}"
    runtime = RUNTIMES.get(text)
    valid = ", ".join(SUPPORTED_VERSIONS)
    if runtime is None:
        raise UsageError(f"unknown Lambda Python runtime {value!r}", tip=f"use one of: {valid}")
    if runtime.status is RuntimeStatus.RETIRED:
        raise UsageError(
            f"{runtime.name} was deprecated by AWS Lambda on {runtime.deprecated_on} and is no "
            "longer a build target",
            tip=f"move the function to a supported runtime: {valid}",
        )
    return runtime


@dataclass(frozen=True)
class Target:
    """What an artifact is built for or checked against."""

    runtime: Runtime
    arch: Arch

    def __str__(self) -> str:
        return f"{self.runtime.name}-{self.arch.value}"
