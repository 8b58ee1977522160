"""`check --image REF`: judge a Lambda container image as `check` judges a zip, without running
it, from the engine, a registry or an OCI layout on disk.

Where REF is read from: ``oci-archive:PATH``, ``oci:PATH`` or an existing path is an OCI image
layout; ``docker-daemon:REF`` is the engine's; ``docker://REF`` is a registry's (skopeo's
spellings); a bare REF is the engine's if the engine has it, else the registry's.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.cli.console import Console
from lambdazip.errors import CheckFailed, EngineError, UsageError
from lambdazip.inputs.options import CheckOptions
from lambdazip.targets import RUNTIMES, Arch, Target

if TYPE_CHECKING:
    from lambdazip.oci.source import ImageSource

ARCHES = {"amd64": Arch.X86_64, "arm64": Arch.ARM64}


@contextlib.contextmanager
def open_source(
    reference: str, env: Mapping[str, str], arch: Arch | None
) -> Iterator[tuple[ImageSource, str]]:
    """The image ``reference`` names, and where it was found ("the engine", a registry, a path)."""
    for prefix in ("oci-archive:", "oci:"):
        if reference.startswith(prefix):
            yield from _layout(Path(reference.removeprefix(prefix)))
            return
    path = Path(reference)
    if path.is_file() or (("/" in reference or "\\" in reference) and path.is_dir()):
        yield from _layout(path)  # a file, or a directory named as a path (not a bare name)
        return
    if reference.startswith("docker://"):
        yield from _registry(reference.removeprefix("docker://"), env)
        return
    engine_only = reference.startswith("docker-daemon:")
    name = reference.removeprefix("docker-daemon:")
    from lambdazip.build.engine import Engine

    try:
        engine = Engine.connect(env, arch.value if arch else None)
    except EngineError as exc:
        if engine_only:
            raise
        raise EngineError(
            f"{exc.message} (to look for {name} there)",
            tip=f"start the engine, or read it from its registry: check --image docker://{name}",
        ) from exc
    if engine is not None:
        with engine:
            found = engine.image(name)
            if found is not None:
                from lambdazip.oci.engine_source import EngineSource

                with EngineSource(engine, name) as source:
                    # an engine's image has no manifest digest until it is pushed: its ID says
                    yield source, f"the engine (image {found.id[:19]})"
                return
    if engine_only:
        raise UsageError(f"the engine has no image {name}", tip="build or pull it first")
    yield from _registry(name, env)


def _layout(path: Path) -> Iterator[tuple[ImageSource, str]]:
    from lambdazip.oci.source import OciLayoutSource

    with OciLayoutSource(path) as source:
        yield source, str(path)


def _registry(reference: str, env: Mapping[str, str]) -> Iterator[tuple[ImageSource, str]]:
    from lambdazip.oci.reference import Reference
    from lambdazip.oci.registry import RegistrySource

    parsed = Reference.parse(reference)
    source = RegistrySource.open(parsed, env)
    try:
        yield source, parsed.registry
    finally:
        source.close()


def run(args: CheckOptions, console: Console, env: Mapping[str, str]) -> int:
    from lambdazip.judge.findings import Severity
    from lambdazip.judge.image import check_image, check_image_contents, gather_image
    from lambdazip.judge.rules import finding

    assert args.image is not None
    if args.layers or args.kind is not None:
        raise UsageError(
            "--with-layer and --kind go with a zip, not --image", tip="an image holds its /opt"
        )
    reference = args.image
    with tempfile.TemporaryDirectory(prefix="lambdazip-image-") as scratch:
        with open_source(reference, env, args.arch) as (source, where):
            console.step(f"reading {reference} from {where}")
            facts = gather_image(source, reference, args.arch, Path(scratch))
        findings = check_image(facts, args.arch)
        arch = args.arch or ARCHES.get(facts.architecture)
        runtime = RUNTIMES.get(facts.runtime_python or "")
        if args.python is not None and runtime is not None and args.python != runtime:
            findings.append(
                finding(
                    "image-base",
                    "/var/lang",
                    f"the {args.python.name} runtime's Python",
                    f"python{facts.runtime_python}",
                    f"build FROM public.ecr.aws/lambda/python:{args.python.version}",
                )
            )
        runtime = args.python or runtime
        target = Target(runtime, arch) if runtime is not None and arch is not None else None
        # an image for another CPU: its native code is too, and one cause gives one finding
        wrong_platform = any(f.code == "image-platform" for f in findings)
        if target is not None and not wrong_platform:
            findings += check_image_contents(facts, target)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    warnings = [f for f in findings if f.severity is Severity.WARNING]
    engines = where.startswith("the engine")
    named = (
        where.removeprefix("the engine (").rstrip(")") if engines else facts.manifest_digest[:19]
    )
    what = f"{reference} ({named}) as a function image"
    summary = (
        f"{what} for {target}: {len(errors)} error(s), {len(warnings)} warning(s)"
        if target is not None
        else f"{what}: {len(errors)} error(s), {len(warnings)} warning(s) (its /var/task not "
        "checked: no Lambda Python runtime and architecture to check it for)"
    )
    if args.json:
        document = {
            "image": reference,
            # an engine's image has none until it is pushed (the engine's is its own synthesis)
            "manifest_digest": None if engines else facts.manifest_digest,
            "media_type": facts.media_type,
            "platform": facts.platform,
            "runtime": f"python{facts.runtime_python}" if facts.runtime_python else None,
            "cmd": list(facts.cmd) if facts.cmd is not None else None,
            "uncompressed_size": facts.uncompressed_size,
            "ok": not errors,
            "findings": [f.model_dump(mode="json") for f in findings],
        }
        console.result(json.dumps(document, indent=2))
    else:
        for found in findings:
            console.finding(found)
    if errors:
        raise CheckFailed(summary, tip="fix the errors above, then check again")
    console.success(f"ok: {summary}")
    return 0
