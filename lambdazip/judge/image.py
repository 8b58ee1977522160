"""Judge a Lambda container image without running it (``check --image``): facts in
(image_facts.py), findings out.

:func:`check_image` judges what Lambda judges before it runs anything: one single-platform
manifest, media types it takes, the platform, a Lambda Python base, a ``CMD`` naming a module
that is there, the size. :func:`check_image_contents` then runs every zip check on the image's
code, /var/task as the function and /opt as its layer, so that an image's ``.so`` for the wrong
Python is found as it is in a zip, with the path the image has it at.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import replace
from pathlib import Path

from lambdazip.inside.lambdazip_contract import OPT, RUNTIME_DIR, TASK_ROOT, runtime_sys_path
from lambdazip.judge.checks import check_artifact
from lambdazip.judge.facts import ArtifactFacts, gather
from lambdazip.judge.findings import Finding, Severity
from lambdazip.judge.image_facts import ImageFacts, IndexEntry, gather_image
from lambdazip.judge.native import extension_stem
from lambdazip.judge.rules import finding
from lambdazip.judge.tree import open_tree
from lambdazip.oci.media_types import DOCKER_MANIFEST, OCI_MANIFEST
from lambdazip.oci.media_types import IMAGE_MANIFEST_TYPES as MANIFEST_TYPES
from lambdazip.targets import OFFICIAL_IMAGE, RUNTIMES, Arch, Kind, Target

__all__ = [
    "IMAGE_SIZE_LIMIT",
    "ImageFacts",
    "IndexEntry",
    "check_image",
    "check_image_contents",
    "gather_image",
]

from lambdazip.oci.media_types import CONFIG_TYPES, LAYER_TYPES

IMAGE_SIZE_LIMIT = 10 * 1024**3  # uncompressed, all layers: AWS's "10 GB" (its MB are MiB too)
LAMBDA_ENTRYPOINT = ("/lambda-entrypoint.sh",)
_HANDLER = re.compile(
    r"^(?P<module>[A-Za-z_]\w*(?:[./][A-Za-z_]\w*)*)\.(?P<function>[A-Za-z_]\w*)$"
)
# the zip checks that say nothing about an image: it is not unzipped (its limit is image-size),
# an empty /var/task is fine when the code is elsewhere, and /opt is not only a layer
_NOT_FOR_IMAGES = {
    "empty",
    "unzipped-size",
    "zipped-size",
    "too-many-layers",
    "layer-outside-python",
}
_NOT_A_FILE = {"runtime-deprecated", "runtime-preview"}  # their path is the runtime's name
_IMAGE_REMEDIES = {
    "file-mode": "make them readable in the Dockerfile, after the COPY: `RUN chmod -R a+rX "
    "${LAMBDA_TASK_ROOT} /opt`; Lambda runs the image as a user that owns none of them",
    "bin-mode": "make them executable in the Dockerfile (`COPY --chmod=755 ...` or `RUN chmod "
    "a+x ...`)",
    "zipped-folder": "copy the folder's contents, not the folder: `COPY DIR/ ${LAMBDA_TASK_ROOT}/`",
    "macos-junk": "leave them out with a .dockerignore (`**/.DS_Store`, `**/._*`, `__MACOSX`)",
}


def _repository(reference: str) -> str:
    """The reference without its tag or digest, to write a digest reference in a remedy."""
    name = reference.partition("@")[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _json(value: tuple[str, ...] | None) -> str:
    return "none" if value is None else json.dumps(list(value))


def check_index(facts: ImageFacts, arch: Arch | None) -> list[Finding]:
    if not facts.index:
        return []
    listed = ", ".join(
        (e.platform or "no platform") + (" (an attestation)" if e.attestation else "")
        for e in facts.index
    )
    platform = arch.info.oci_platform if arch is not None else "linux/amd64"
    repository = _repository(facts.reference)
    return [
        finding(
            code="image-index",
            path=facts.reference,
            expected="one image manifest for one platform (Lambda takes no index)",
            found=f"an image index ({facts.media_type}) of {len(facts.index)} manifest(s): "
            f"{listed}",
            remedy="rebuild without attestations: `docker buildx build --provenance=false "
            f"--sbom=false --platform {platform} ...`; or push that platform's manifest alone, by "
            "its digest: `docker buildx imagetools create --prefer-index=false -t "
            f"{repository}:TAG {repository}@{facts.manifest_digest}`; or build the image with "
            "`lambdazip image`, which writes one manifest",
        )
    ]


def check_media_types(facts: ImageFacts) -> list[Finding]:
    findings: list[Finding] = []
    if facts.manifest_media_type not in MANIFEST_TYPES:
        findings.append(
            finding(
                code="image-media-type",
                path=facts.reference,
                expected=f"a Docker v2 schema 2 ({DOCKER_MANIFEST}) or OCI ({OCI_MANIFEST}) "
                "image manifest",
                found=facts.manifest_media_type or "a manifest with no media type",
                remedy="push the image with docker or buildx, which write one of those",
            )
        )
    if facts.config_media_type not in CONFIG_TYPES:
        findings.append(
            finding(
                code="image-media-type",
                path=f"{facts.reference} config",
                expected=f"an image config ({' or '.join(CONFIG_TYPES)})",
                found=facts.config_media_type or "a config with no media type",
                remedy="this is not a container image (an artifact of another kind): push one "
                "built with docker build or buildx",
            )
        )
    total = len(facts.layer_media_types)
    odd: dict[tuple[str, str], list[int]] = {}
    for number, (media_type, is_) in enumerate(
        zip(facts.layer_media_types, facts.layer_compressions, strict=True), start=1
    ):
        if LAYER_TYPES.get(media_type) != is_:
            odd.setdefault((media_type, is_), []).append(number)
    for (media_type, is_), numbers in odd.items():
        zstd = is_ == "zstd" or "zstd" in media_type
        said = LAYER_TYPES.get(media_type)
        more = f" (and {len(numbers) - 1} more)" if len(numbers) > 1 else ""
        findings.append(
            finding(
                code="image-media-type",
                path=f"{facts.reference} layer {numbers[0]} of {total}{more}",
                expected="a tar+gzip (or plain tar) layer, as its media type says",
                found=f"{media_type or 'no media type'}"
                + (f", but the blob is {is_}" if said is not None else "")
                + (
                    ": zstd, which Lambda does not document (we believe it refuses it); its "
                    "files were not read either"
                    if zstd
                    else ""
                ),
                remedy="rebuild with gzip layers: `docker buildx build --output type=image,"
                "name=REPO:TAG,push=true,compression=gzip,force-compression=true ...`"
                if zstd
                else "push the image with docker or buildx, which write tar+gzip layers",
            )
        )
    return findings


def check_platform(facts: ImageFacts, arch: Arch | None) -> list[Finding]:
    amd64, arm64 = (a.info for a in (Arch.X86_64, Arch.ARM64))
    if arch is not None:
        ok = facts.os == "linux" and facts.architecture == arch.info.oci_architecture
        expected = f"{arch.info.oci_platform}, the function's {arch.value}"
        remedy = f"rebuild it for {arch.info.oci_platform}: `docker buildx build --platform "
        remedy += f"{arch.info.oci_platform} ...`, FROM {_base_image(facts, arch)}"
    else:
        ok = facts.os == "linux" and facts.architecture in (
            amd64.oci_architecture,
            arm64.oci_architecture,
        )
        expected = f"{amd64.oci_platform} (x86_64) or {arm64.oci_platform} (arm64)"
        remedy = f"Lambda runs only those: rebuild with `--platform {amd64.oci_platform}` or "
        remedy += f"`--platform {arm64.oci_platform}`"
    if ok:
        return []
    return [
        finding(
            code="image-platform",
            path=facts.reference,
            expected=expected,
            found=facts.platform or "no platform in its config",
            remedy=remedy,
        )
    ]


def _base_image(facts: ImageFacts, arch: Arch | None) -> str:
    runtime = RUNTIMES.get(facts.runtime_python or "")
    if runtime is None:
        return f"{OFFICIAL_IMAGE}:3.X"
    return runtime.image(arch) if arch is not None else f"{OFFICIAL_IMAGE}:{runtime.version}"


def check_base(facts: ImageFacts, arch: Arch | None) -> list[Finding]:
    """Built on AWS's Lambda Python base, with what starts the runtime kept."""
    keeps_entrypoint = facts.entrypoint == LAMBDA_ENTRYPOINT
    base = _base_image(facts, arch)
    missing = []
    if facts.runtime_python is None:
        missing.append("no Python at /var/lang/bin/python3.X with its /var/lang/lib/python3.X/")
    if keeps_entrypoint and "/lambda-entrypoint.sh" not in facts.runtime_files:
        missing.append("ENTRYPOINT names /lambda-entrypoint.sh, which is not in the image")
    if missing:
        if not keeps_entrypoint:
            missing.append(f"ENTRYPOINT {_json(facts.entrypoint)}")
        return [
            finding(
                code="image-base",
                path=facts.reference,
                expected="an image built FROM an AWS Lambda Python base, its ENTRYPOINT kept",
                found="; ".join(missing),
                remedy=f"build FROM {base} and copy the code into ${{LAMBDA_TASK_ROOT}}; "
                "lambdazip judges images on that base only (one that brings its own Python and "
                "runtime interface client is not what it can vouch for)",
            )
        ]
    changed = [] if keeps_entrypoint else [f"ENTRYPOINT {_json(facts.entrypoint)}"]
    for name, value in (("LAMBDA_TASK_ROOT", TASK_ROOT), ("LAMBDA_RUNTIME_DIR", RUNTIME_DIR)):
        if facts.env.get(name) != value:
            changed.append(f"{name}={facts.env.get(name, '(unset)')}")
    if not changed:
        return []
    return [
        finding(
            code="image-base-changed",
            path=facts.reference,
            expected=f'the base\'s ENTRYPOINT ["/lambda-entrypoint.sh"], LAMBDA_TASK_ROOT='
            f"{TASK_ROOT} and LAMBDA_RUNTIME_DIR={RUNTIME_DIR}",
            found=", ".join(changed),
            remedy="keep the base's: remove the ENTRYPOINT or ENV line; a wrapper entrypoint "
            'must end with `exec /lambda-entrypoint.sh "$@"`',
        )
    ]


def _roots(facts: ImageFacts) -> list[str]:
    """Where Lambda's Python looks for the handler's module, in order."""
    if facts.runtime_python is None:
        return [TASK_ROOT, f"{OPT}/python"]
    return runtime_sys_path(facts.runtime_python)


def _on_disk(facts: ImageFacts, path: str) -> Path | None:
    """Where an image path of /var/task or /opt is, extracted; None for any other."""
    for mount, extracted in ((TASK_ROOT, facts.task_root), (OPT, facts.opt)):
        if extracted is not None and (path == mount or path.startswith(mount + "/")):
            return extracted / path[len(mount) :].lstrip("/")
    return None


def _exists(facts: ImageFacts, path: str) -> bool:
    on_disk = _on_disk(facts, path)
    return on_disk.is_file() if on_disk is not None else path in facts.runtime_files


def _names_in(facts: ImageFacts, directory: str) -> list[str]:
    on_disk = _on_disk(facts, directory)
    if on_disk is not None:
        return sorted(p.name for p in on_disk.iterdir()) if on_disk.is_dir() else []
    inside = directory + "/"
    return sorted(f[len(inside) :] for f in facts.runtime_files if f.startswith(inside))


def _module_file(facts: ImageFacts, module: str) -> str | None:
    """The file Python imports for ``module`` (a package's ``__init__``, a ``.py``, a sourceless
    ``.pyc``, an extension module) on Lambda's sys.path, or None."""
    for root in _roots(facts):
        base = "/".join([root, *module.split(".")])
        for suffix in ("/__init__.py", ".py", "/__init__.pyc", ".pyc"):
            if _exists(facts, base + suffix):
                return base + suffix
        directory, _, name = base.rpartition("/")
        for found in _names_in(facts, directory):
            if found.endswith(".so") and extension_stem(found) == name:
                return f"{directory}/{found}"
    return None


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _binds(source: bytes, name: str) -> bool | None:
    """Whether a module's top level binds ``name`` (a def, a class, an assignment, an import,
    also inside ``if``, ``try``, ``with``); None when it cannot tell: a syntax error, a ``*``
    import, a module ``__getattr__``."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    bound: set[str] = set()
    statements: list[ast.AST] = list(tree.body)
    while statements:
        node = statements.pop()
        if isinstance(node, _SCOPES):
            bound.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                return None
            bound |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        for field in ("body", "orelse", "finalbody", "handlers"):  # if, try, with, for, while
            inner = getattr(node, field, None)
            statements += inner if isinstance(inner, list) else []
    if name in bound:
        return True
    return None if "__getattr__" in bound else False


def check_cmd(facts: ImageFacts) -> list[Finding]:
    """The handler ``CMD`` names, as /lambda-entrypoint.sh hands it to the runtime: one element,
    ``module.function``, the module on Lambda's sys.path, the function at its top level."""
    entrypoint, cmd = facts.entrypoint or (), facts.cmd or ()
    path = f"{facts.reference} CMD"
    dockerfile = 'CMD ["app.handler"] in the Dockerfile (or the function\'s ImageConfig Command)'

    def wrong(expected: str, found: str, remedy: str) -> list[Finding]:
        return [finding(code="image-cmd", path=path, expected=expected, found=found, remedy=remedy)]

    if not entrypoint and cmd and _HANDLER.match(cmd[0]):
        return wrong(
            "an ENTRYPOINT that hands CMD to the runtime (the base's /lambda-entrypoint.sh)",
            f"no ENTRYPOINT: Lambda runs CMD {_json(cmd)} as a program, which fails",
            "keep the base's ENTRYPOINT: remove `ENTRYPOINT []` (or set ENTRYPOINT "
            '["/lambda-entrypoint.sh"])',
        )
    if entrypoint != LAMBDA_ENTRYPOINT and not any("awslambdaric" in e for e in entrypoint):
        return []  # CMD goes to something else: image-base or image-base-changed says so
    if len(cmd) != 1:
        return wrong(
            'one element, the handler: /lambda-entrypoint.sh exits with "entrypoint requires '
            'the handler name to be the first argument" otherwise',
            "no CMD"
            if not cmd
            else f"CMD {_json(cmd)}, {len(cmd)} elements"
            + (" (the shell form of CMD)" if cmd[:2] == ("/bin/sh", "-c") else ""),
            f"write the exec form with the handler alone: {dockerfile}",
        )
    match = _HANDLER.match(cmd[0])
    if match is None:
        return wrong(
            "the handler as module.function (e.g. app.handler, pkg.api.handler)",
            f"CMD {_json(cmd)}",
            f"name the module and its function: {dockerfile}",
        )
    module, function = match["module"].replace("/", "."), match["function"]
    found = _module_file(facts, module)
    if found is None:
        where = ", ".join(_roots(facts))
        top = module.split(".")[0]
        copy = (
            f"`COPY {top}/ ${{LAMBDA_TASK_ROOT}}/{top}/`"
            if "." in module
            else f"`COPY {top}.py ${{LAMBDA_TASK_ROOT}}/`"
        )
        return wrong(
            f"a module {module} on Lambda's sys.path ({where})",
            f"no {module.replace('.', '/')}.py, package or extension module there: "
            "Runtime.ImportModuleError",
            f"copy it into the task root ({copy}), or name the module that holds the handler "
            "in CMD",
        )
    on_disk = _on_disk(facts, found)
    if on_disk is not None and found.endswith(".py"):
        with on_disk.open("rb") as fh:
            source = fh.read()
        if _binds(source, function) is False:
            return wrong(
                f"{found} defining {function} at its top level",
                f"no {function} in {found}: Runtime.HandlerNotFound on every invocation",
                f"define {function}(event, context) in {found}, or name the right one in CMD",
            )
    return []


def check_size(facts: ImageFacts) -> list[Finding]:
    if facts.uncompressed_size <= IMAGE_SIZE_LIMIT:
        return []
    return [
        finding(
            code="image-size",
            path=facts.reference,
            expected=f"at most {IMAGE_SIZE_LIMIT:,} bytes uncompressed, all layers together",
            found=f"{facts.uncompressed_size:,} bytes",
            remedy="drop what the function does not need (build caches, compilers, tests) in a "
            "multi-stage build, or move data to S3 or EFS",
        )
    ]


_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1}


def check_image(facts: ImageFacts, arch: Arch | None) -> list[Finding]:
    """Every finding about the image as Lambda takes it, errors first, in a stable order."""
    findings = [
        *check_index(facts, arch),
        *check_media_types(facts),
        *check_platform(facts, arch),
        *check_base(facts, arch),
        *check_cmd(facts),
        *check_size(facts),
    ]
    return sorted(findings, key=lambda f: (_ORDER[f.severity], f.path, f.code))


def _gathered(directory: Path | None, source: str) -> ArtifactFacts | None:
    if directory is None:
        return None
    with open_tree(directory) as tree:
        facts = gather(tree)
    return replace(facts, source=source) if facts.files or facts.problems else None


def _placed(found: Finding, main: str) -> Finding:
    """A zip check's finding with the image's paths: ``app.py`` -> ``/var/task/app.py``, the
    layer's ``opt:python/x.so`` -> ``/opt/python/x.so``."""
    path = found.path
    if path.startswith("opt:"):
        path = f"{OPT}/{path[4:]}"
    elif found.code not in _NOT_A_FILE:
        path = f"{main}/{path}"
    remedy = _IMAGE_REMEDIES.get(found.code, found.remedy)
    # a zip's rebuild is `function`; an image's is `image` (the same inputs, and --handler)
    remedy = remedy.replace("build.py function ", "build.py image ")
    if "build.py image " in remedy and "--handler" not in remedy:
        remedy = remedy.replace("build.py image ", "build.py image --handler MODULE.FUNCTION ", 1)
    return found.model_copy(update={"path": path, "remedy": remedy})


def check_image_contents(facts: ImageFacts, target: Target) -> list[Finding]:
    """The zip checks on the image's code: /var/task as the function, with /opt as its layer
    when /opt/python holds files (or /opt alone as a layer), paths as the image has them. The
    zip-only rules do not fire (a directory has no compression method or zipped size) and those
    that mean nothing for an image are left out (_NOT_FOR_IMAGES)."""
    task = _gathered(facts.task_root, TASK_ROOT)
    python = facts.opt / "python" if facts.opt is not None else None
    opt = _gathered(facts.opt, OPT) if python is not None and python.is_dir() else None
    if task is not None:
        findings = check_artifact(task, target, Kind.FUNCTION, [opt] if opt else [])
        main = TASK_ROOT
    elif opt is not None:
        findings, main = check_artifact(opt, target, Kind.LAYER), OPT
    else:
        return []
    placed = [_placed(f, main) for f in findings if f.code not in _NOT_FOR_IMAGES]
    return sorted(placed, key=lambda f: (_ORDER[f.severity], f.path, f.code))
