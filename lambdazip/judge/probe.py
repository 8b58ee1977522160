"""The facts the in-image probe (inside/probe.py) prints, as a model, and the pure checks over them:
the pydantic-core files importlib.metadata lists and EXT_SUFFIX (the troubleshooting guide's two
checks), run where the code will run, plus every import and a pydantic validation."""

from __future__ import annotations

import enum
import re
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict

from lambdazip.inside.lambdazip_contract import RESERVED_VARIABLES
from lambdazip.judge.findings import Finding
from lambdazip.judge.rules import finding
from lambdazip.targets import Target


class ImportSite(BaseModel):
    """The line of the artifact's code an import failed at."""

    model_config = ConfigDict(frozen=True)

    path: str  # relative to the task root or /opt, or the interpreter's file
    line: int | None
    code: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.code}" if self.code else where


class ImportResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    module: str
    ok: bool
    error: str | None
    raised: list[str] = []  # the exception's classes, most derived first (qualified names)
    chained: list[str] = []  # the classes of the exceptions it was raised from (or during)
    where: ImportSite | None = None
    unset: list[str] = []  # environment variables the import read that were not set
    missing_file: str | None = None  # the absolute path of a file it opened that is not there
    handler_found: bool | None = None  # the handler's module: whether its function is there


class PydanticCoreFiles(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str
    files: list[str]


class PydanticValidation(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    error: str | None
    version: str | None


class ProbeDistribution(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str


class ProbeFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: int
    machine: str
    python_version: str
    implementation: str
    cache_tag: str
    ext_suffix: str
    soabi: str | None
    libc: str
    libc_version: str
    sys_path: list[str]
    pydantic_core: PydanticCoreFiles | None
    distributions: list[ProbeDistribution]
    runtime_distributions: list[ProbeDistribution] = []  # in /var/runtime: boto3, awslambdaric
    imports: list[ImportResult]
    pydantic: PydanticValidation | None
    configuration: list[str] = []  # the names of the function's environment variables
    handler: str | None = None  # MODULE.FUNCTION: its module was imported first


class Failure(str, enum.Enum):
    """What a failed import says about the artifact."""

    PACKAGING = "packaging"  # the build's fault: Lambda fails the same way, whatever it is given
    CONFIGURATION = "configuration"  # the function's environment, not its packaging
    UNCLEAR = "unclear"  # the function's own code raised; nothing says why


# the loader's words when a shared object cannot be found or loaded (dlopen, via ctypes or an
# extension module), and the words of extensions built against another ABI of a dependency
_LOADER = re.compile(
    r"cannot open shared object file|undefined symbol|wrong ELF class|invalid ELF header|"
    r"ELF load command|version `GLIBC_|cannot enable executable stack|file too short|"
    r"binary incompatibility|compiled using NumPy|was compiled against|bad magic number"
)
# raised when a module reads what the function's configuration, role or network would give it:
# a missing variable, no region or credentials, an endpoint that cannot be reached here
_ENVIRONMENT = {
    "ConnectionError",  # ConnectionRefusedError, ConnectionResetError, ...
    "TimeoutError",
    "socket.gaierror",
    "socket.herror",
    "ssl.SSLError",
    "urllib.error.URLError",
    "http.client.HTTPException",
    "botocore.exceptions.NoRegionError",
    "botocore.exceptions.NoCredentialsError",
    "botocore.exceptions.PartialCredentialsError",
    "botocore.exceptions.CredentialRetrievalError",
    "botocore.exceptions.ProfileNotFound",
    "botocore.exceptions.EndpointConnectionError",
    "botocore.exceptions.ConnectTimeoutError",
    "botocore.exceptions.ReadTimeoutError",
    "botocore.exceptions.ClientError",
    "requests.exceptions.ConnectionError",
    "requests.exceptions.Timeout",
}


def classify(result: ImportResult) -> Failure:
    """Whether a failed import is the packaging's fault (a module, a shared object, bytecode or
    a file of the artifact that cannot be found or loaded: the same on Lambda whatever its
    configuration), the function's configuration (a variable it reads and is not set, no region
    or credentials, a service it cannot reach), or unclear (its own code raised something else).
    What the configuration explains is decided first: code that reads a variable while handling
    an ImportError is configured, not broken."""
    raised = set(result.raised)
    error = result.error or ""
    if raised & {"ImportError", "SyntaxError"} or not result.raised:
        return Failure.PACKAGING  # ModuleNotFoundError, bad magic number, a wrong-Python source
    if "OSError" in raised and _LOADER.search(error):
        return Failure.PACKAGING  # ctypes.CDLL of a library that is absent or for another CPU
    if _LOADER.search(error) and raised & {"ValueError", "RuntimeError", "AttributeError"}:
        return Failure.PACKAGING  # an extension built against another version of its dependency
    if raised & _ENVIRONMENT:
        return Failure.CONFIGURATION
    if "KeyError" in raised and _os_environ(result):
        return Failure.CONFIGURATION
    if any(_names(name, error) for name in result.unset):
        return Failure.CONFIGURATION  # its message names a variable it read and found unset
    if result.missing_file and result.missing_file.startswith(_ARTIFACT_ROOTS):
        return Failure.PACKAGING  # a file of its own that the artifact does not hold
    if "ImportError" in result.chained:
        return (
            Failure.PACKAGING
        )  # `except ImportError as e: raise RuntimeError("install X") from e`
    return Failure.UNCLEAR


_ARTIFACT_ROOTS = ("/var/task/", "/opt/")


def _names(variable: str, text: str) -> bool:
    """Whether ``text`` names ``variable`` as a word: as written, or, for a name of several words
    (TABLE_NAME), in any case (a settings library's `table_name`); DEBUG is not "debug"."""
    flags = re.IGNORECASE if "_" in variable.strip("_") else 0
    return (
        re.search(rf"(?<![A-Za-z0-9_]){re.escape(variable)}(?![A-Za-z0-9_])", text, flags)
        is not None
    )


def _os_environ(result: ImportResult) -> bool:
    """A KeyError of os.environ[NAME]: its key is a variable the import read and found unset."""
    key = (result.error or "").partition(":")[2].strip().strip("'\"")
    return key in result.unset


def check_probe(
    facts: ProbeFacts, target: Target, strict_import: bool = False, layers: bool = True
) -> list[Finding]:
    """Judge what the probe saw inside the image against the target. A failed import is an
    error when the packaging is at fault; when the function's configuration is, a warning that
    names what to set; when it is unclear, a warning (an error with ``strict_import``)."""
    findings: list[Finding] = []
    arch = target.arch.info
    expected_suffix = target.runtime.ext_suffix(target.arch)
    image_remedy = (
        "the image is not the target's runtime: use the official image for the target, or a "
        "--base-image built for it"
    )
    if facts.machine != arch.uname_machine:
        findings.append(
            finding("image-machine", "(image)", arch.uname_machine, facts.machine, image_remedy)
        )
    if facts.ext_suffix != expected_suffix:
        findings.append(
            finding("image-ext-suffix", "(image)", expected_suffix, facts.ext_suffix, image_remedy)
        )
    core = facts.pydantic_core
    if core is not None:
        modules = [f for f in core.files if PurePosixPath(f).suffix == ".so"]
        stubs = [f for f in core.files if f.endswith(".pyi")]
        if not any(f.endswith(facts.ext_suffix) for f in modules):
            findings.append(
                finding(
                    "pydantic-core-module",
                    "pydantic_core/_pydantic_core" + facts.ext_suffix,
                    f"a module ending in EXT_SUFFIX {facts.ext_suffix}",
                    ", ".join(modules) or "no compiled module in pydantic-core's RECORD",
                    "pydantic-core was installed for another platform; reinstall it in the image",
                )
            )
        if not stubs:
            findings.append(
                finding(
                    "pydantic-core-stub",
                    "pydantic_core/_pydantic_core.pyi",
                    "the stubs beside the compiled module",
                    "none in pydantic-core's RECORD",
                    "the install is incomplete; reinstall pydantic-core",
                )
            )
    handler_module, _, function = (facts.handler or "").rpartition(".")
    first = next((r for r in facts.imports if r.module == handler_module), None)
    if first is not None and first.ok and first.handler_found is False:
        findings.append(
            finding(
                "handler",
                facts.handler or "",
                f"a function {function} in {handler_module}",
                f"{handler_module} imports, and has no {function}",
                "Lambda fails every invocation with Runtime.HandlerNotFound; fix --handler or "
                "the function's name",
            )
        )
    causes: set[tuple[str | None, str]] = set()  # one cause, one finding: a module that fails
    # as one imported before it did (the same error at the same line) is said once
    for result in facts.imports:
        cause = (result.error, str(result.where))
        if not result.ok and cause not in causes:
            causes.add(cause)
            # the handler's module imported: any other module is one it does not need at init
            unused = first is not None and first.ok and result is not first
            findings.append(
                _import_finding(result, target, strict_import, unused, result is first, layers)
            )
    if facts.pydantic is not None and not facts.pydantic.ok:
        findings.append(
            finding(
                "pydantic-validation",
                "pydantic",
                "a pydantic model to validate an event",
                facts.pydantic.error or "an error",
                "pydantic is installed but does not work here; reinstall pydantic and "
                "pydantic-core together",
            )
        )
    return findings


def _import_finding(
    result: ImportResult,
    target: Target,
    strict: bool,
    unused: bool = False,
    handler: bool = False,
    layers: bool = True,  # whether the artifact can have layers (an image cannot)
) -> Finding:
    kind = classify(result)
    seen = result.error or "an error"
    if result.where is not None:
        seen += f" (at {result.where})"
    expected = f"`import {result.module}` to work in {target}"
    if kind is Failure.PACKAGING:
        fix = (
            f"{result.missing_file} is not in the artifact; add it to --src (or stop "
            "--exclude/--prune removing it)"
            if result.missing_file
            else "add what the module needs to the requirements"
            + (" (or pass the layer that holds it with --layer)" if layers else "")
        )
        if unused:  # a test file, a script: Lambda imports only what the handler imports
            return finding(
                "import-unused",
                result.module,
                expected,
                seen,
                f"the handler's module does not import it, so Lambda does not at cold start; "
                f"if the function imports it later, {fix}; or leave it out (.lambdazipignore)"
                + ("" if strict else "; --strict-import makes this an error"),
                strict=strict,
            )
        return finding(
            "import",
            result.module,
            expected,
            seen,
            "Lambda would fail the same way (with this code and these layers) "
            + (
                "at cold start, importing the handler; "
                if handler
                else "when the function imports it; "
            )
            + fix,
        )
    # what Lambda sets itself (its region, the role's credentials) is not the configuration's
    settable = [n for n in result.unset if n not in RESERVED_VARIABLES]
    lambdas = [n for n in result.unset if n in RESERVED_VARIABLES]
    by_lambda = (
        f"; Lambda sets {', '.join(lambdas)} itself, from the function's role and runtime"
        if lambdas
        else ""
    )
    if kind is Failure.CONFIGURATION:
        if settable:
            names = " ".join(f"--env {n}=VALUE" for n in settable[:3])
            remedy = (
                f"it reads {', '.join(settable)}, which the function's configuration sets on "
                f"Lambda: pass {names} (or --env-file, or environment in [tool.lambdazip]) "
                f"to import it as it will be configured{by_lambda}"
            )
        else:
            remedy = (
                "it needs what Lambda gives it (the role's credentials, a service it can reach)"
                f"{by_lambda}: not a packaging fault; on Lambda it depends on the function's role "
                "and network (or make the call in the handler, where a failure is the "
                "invocation's, not the init's)"
            )
        return finding("import-configuration", result.module, expected, seen, remedy)
    read = (
        f"; it read {', '.join(settable)}, which {'is' if len(settable) == 1 else 'are'} not set"
        if settable
        else ""
    )
    how = "; an error with --strict-import" if strict else "; --strict-import makes this an error"
    configure = (
        " (pass its configuration with --env NAME=VALUE if it needs some)" if settable else ""
    )
    return finding(
        "import-unclear",
        result.module,
        expected,
        seen,
        f"the function's own code raised this{read}{by_lambda}; whether Lambda fails the same "
        f"way depends on why{configure}{how}",
        strict=strict,
    )
