"""What the scripts in the image mean when they exit (contract.Exit), in the user's terms: the one
table from an exit code to the error the user sees, for the build (install.py), the probe and
invoke; and the installer's output read into one line."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lambdazip.build.plan import BuildPlan
from lambdazip.errors import BuildFailed, ContainerError, ImageError, LambdaZipError
from lambdazip.inputs.build_inputs import Installer
from lambdazip.inputs.requirements import LOCK_COMMAND
from lambdazip.inside import lambdazip_contract as contract
from lambdazip.targets import Target


@dataclass(frozen=True)
class Exited:
    """What the host knows when a script in the image has ended."""

    code: int
    output: list[str]  # what it printed (for a build: the lines kept)
    script: str  # "the build", "the probe", "invoke"
    image: str  # the image as the user named it
    target: Target
    plan: BuildPlan | None = None  # a build's
    seen: str = "another Python or CPU"  # invoke: what the image runs (python3.X on MACHINE)


def _build_plan(exited: Exited) -> BuildPlan:
    assert exited.plan is not None, "an exit of install.py, which only a build runs"
    return exited.plan


def installer_error(lines: list[str], plan: BuildPlan) -> BuildFailed:
    """One line from the installer's output: what went wrong, in the user's terms."""
    text = "\n".join(lines)
    target = f"{plan.target.runtime.name} on {plan.target.arch.value}"
    network = _network_failure(text, plan)
    if network is not None:
        return network
    unknown = re.search(r"Because (\S+?) was not found in the package registry", text)
    if unknown:
        return BuildFailed(
            f"no package {unknown[1]} on the index",
            tip="check the name (and PIP_INDEX_URL if you use a private index)",
        )
    missing = re.search(r"No matching distribution found for (\S+)", text) or re.search(
        r"([A-Za-z0-9_.\-]+(?:[=<>!~]=?[^\s,]+)?) has no (?:usable wheels|wheels with)", text
    )
    if missing:
        runtime = plan.target.runtime
        newest = (
            runtime.uv_platform(plan.target.arch).split("-", 1)[1]
            if plan.inputs.installer is Installer.UV
            else f"manylinux_2_{runtime.glibc[1]}"
        )
        return BuildFailed(
            f"no wheel of {missing[1]} for {target} (glibc {runtime.glibc_text}, "
            f"{runtime.os}: {newest} or older)",
            tip="choose a version that publishes such a wheel for this runtime and CPU (source "
            "builds are refused: they would compile on the build host's terms)",
        )
    if "DO NOT MATCH THE HASHES" in text or "Hash mismatch" in text:
        locked = plan.locked
        if locked is not None and locked.format != "requirements":
            return BuildFailed(
                f"a downloaded file does not match the hash {locked.path.name} locks",
                tip=f"regenerate {locked.path.name} (`uv lock`, then export it again for a "
                "pylock.toml) or check what your index serves",
            )
        return BuildFailed(
            "a downloaded file does not match the hash in the requirements",
            tip=f"lock again ({LOCK_COMMAND}) or check what your index serves",
        )
    if "Hashes are required" in text or "Missing hashes" in text:
        return BuildFailed(
            "some requirements have hashes and some do not",
            tip=f"lock every requirement with hashes: {LOCK_COMMAND}",
        )
    conflict = re.search(
        r"(?:The conflict is caused by:\n(?P<pip>(?:.*\n?){1,3}))"
        r"|(?:(?:cause:|╰─▶) (?P<uv>Because .*))",
        text,
    )
    resolver = "unsatisfiable" in text or "ResolutionImpossible" in text
    no_wheel = "no usable wheels" in text or "matching platform tag" in text
    if conflict and resolver and not no_wheel:
        cause = " ".join((conflict["pip"] or conflict["uv"] or "").split())
        return BuildFailed(
            f"the requirements conflict: {cause}",
            tip=f"relax or repin the conflicting requirements, then lock again: {LOCK_COMMAND}",
        )
    errors = [line for line in lines if line.startswith(("ERROR:", "error:", "  \u00d7"))]
    last = errors[-1].split(":", 1)[-1].strip(" \u00d7") if errors else "see its output above"
    return BuildFailed(
        f"{plan.inputs.installer.value} failed in the {target} image: {last}",
        tip="fix the requirements; run again with -v for the installer's output",
    )


# what goes wrong on the way to the index, most specific first, and how to say it
_NETWORK = (
    (r"SSLError|CERTIFICATE_VERIFY_FAILED|certificate verify failed|invalid peer certificate|"
     r"UnknownIssuer", "its TLS certificate is not trusted"),
    (r"Connection refused", "Connection refused"),
    (r"Temporary failure in name resolution|Name or service not known|dns error",
     "its name does not resolve"),
    (r"Network is unreachable|No route to host", "the network is unreachable"),
    (r"timed out", "the connection timed out"),
    (r"ProxyError|Unable to connect to proxy|proxy error", "the proxy failed"),
    (r"Max retries exceeded|Failed to establish a new connection|tcp connect error|"
     r"error sending request", "the connection failed"),
)  # fmt: skip
_URL_HOST = re.compile(r"https?://(?:[^/@\s]+@)?(?P<host>[^/:\s'\")]+)")


def _network_failure(text: str, plan: BuildPlan) -> BuildFailed | None:
    """A failure to reach the index is said as that, never as a problem of the requirements."""
    what = next((w for p, w in _NETWORK if re.search(p, text, re.IGNORECASE)), None)
    if what is None:
        return None
    hosts = [m["host"] for m in _URL_HOST.finditer(text)]
    host = hosts[0] if hosts else "the package index"
    ca = str(plan.ca_bundle) if plan.ca_bundle else "none (the image's own roots)"
    tip = (
        f"the CA bundle in use: {ca}; pass the bundle that signs the index's certificate with "
        "--ca-bundle (or PIP_CERT)"
        if what.startswith("its TLS")
        else "check the network, the proxy (HTTPS_PROXY) and PIP_INDEX_URL; the CA bundle in "
        f"use: {ca}"
    )
    return BuildFailed(plan.redact(f"could not reach {host}: {what}"), tip=plan.redact(tip))


def _uv_unavailable(output: list[str], plan: BuildPlan) -> BuildFailed:
    cause = installer_error(output, plan)
    return BuildFailed(
        f"the image's pip could not install uv (for --installer uv): {cause.message}",
        tip=f"{cause.tip}; or build with --installer pip",
    )


# What each exit (contract.Exit) means to the user: the one table, for every script in the image.
# OK and HANDLER_FAILED are not failures of the tool: invoke reports a handler's outcome itself.
FAILURES: dict[contract.Exit, Callable[[Exited], LambdaZipError]] = {
    contract.Exit.BAD_PLAN: lambda e: ContainerError(
        f"{e.script} in {e.image} refused its plan: the image's scripts are of another lambdazip",
        tip="run again with --no-cache (the build image is made anew)",
    ),
    contract.Exit.SOURCES_FAILED: lambda e: BuildFailed(
        _said(e.output, "cannot copy") or "your code could not be copied in the image",
        tip="run again with -v to see the build's output",
    ),
    contract.Exit.INSTALL_FAILED: lambda e: installer_error(e.output, _build_plan(e)),
    contract.Exit.INSTALLER_UNAVAILABLE: lambda e: _uv_unavailable(e.output, _build_plan(e)),
    contract.Exit.PROBE_FAILED: lambda e: BuildFailed(
        "the probe could not run in the image", tip="run again with -v to see its output"
    ),
    contract.Exit.PACK_FAILED: lambda e: BuildFailed(
        _said(e.output, "cannot pack") or "the tree could not be packed",
        tip="remove the link or special file from your --src (or report the package that "
        "installs it)",
    ),
    contract.Exit.NO_STRIP: lambda e: BuildFailed(
        f"--strip: the image {e.image} has no `strip` (binutils)",
        tip="build on an image that has it (FROM the official image, RUN dnf install -y "
        "binutils; pass it as --base-image), or drop --strip",
    ),
    contract.Exit.NO_RUNTIME_CLIENT: lambda e: ImageError(
        f"{e.image} has no Lambda runtime interface client (awslambdaric in "
        f"{contract.RUNTIME_DIR}): nothing was run",
        tip="use the official Lambda Python image (or a --base-image built on it)",
    ),
    contract.Exit.IMAGE_MISMATCH: lambda e: ImageError(
        f"{e.image} runs {e.seen}, but the target is {e.target.runtime.name} on "
        f"{e.target.arch.info.uname_machine}: nothing was run",
        tip=f"use the target's image ({e.target.runtime.image(e.target.arch)}), or --python/"
        "--arch of the image you meant",
    ),
}
NOT_FAILURES = (contract.Exit.OK, contract.Exit.HANDLER_FAILED)


def failure(exited: Exited) -> LambdaZipError:
    """The error the user sees for a script's exit: the table's, or the bare code."""
    known = {int(e) for e in contract.Exit}
    said = FAILURES.get(contract.Exit(exited.code)) if exited.code in known else None
    if said is not None:
        return said(exited)
    error = BuildFailed if exited.plan is not None else ContainerError
    return error(
        f"{exited.script} container exited with {exited.code}",
        tip="run again with -v to see its output",
    )


def _said(output: list[str], opening: str) -> str:
    """The line a script said of a failure (``lambdazip: <opening>...``), without its prefix;
    empty if it said none."""
    said = next((x for x in output if x.startswith(f"lambdazip: {opening}")), "")
    return said.removeprefix("lambdazip: ")
