"""The contract between the host and the scripts that run inside the image: where things are, what
the plan says, what each exit code means, and Lambda's sys.path. What comes back, typed and
versioned, is lambdazip_results. Standard library only: the host
imports it as ``lambdazip.inside.lambdazip_contract`` and the Dockerfile copies it beside
install.py, probe.py and invoke.py, which import it as ``lambdazip_contract`` (a name no user
module is likely to take). One file, so the two sides cannot disagree.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

SCHEMA_VERSION = 6  # 2: the runtime's wheel platforms, packing in the image; 3: report, slimming;
# 4: the user's code handed over in IN_DIR (the install root may be a tmpfs); 5: the function's
# configuration (CONFIGURATION), Lambda's whole sys.path and environment for the probe; 6: the
# handler, which the probe imports first

# -- paths in the image -------------------------------------------------------------------------
PYTHON = "/var/lang/bin/python3"  # the runtime's interpreter, in the official image and stand-ins
TASK_ROOT = "/var/task"  # where Lambda unpacks a function
OPT = "/opt"  # where Lambda unpacks the layers
LAYER_ROOT = "/opt/python"  # where a layer's packages go
RUNTIME_DIR = "/var/runtime"  # the runtime's own: AWS's client (awslambdaric), boto3, botocore
INSIDE_DIR = "/lambdazip"  # where the Dockerfile puts FILES
IN_DIR = f"{INSIDE_DIR}/in"  # what the host puts in: the requirements, the CA bundle
OUT_DIR = f"{INSIDE_DIR}/out"  # what the host takes out: the probe's facts, the installer, timings
CACHE_DIR = f"{INSIDE_DIR}/cache"  # the download cache volume
EVENT_DIR = f"{INSIDE_DIR}/event"  # invoke's event volume
OUTCOME_DIR = f"{INSIDE_DIR}/outcome"  # invoke's outcome volume, written by the handler's user
REQUIREMENTS = f"{IN_DIR}/requirements.txt"
CA_BUNDLE = f"{IN_DIR}/ca.pem"
SOURCES = f"{IN_DIR}/src"  # a function's code, copied into the install root by install.py
# the function's environment variables ({name: value}, JSON): a file, never a command line or the
# container's configuration, so the values appear in no listing of the engine
CONFIGURATION = f"{IN_DIR}/configuration.json"
# a warm build container (build --watch: one kept for a watching process, its builds run in it by
# exec) lives while this file is younger than WARM_IDLE seconds: each build touches it, and a
# container whose process was killed stops on its own (and the engine removes it)
WARM_HEARTBEAT = f"{INSIDE_DIR}/warm"
WARM_IDLE = 600
INVOKE_CONFIGURATION = f"{EVENT_DIR}/configuration.json"  # the same, for invoke
OUTCOME = f"{OUTCOME_DIR}/outcome.json"
# files in OUT_DIR
PROBE_FACTS = "probe.json"
INSTALLED = "installed.json"  # InstallResult: the installer and the timings
ARTIFACT = "artifact.zip"  # the zip, packed in the image (lambdazip_zip)
PACKED = "packed.json"  # PackResult: what packed it, and what was left out of it
WHEELS = "wheels.json"  # WheelsResult: the file each distribution came from
SLIMMED = "slimmed.json"  # SlimResult: what --exclude/--prune/--strip removed

# the start of a line of the scripts here that is meant for the user (a long wait), not the log
PROGRESS = "lambdazip: progress: "

# strerror(ENOSPC) as glibc words it, in what every installer and Python prints when a write
# fails for want of space: the sign that the install root's tmpfs was too small
NO_SPACE = "No space left on device"

# what the build image carries (the Dockerfile copies these into INSIDE_DIR)
FILES = (
    "install.py",
    "probe.py",
    "invoke.py",
    "lambdazip_contract.py",
    "lambdazip_zip.py",
    "lambdazip_layer.py",
    "lambdazip_slim.py",
    "lambdazip_bytecode.py",
    "lambdazip_io.py",
    "lambdazip_results.py",
    "lambdazip_memory.py",
    "uv-requirements.txt",
)


def event_file(number: int) -> str:
    """Where invoke's Nth event (from 0) is."""
    return f"{EVENT_DIR}/event-{number}.json"


INIT_LIMIT = 10.0  # seconds: Lambda's limit on the init phase of an on-demand function
RESPONSE_LIMIT = 6_291_556  # bytes: the largest response of a synchronous invocation
REQUEST_LIMIT = 6_291_456  # bytes: the largest event of a synchronous invocation

# Lambda runs the handler as an unprivileged user (sbx_user1051); invoke does the same
HANDLER_USER = "993:990"


class Exit(enum.IntEnum):
    """What the scripts' exit codes mean; each number means one thing."""

    OK = 0
    BAD_PLAN = 2  # the plan is not one this contract describes
    INSTALL_FAILED = 10  # the installer failed; its own message is in the output
    PROBE_FAILED = 11  # the probe could not run; there are no facts
    INSTALLER_UNAVAILABLE = 12  # uv could not be installed by the image's pip
    HANDLER_FAILED = 13  # invoke: the handler could not be imported, or raised
    IMAGE_MISMATCH = 14  # invoke: the image's Python or CPU is not the target's
    PACK_FAILED = 15  # the tree could not be packed (a link out of it, a special file)
    NO_STRIP = 17  # --strip, and the image has no `strip` (binutils)
    NO_RUNTIME_CLIENT = 16  # invoke: the image has no awslambdaric in RUNTIME_DIR
    SOURCES_FAILED = 18  # the user's code could not be copied into the install root


def install_root(kind: str) -> str:
    """Where the runtime finds the code: a layer's /opt/python, a function's task root."""
    return LAYER_ROOT if kind == "layer" else TASK_ROOT


def lambda_sys_path(version: str, task_root: str = TASK_ROOT, opt: str = OPT) -> list[str]:
    """sys.path as Lambda's Python runtime builds it, before the runtime's own entries: the task
    root, then each layer's site-packages, then its python/ (version: "3.13")."""
    return [
        task_root,
        os.path.join(opt, "python", "lib", "python" + version, "site-packages"),
        os.path.join(opt, "python"),
    ]


def runtime_sys_path(version: str, task_root: str = TASK_ROOT, opt: str = OPT) -> list[str]:
    """All of sys.path that Lambda puts before the standard library: lambda_sys_path, then the
    runtime's site-packages, then RUNTIME_DIR (the runtime's own boto3 comes after the layers)."""
    return [
        *lambda_sys_path(version, task_root, opt),
        f"/var/lang/lib/python{version}/site-packages",
        RUNTIME_DIR,
    ]


def lambda_path(
    version: str, current: list[str], task_root: str = TASK_ROOT, opt: str = OPT
) -> list[str]:
    """sys.path as the function sees it on Lambda, made from the interpreter's ``current`` one:
    runtime_sys_path, then the standard library (every entry of ``current`` that is not a site
    directory: whatever else the image's site module added, such as a Debian dist-packages, is
    not on Lambda's path). The probe, the smoke event and invoke all run with this path."""
    ours = runtime_sys_path(version, task_root, opt)
    rest = [
        p
        for p in current
        if p and p not in ours and os.path.basename(p) not in ("site-packages", "dist-packages")
    ]
    return ours + rest


# what Lambda sets for every function and refuses in a function's configuration (AWS's list of
# reserved environment variables); the tool refuses them in --env for the same reason
RESERVED_VARIABLES = (
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
)
DEFAULT_REGION = "us-east-1"


def lambda_environment(
    version: str,
    configured: dict[str, str],
    image: dict[str, str],
    function_name: str = "lambdazip-invoke",
    memory_mb: int = 128,
    handler: str = "",
    api_address: str = "",
) -> dict[str, str]:
    """The environment of the function's process as Lambda makes it: the image's PATH,
    LD_LIBRARY_PATH, LANG and TZ, the function's configuration (``configured``), then what
    Lambda itself sets (which the configuration cannot override). The probe and invoke use it."""
    import time
    import uuid

    region = image.get("AWS_REGION") or DEFAULT_REGION
    keep = ("PATH", "LD_LIBRARY_PATH", "LANG", "TZ")
    environment = {k: image[k] for k in keep if k in image}
    environment.update(configured)
    environment.update(
        {
            "_HANDLER": handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{version}",
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "LAMBDA_TASK_ROOT": TASK_ROOT,
            "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
        }
    )
    if api_address:
        environment["AWS_LAMBDA_RUNTIME_API"] = api_address
    return environment


def read_configuration(path: str) -> dict[str, str]:
    """The function's environment variables the host put in ``path``; none if it put no file."""
    try:
        with open(path, encoding="utf-8") as fh:
            document = json.load(fh)
    except FileNotFoundError:
        return {}
    return {str(k): str(v) for k, v in document.items()}


def redact(text: str, values: Iterable[str]) -> str:
    """``text`` with each of the configuration's ``values`` (of 4 characters or more: shorter
    ones would blot out ordinary words) replaced by ***, also as repr() and JSON write it (a
    backslash, a tab or a quote escaped): values never reach a report or a log."""
    forms: set[str] = set()
    for value in values:
        if len(value) >= REDACT_MIN:
            forms.update((value, repr(value)[1:-1], json.dumps(value)[1:-1]))
            forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


REDACT_MIN = 4


@dataclass(frozen=True)
class InsidePlan:
    """What install.py is asked to do; the host makes it, install.py reads it (one JSON argument).

    kind            "layer" (into /opt/python) or "function" (into /var/task, beside its code)
    install         false: nothing to install (the requirements name nothing, or `probe`: only
                    what the host put in place is probed)
    requirements    the requirements file; require_hashes: whether pip/uv must check hashes
    installer       "pip" (the image's own) or "uv" (pinned, hash-verified, installed by that pip)
    cache           a directory that outlives the container (a named volume), or None
    bytecode        "checked-hash", "unchecked-hash" or None: PEP 552 pycs
    platforms       the wheel platform tags the runtime can load, best first (its glibc ceiling,
                    not the build image's): pip's --platform values; empty: the image's own
    uv_platform     the same for uv's --python-platform, or None: the image's own
    pack            whether to pack the zip (OUT_DIR/ARTIFACT) after the probe
    epoch           the one timestamp of every member of the zip (SOURCE_DATE_EPOCH)
    keep            files of the user's own code that the installer's leftovers rule spares
    report          write OUT_DIR/WHEELS from pip's installation report (for the SBOM)
    exclude         distributions to remove after the install (canonical names)
    prune           remove tests/, docs/ and examples/ folders inside distributions
    strip           strip debug symbols from shared objects with the image's `strip`
    sources         a directory the host filled (SOURCES) to copy into the install root before
                    installing, or None. The host cannot put files there itself: the root may be
                    a tmpfs, mounted when the container starts, over whatever was put before
    handler         the function's MODULE.FUNCTION, or None: the probe imports that module first,
                    as Lambda does, and looks the function up in it
    warm            a build in a warm container (WARM_HEARTBEAT): OUT_DIR emptied first, and once
                    it succeeded the install root and IN_DIR emptied, so the next build in it
                    starts as in a new container (one that failed is removed by the host)
    """

    kind: str
    install: bool = True
    requirements: str = REQUIREMENTS
    require_hashes: bool = True
    installer: str = "pip"
    cache: str | None = None
    bytecode: str | None = None
    platforms: tuple[str, ...] = ()
    uv_platform: str | None = None
    pack: bool = False
    epoch: int = 315532800
    keep: tuple[str, ...] = ()
    report: bool = False
    exclude: tuple[str, ...] = ()
    prune: bool = False
    strip: bool = False
    sources: str | None = None
    handler: str | None = None
    warm: bool = False

    def to_json(self) -> str:
        return json.dumps({"schema_version": SCHEMA_VERSION, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> InsidePlan:
        """The plan, or ValueError naming what is wrong with it."""
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("the plan is not a JSON object")
        version = document.pop("schema_version", None)
        if version != SCHEMA_VERSION:
            raise ValueError(f"plan schema {version!r}, expected {SCHEMA_VERSION}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(document) - known)
        if unknown:
            raise ValueError(f"unknown plan keys: {', '.join(unknown)}")
        for name in ("platforms", "keep", "exclude"):
            if not isinstance(document.get(name, []), list):
                raise ValueError(f"{name} is not a list")
            document[name] = tuple(document.get(name, ()))
        plan = cls(**document)
        if plan.kind not in ("layer", "function"):
            raise ValueError(f"unknown kind {plan.kind!r}")
        if plan.installer not in ("pip", "uv"):
            raise ValueError(f"unknown installer {plan.installer!r}")
        return plan
