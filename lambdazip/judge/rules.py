"""The one table of rules: every finding's code, its severity, what it means and what to do. The
static check (checks.py), the probe's judgement (probe.py) and the build all make findings through
:func:`finding`, which takes the severity from here, so a fact has one verdict everywhere. The
docs/check.md's table is generated from RULES (``python -m tests.docs``)."""

from __future__ import annotations

from dataclasses import dataclass

from lambdazip.judge.findings import Finding, Severity

E, W = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    title: str  # what it finds, for the docs
    strict: Severity | None = None  # its severity when the user asks for strictness


_TABLE = (
    # what cannot be read or deployed at all
    Rule("unreadable", E, "not a zip, a truncated zip, an encrypted member, a member that fails to "
         "inflate, a name that leaves the tree"),
    Rule("empty", E, "an artifact with no files: AWS rejects it"),
    Rule("backslash-name", E, "a member name with `\\` (written by some Windows tools): Lambda "
         "keeps it as one literal file name, not a directory"),
    Rule("compression-method", E, "a member compressed with a method Lambda's unzip does not "
         "take (bzip2, LZMA, Deflate64, Zstandard, ...): only stored and deflate are"),
    Rule("file-mode", E, "a file Lambda's non-root user cannot read (no read bit for others), or "
         "a directory it cannot list or enter (no read or execute bit for others): the import "
         "fails with `Permission denied`. A zip with no Unix modes (made on Windows) is fine"),
    Rule("bin-mode", W, "a program in a layer's `bin/` (on `PATH` as `/opt/bin`) or "
         "`extensions/` without an execute bit: it cannot be run"),
    Rule("too-many-layers", E, "a function with more than 5 layers: Lambda refuses it"),
    # where things are
    Rule("layer-outside-python", E, "a layer with files outside `python/`, `lib/` and `bin/` "
         "(not on `sys.path`, `LD_LIBRARY_PATH` or `PATH`)"),
    Rule("site-packages-version", E, "`python/lib/python3.Y/site-packages` for another Python in "
         "a layer, or a layer layout in a function"),
    Rule("zipped-folder", E, "the folder zipped instead of its contents: everything sits under "
         "one top directory that is not a package, one level deeper than Lambda looks "
         "(`/var/task`, `/opt/python`)"),
    Rule("pth-only", E, "a distribution whose only content is a `.pth` file or an editable "
         "install's hook: Lambda processes no `.pth` in `/var/task` or `/opt/python`, so its code "
         "is not importable"),
    Rule("layer-layout-in-function", E, "a function zip whose packages sit under `python/` (a "
         "layer's layout): Lambda does not put `/var/task/python` on `sys.path`"),
    Rule("macos-junk", W, "`__MACOSX/`, `._*` and `.DS_Store` files from macOS Finder: dead "
         "weight, listed with their size"),
    # native code
    Rule("elf-machine", E, "a shared object or executable for another CPU or ELF class"),
    Rule("ext-suffix", E, "an extension module the runtime will not load and nothing else "
         "stands in for: built for another Python (`cpython-311` in a 3.13 runtime), CPU, OS "
         "(`darwin`, `win_amd64`) or a free-threaded build. This is the `No module named ...` "
         "error, caught before deploy"),
    Rule("dead-extension", W, "an extension module the runtime will not load that its package "
         "does without: shadowed by what the import system finds first for the same name (a "
         "`.py`, a loadable `.so`), imported only under `except ImportError` (a fallback), or "
         "named by no module of its package: dead weight, and you may get the slower "
         "pure-Python path"),
    Rule("foreign-binary", W, "a Windows or macOS binary (`.pyd`, `.dll`, `.dylib`, `.exe`, "
         "PE or Mach-O) that Linux never loads: dead weight"),
    Rule("abi3-python", E, "a stable-ABI (`abi3`) extension whose minimum Python is newer than "
         "the runtime's (its wheel's tag, or C-API symbols the runtime does not export)"),
    Rule("glibc", E, "a shared object needs a newer glibc than the runtime has (2.26 on Amazon "
         "Linux 2, 2.34 on AL2023): `GLIBC_x.y` or `GLIBC_ABI_DT_RELR` (2.36), also read from "
         "the dynamic segment when section headers are stripped"),
    Rule("musl", E, "a shared object linked against musl (a `musllinux` wheel)"),
    Rule("not-elf", E, "a `.so` the runtime would load that is a Mach-O or PE file, or a "
         "malformed/truncated ELF"),
    # pydantic
    Rule("pydantic-core-module", E, "pydantic-core is there but its compiled "
         "`_pydantic_core*.so` for the runtime is not (the files importlib.metadata lists for "
         "pydantic-core hold no module with the runtime's EXT_SUFFIX)"),
    Rule("pydantic-core-stub", W, "its type stubs (`_pydantic_core.pyi`, or "
         "`_pydantic_core/__init__.pyi` in pydantic-core 2.4x+) are missing: a stripped or partial "
         "install"),
    Rule("pydantic-core-version", E, "the pydantic-core that Lambda imports differs from the one "
         "the pydantic it imports pins (`Requires-Dist: pydantic-core==X`), function and layers "
         "composed"),
    # bytecode
    Rule("bad-magic", E, "a sourceless `.pyc` (no `.py` beside it) for another Python: "
         "`ImportError: bad magic number`"),
    Rule("stale-pyc", W, "a timestamp `.pyc` whose source's date in the zip does not match its "
         "header: recompiled on every cold start, since `/opt` and `/var/task` are read-only"),
    Rule("foreign-pyc", W, "`.pyc` files in `__pycache__` for another Python: dead weight"),
    # size and runtime
    Rule("unzipped-size", E, "over 262,144,000 bytes unzipped, function plus `--with-layer` "
         "layers"),
    Rule("zipped-size", W, "over 50 MiB zipped: upload through S3"),
    Rule("runtime-deprecated", W, "the runtime is deprecated by AWS Lambda (and when creating "
         "functions on it is blocked)"),
    Rule("runtime-preview", W, "the runtime is in AWS Lambda's public preview (python3.15): "
         "not for production"),
    Rule("sdk-split", W, "the zip (with its layers) bundles boto3 without the botocore or "
         "s3transfer it pins, or those without boto3: Python then pairs the bundled one with "
         "the runtime's copy of the other (`/var/runtime`), versions that were never released "
         "together"),
    Rule("sdk-excluded", W, "`--exclude` left out a distribution the runtime also provides "
         "(boto3, botocore, ...): the function runs on the runtime's copy, whose version AWS "
         "changes without notice; AWS recommends bundling the SDK you test with"),
    # what the probe saw inside the image
    Rule("image-machine", E, "the image's CPU is not the target's"),
    Rule("image-ext-suffix", E, "the image's Python is not the target's (EXT_SUFFIX)"),
    Rule("import", E, "a top-level module of the artifact fails to import in the runtime for "
         "a packaging reason (a module, shared object or bytecode that cannot be found or "
         "loaded, a wrong ABI, a missing symbol, a wrong-Python source): Lambda fails the same "
         "way"),
    Rule("import-configuration", W, "a module fails to import for want of what the function's "
         "configuration gives it on Lambda (an unset environment variable it reads, no region "
         "or credentials, a service it cannot reach): pass it with `--env`"),
    Rule("import-unused", W, "a module the handler's module does not import fails to import "
         "for a packaging reason (a test file, a script): Lambda does not import it at cold "
         "start; an error with `--strict-import`", strict=E),
    Rule("handler", E, "the `--handler`'s module imports but has no such function: "
         "`Runtime.HandlerNotFound` on every invocation"),
    Rule("import-unclear", W, "a module's own code raised something else while importing; an "
         "error with `--strict-import`", strict=E),
    Rule("pydantic-validation", E, "pydantic imports but cannot validate a model in the "
         "runtime"),
    # container images (`check --image`), read from their manifests, config and layers
    Rule("image-index", E, "the reference names an image index (a manifest list), such as "
         "`docker buildx build` pushes by default with its provenance attestations: Lambda "
         "takes one single-platform image manifest and refuses the index (\"The image "
         "manifest, config or layer media type for the source image ... is not supported\")"),
    Rule("image-media-type", E, "a manifest, config or layer media type Lambda does not take: "
         "it takes Docker v2 schema 2 or OCI image manifests with tar or tar+gzip layers. A "
         "zstd layer counts too: Lambda documents gzip layers only, and we believe it refuses "
         "zstd (not tried)"),
    Rule("image-platform", E, "the image's platform (its config's os/architecture) is not "
         "`linux/amd64` for x86_64 or `linux/arm64` for arm64; without `--arch`, not one of "
         "those two"),
    Rule("image-base", E, "not built on an AWS Lambda Python base image: no Python at "
         "`/var/lang/bin/python3.X` with its `/var/lang/lib/python3.X/`, or no "
         "`/lambda-entrypoint.sh` to start the runtime"),
    Rule("image-base-changed", W, "a Lambda Python base whose `ENTRYPOINT "
         "[\"/lambda-entrypoint.sh\"]`, `LAMBDA_TASK_ROOT` or `LAMBDA_RUNTIME_DIR` was "
         "replaced: Lambda runs what was put instead, and the handler is looked for where the "
         "base would look"),
    Rule("image-cmd", E, "no `CMD`, a `CMD` of more than one element (the entrypoint takes "
         "exactly one: the handler), one not of the form `module.function`, or a module found "
         "neither in `/var/task`, `/opt/python` nor the runtime's own directories, or without "
         "that name at its top level"),
    Rule("image-size", E, "over 10 GB uncompressed (10,737,418,240 bytes: AWS's GB here is "
         "GiB, as its 250 MB is 262,144,000 bytes), the layers' tar sizes together"),
)  # fmt: skip

RULES: dict[str, Rule] = {rule.code: rule for rule in _TABLE}
assert len(RULES) == len(_TABLE), "a rule code is defined twice"


def finding(
    code: str, path: str, expected: str, found: str, remedy: str, strict: bool = False
) -> Finding:
    """A finding of rule ``code``, with the severity the table gives it (its strict one, if it
    has one, when ``strict``)."""
    rule = RULES[code]
    return Finding(
        code=code,
        severity=rule.strict if strict and rule.strict is not None else rule.severity,
        path=path,
        expected=expected,
        found=found,
        remedy=remedy,
    )


def rules_table() -> str:
    """RULES as docs/check.md's markdown table."""
    lines = ["| code | severity | what |", "|---|---|---|"]
    lines += [
        f"| `{r.code}` | {r.severity.value}{f' ({r.strict.value} when strict)' if r.strict else ''}"
        f" | {r.title} |"
        for r in _TABLE
    ]
    return "\n".join(lines) + "\n"
