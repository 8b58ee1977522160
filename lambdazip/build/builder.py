"""Build a layer or function zip inside the Lambda image of its target.

:func:`build` carries out a frozen :class:`~lambdazip.build.plan.BuildPlan`:

1. the base image (official by default), pulled for the target platform if absent, its
   architecture verified; the build image on it (images.py);
2. if an artifact built from the same inputs is already in place, it is reused: no container;
3. a container: the requirements (and the function's code) go in through the archive API, the
   runtime's own pip (or the pinned uv) installs them natively with a download cache in a named
   volume, the runtime's interpreter compiles hash-based bytecode, and the probe runs there
   (`build --watch`: a function's container is kept warm between builds, warm.py);
4. the tree comes out through the archive API; the probe's facts and the static check judge it;
5. only if nothing failed: the deterministic zip and its manifest, moved into place atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.build.engine import Engine, ImageInfo, VolumeMount
from lambdazip.build.exits import Exited, failure
from lambdazip.build.images import Progress, build_context_digest, build_image, resolve_base_image
from lambdazip.build.plan import TMPFS_VARIABLE, BuildPlan
from lambdazip.errors import BuildChecksFailed, BuildFailed, OutputError
from lambdazip.inputs.build_inputs import Bytecode, Installer
from lambdazip.inputs.configuration import configuration_json
from lambdazip.inside import lambdazip_contract as contract
from lambdazip.inside import lambdazip_results as results
from lambdazip.outputs.archive import ZipResult, output_lock, sha256_file
from lambdazip.outputs.claims import disagreement
from lambdazip.outputs.manifest import manifest_of, put_set_in_place, sbom_names, write_sbom
from lambdazip.targets import RUNTIME_PROVIDED, Kind

IMPORT_RULES = ("import", "import-configuration", "import-unclear", "import-unused", "handler")

if TYPE_CHECKING:  # imported where used: a no-op build loads neither pydantic nor pyelftools
    from lambdazip.build.container import Container
    from lambdazip.build.shared_cache import Notices
    from lambdazip.build.warm import WarmContainers
    from lambdazip.judge.findings import Finding
    from lambdazip.judge.probe import ProbeFacts
    from lambdazip.outputs.report import Manifest


class BuildResult:
    """The zip in place and its manifest. A reused zip's manifest is read as JSON (which decides
    up to date) and validated only when asked for: a no-op build never loads pydantic."""

    def __init__(
        self,
        zip: ZipResult,
        manifest: Manifest | tuple[Path, bytes],
        reused: bool = False,
        timings: dict[str, float] | None = None,
        warned: bool | None = None,  # a reused manifest's JSON says whether it holds warnings
        shared: Notices | None = None,  # what the shared cache did, if one was named
    ) -> None:
        self.zip = zip
        self._manifest = manifest
        self.reused = reused
        self.timings = timings or {}
        self._warned = warned
        self.shared = shared

    @property
    def status(self) -> str:
        """How the artifact came to be in place: reused, pulled (a shared cache's) or built."""
        if self.reused:
            return "reused"
        return "pulled" if self.shared and self.shared.pulled_from else "built"

    @property
    def manifest(self) -> Manifest:
        if isinstance(self._manifest, tuple):
            from lambdazip.outputs.report import Manifest

            path, document = self._manifest
            try:
                self._manifest = Manifest.model_validate_json(document)
            except ValueError as exc:
                raise OutputError(
                    f"{path} is damaged: {str(exc).splitlines()[0]}",
                    tip="delete it, or build again with --force",
                ) from exc
        return self._manifest

    def distributions(self) -> dict[str, str]:
        """{name: version} of what the zip holds, as its manifest says (read off the JSON of a
        reused one: a no-op of a project whose functions use layers loads no model)."""
        if isinstance(self._manifest, tuple):
            try:
                recorded = json.loads(self._manifest[1])["distributions"]
                return {str(d["name"]): str(d["version"]) for d in recorded}
            except (ValueError, KeyError, TypeError):
                pass  # said by the model's validation
        return {d.name: d.version for d in self.manifest.distributions}

    @property
    def warnings(self) -> list[Finding]:
        if self._warned is False:  # read off the JSON: nothing to validate
            return []
        return [f for f in self.manifest.findings if f.severity == "warning"]


def up_to_date(plan: BuildPlan, key: str) -> BuildResult | None:
    """The artifact in place, if it was built from exactly these inputs and is intact."""
    if plan.inputs.no_cache or plan.inputs.force:
        return None
    try:
        document = plan.manifest_path.read_bytes()
        recorded = json.loads(document)
        if disagreement(recorded, plan.output, key) is not None:
            return None
        result = ZipResult(
            plan.output,
            str(recorded["sha256"]),
            int(recorded["zipped_size"]),
            int(recorded["unzipped_size"]),
            int(recorded["files"]),
        )
        warned = any(f["severity"] == "warning" for f in recorded["findings"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return BuildResult(result, (plan.manifest_path, document), reused=True, warned=warned)


def build(
    engine: Engine,
    plan: BuildPlan,
    progress: Progress,
    before_writing: Callable[[Path], None] | None = None,
    warm: WarmContainers | None = None,
) -> BuildResult:
    """Carry out ``plan``; nothing is written to ``plan.out_dir`` unless every check passes,
    ``before_writing`` (the smoke event: given the finished zip before it is put in place)
    included; ``warm``: a function is built in a container kept for the next build."""
    started = time.time()  # a result another build puts in place after this is not ours to replace
    base = resolve_base_image(engine, plan.base_image, plan.target, progress)
    digests = plan.source_digests()  # read once: for the key and the manifest
    key = plan.cache_key(base.id, build_context_digest(), digests)
    reused = up_to_date(plan, key)
    if reused is not None:
        if not sbom_names(plan.sbom_path, reused.zip.sha256):  # made from the manifest alone
            write_sbom(plan.sbom_path, reused.manifest)
        if before_writing is not None:  # every check the user asked for runs, on a reused zip too
            progress.step(f"{plan.output.name} is up to date: checking it again")
            before_writing(plan.output)
        return reused
    shared = None
    if plan.inputs.pull_from or plan.inputs.push_to:
        from lambdazip.build import shared_cache

        shared = shared_cache.Notices()
        taken = shared_cache.take(plan, key, progress, shared)
        if taken is not None:  # the smoke event's sha256 is in the key: it passed on this set
            shared.pulled_from = taken.stored.reference
            return BuildResult(taken.zip, taken.manifest, shared=shared)
    import tempfile

    image = build_image(engine, base, plan.target, progress)  # a no-op needs no build image

    with tempfile.TemporaryDirectory(prefix="lambdazip-") as scratch_name:
        scratch = Path(scratch_name)
        try:
            built = _install_in_image(
                engine, plan, image, progress, scratch, plan.tmpfs_mb != 0, warm
            )
        except _NoRoomInMemory:
            room = f"{plan.tmpfs_mb} MB" if plan.tmpfs_mb else "half the engine's memory"
            progress.step(
                f"the installed tree needs more than {room} ({TMPFS_VARIABLE}): "
                "building again on the image's disk"
            )
            built = _install_in_image(engine, plan, image, progress, scratch, in_memory=False)
        # only now, loaded while the container worked: a no-op needs none of these, and a build
        # does not wait for them before its container starts
        from lambdazip.judge.checks import check_artifact
        from lambdazip.judge.facts import gather
        from lambdazip.judge.findings import Severity
        from lambdazip.judge.probe import check_probe
        from lambdazip.judge.tree import open_tree

        packed, probe = built.packed, built.probe
        _same_selection(plan, probe.python_version)
        progress.step("checking the result")
        # the zip is judged, once, as `check` judges it: the manifest carries the same warnings
        with open_tree(packed.path) as opened:
            facts = gather(opened)
        findings = check_artifact(facts, plan.target, plan.kind)
        judged = check_probe(probe, plan.target, plan.inputs.strict_import)
        if not plan.judge_imports:
            judged = [f for f in judged if f.code not in IMPORT_RULES]
        findings += judged
        findings += _excluded_sdk(plan, probe)
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors:
            raise BuildChecksFailed(errors)
        progress.step(f"writing {plan.output}")
        try:
            plan.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create {plan.out_dir}: {exc.strerror}", tip="pass a writable -o DIR"
            ) from exc
        staged = plan.output.with_name(f".{plan.output.name}.{secrets.token_hex(6)}.staged")
        try:
            try:
                shutil.copyfile(packed.path, staged)
            except OSError as exc:
                raise OutputError(
                    f"cannot write {plan.output}: {exc.strerror}", tip="check the output directory"
                ) from exc
            result = dataclasses.replace(packed, path=staged)
            if before_writing is not None:
                before_writing(staged)
            manifest = manifest_of(
                plan, key, digests, base, built, facts, findings, result, engine.info
            )
            with output_lock(plan.output):
                _refuse_a_concurrent_result(plan.output, started, result.sha256)
                put_set_in_place(staged, plan.output, plan.manifest_path, plan.sbom_path, manifest)
        finally:
            with contextlib.suppress(OSError):  # never hide the error on its way out
                staged.unlink(missing_ok=True)
    if shared is not None:
        from lambdazip.build.shared_cache import give

        give(plan, key, result.sha256, progress, shared)
    return BuildResult(
        dataclasses.replace(result, path=plan.output),
        manifest,
        timings=built.timings,
        shared=shared,
    )


def _excluded_sdk(plan: BuildPlan, probe: ProbeFacts) -> list[Finding]:
    """--exclude of what the runtime also provides: allowed, and said with the runtime's version."""
    from lambdazip.judge.rules import finding

    runtime = {d.name: d.version for d in probe.runtime_distributions}
    unknown = "(unknown version)"
    return [
        finding(
            "sdk-excluded",
            name,
            f"{name} bundled, the version your code is tested with",
            f"left out by --exclude; the runtime has {name} {runtime.get(name, unknown)}",
            f"keep {name} in the zip unless you accept whatever version the runtime updates to",
        )
        for name in plan.inputs.exclude
        if name in RUNTIME_PROVIDED
    ]


def _same_selection(plan: BuildPlan, full_version: str) -> None:
    """A lock whose markers read the Python's patch version was selected for X.Y.0; the image's
    interpreter says which it is: the selection must not depend on the difference."""
    from lambdazip.inputs.project import read_locked

    locked = plan.locked
    if locked is None or locked.full_version_assumed in (None, full_version):
        return
    again = read_locked(
        locked.path,
        plan.target,
        uv_platform=plan.inputs.installer is Installer.UV,
        groups=locked.groups,
        extras=locked.extras,
        allow_empty=True,
        python_full_version=full_version,
    )
    if again.text != locked.text:
        raise BuildFailed(
            f"{locked.path} selects other packages for Python {full_version} (the image's) than "
            f"for {locked.full_version_assumed}",
            tip="lock without markers on python_full_version, or build on an image of the "
            "runtime's exact version",
        )


def _refuse_a_concurrent_result(output: Path, started: float, ours: str) -> None:
    """Two builds of one output at the same time: the first to finish keeps it, and what it
    printed stays true; the second says it lost instead of silently replacing it."""
    try:
        written = output.stat().st_mtime
    except FileNotFoundError:
        return
    if written < started:
        return
    theirs = sha256_file(output)
    if theirs != ours:
        raise OutputError(
            f"another build wrote {output} while this one ran (sha256 {theirs}); this build's "
            f"zip (sha256 {ours}) was not put in place",
            tip="run builds of the same output one after the other, or give them different "
            "-o or --name",
        )


@dataclass(frozen=True)
class Built:
    """What the build container made: the zip and the facts reported beside it."""

    packed: ZipResult
    probe: ProbeFacts
    installer: str
    producer: dict[str, object]
    dropped: list[tuple[str, str]]
    timings: dict[str, float]
    wheels: dict[str, tuple[str, str]]  # {name: (wheel file, sha256)} where known
    slimmed: list[dict[str, object]]  # [{path, reason, bytes}] of --exclude/--prune/--strip


def _import_while_waiting() -> threading.Thread:
    """Import what judging the result needs (pydantic, pyelftools, cyclonedx-python-lib: about a
    second on a slow host) while the container works and this process only waits for its output.
    Started once the SDK is loaded and joined before anything else is imported, so the two threads
    never import at the same time."""

    def load() -> None:
        from lambdazip.judge import tree  # noqa: F401

    thread = threading.Thread(target=load, name="lambdazip-imports", daemon=True)
    thread.start()
    return thread


class _NoRoomInMemory(Exception):
    """The installed tree did not fit in the tmpfs of the install root."""


def _install_in_image(
    engine: Engine,
    plan: BuildPlan,
    image: ImageInfo,
    progress: Progress,
    scratch: Path,
    in_memory: bool,
    warm: WarmContainers | None = None,
) -> Built:
    """Install, compile, probe and pack in one container; the zip and the facts land in
    ``scratch``. ``in_memory``: the install root and /tmp are tmpfs mounts (the tree is written
    and read a few times over, and each small file costs much more on the image's copy-on-write
    disk); raises _NoRoomInMemory if the tree did not fit there."""
    from lambdazip.build.transfer import tar_files, unpack

    memory = None
    if in_memory:  # the install root, and /tmp where pip unpacks before it moves the files there
        size = f",size={plan.tmpfs_mb}m" if plan.tmpfs_mb else ""
        memory = {
            contract.install_root(plan.kind.value): f"rw,exec,nosuid,nodev,mode=755{size}",
            "/tmp": f"rw,exec,nosuid,nodev,mode=1777{size}",  # noqa: S108 - the container's own
        }

    cache = engine.cache_volume(plan.cache_volume) if plan.cache_volume else None
    inside_plan = contract.InsidePlan(
        kind=plan.kind.value,
        # nothing to install (a function whose layers provide all its dependencies): no installer
        install=plan.locked is not None and bool(plan.locked.lines),
        requirements=contract.REQUIREMENTS,
        require_hashes=plan.require_hashes,
        installer=plan.inputs.installer.value,
        cache=contract.CACHE_DIR if cache else None,
        bytecode=None if plan.inputs.bytecode is Bytecode.NONE else plan.inputs.bytecode.value,
        platforms=plan.target.runtime.wheel_platform_tags(plan.target.arch),
        uv_platform=plan.target.runtime.uv_platform(plan.target.arch),
        pack=True,
        epoch=plan.epoch,
        keep=tuple(
            m.arcname for m in plan.sources if m.arcname == ".lock" or m.arcname.startswith("bin/")
        ),
        # a lock names each file already; a requirements file's hashes do not say which was used
        report=plan.locked is not None and not plan.locked.wheels and bool(plan.locked.lines),
        exclude=plan.inputs.exclude,
        prune=plan.inputs.prune,
        strip=plan.inputs.strip,
        sources=contract.SOURCES if plan.sources else None,  # (none: no directory to copy)
        handler=plan.handler,
        warm=_in_warm(plan, memory, warm) is not None,
    )
    inputs = {_relative(contract.REQUIREMENTS): plan.installed_requirements}
    if plan.ca_bundle is not None:
        inputs[_relative(contract.CA_BUNDLE)] = plan.ca_bundle.read_bytes()
    if plan.configuration:  # a file: the values appear in no listing of the engine
        inputs[_relative(contract.CONFIGURATION)] = configuration_json(plan.configuration)
    output: list[str] = []

    def keep(line: str) -> None:
        line = plan.redact(line)
        output.append(line)
        if line.startswith(contract.PROGRESS):  # a long wait in the image, said as a step
            progress.step(line.removeprefix(contract.PROGRESS))
        else:
            progress.detail(line)

    command = [contract.PYTHON, INSTALL_SCRIPT, inside_plan.to_json()]
    volumes = [VolumeMount(cache, contract.CACHE_DIR)] if cache else []
    with _job_container(engine, plan, image, command, volumes, memory, warm, keep) as (
        container,
        run,
    ):
        # the code beside the requirements: install.py copies it into the root (maybe a tmpfs)
        sources = _relative(contract.SOURCES) + "/"
        container.put(contract.INSIDE_DIR, tar_files(inputs, plan.sources, sources))
        progress.step(
            f"installing {plan.requirements.name} with {plan.inputs.installer.value} in the image, "
            "compiling, probing"
        )
        warming = _import_while_waiting()
        try:
            code = run()
        finally:
            warming.join()
        if in_memory and any(contract.NO_SPACE in line for line in output):
            raise _NoRoomInMemory  # whatever else failed: some write did not happen
        if code != contract.Exit.OK:
            exited = Exited(code, output, "the build", plan.base_image, plan.target, plan)
            raise failure(exited)
        progress.step("copying the zip out of the container")
        out = scratch / "out"
        unpack(container.get(contract.OUT_DIR), out, strip=1)

    from lambdazip.judge.probe import ProbeFacts

    def read(name: str) -> bytes | None:
        path = out / name
        return path.read_bytes() if path.is_file() else None

    probe, packed_facts = read(contract.PROBE_FACTS), read(contract.PACKED)
    if probe is None or packed_facts is None or not (out / contract.ARTIFACT).is_file():
        raise BuildFailed(
            "the build container left no facts or no zip", tip="run again with -v to see its output"
        )
    try:  # each result as the contract types it: a file that is not is a fault here
        facts = results.load(results.PackResult, packed_facts)
        installed = results.load(results.InstallResult, read(contract.INSTALLED) or b"")
        reported = read(contract.WHEELS)
        wheels_result = results.load(results.WheelsResult, reported) if reported else None
        slimmed = read(contract.SLIMMED)
        slim_result = results.load(results.SlimResult, slimmed) if slimmed else None
    except results.ResultError as exc:
        raise BuildFailed(
            f"the image's results are not this version's: {exc}",
            tip="rebuild with --no-cache (a build image of another lambdazip may be in use)",
        ) from None
    zipped = facts.packed
    packed = ZipResult(
        out / contract.ARTIFACT,
        zipped.sha256,
        zipped.zipped_size,
        zipped.unzipped_size,
        zipped.files,
    )
    if sha256_file(packed.path) != packed.sha256:
        raise BuildFailed(
            "the zip changed on its way out of the container", tip="run the build again"
        )
    if plan.locked is not None and plan.locked.wheels:
        wheels = {w.name: (w.filename, w.sha256) for w in plan.locked.wheels}
    else:
        found = wheels_result.wheels if wheels_result else {}
        wheels = {name: (w.filename, w.sha256) for name, w in found.items()}
    return Built(
        wheels=wheels,
        slimmed=[dataclasses.asdict(r) for r in slim_result.removals] if slim_result else [],
        packed=packed,
        probe=ProbeFacts.model_validate_json(probe),
        installer=installed.installer,
        producer=facts.producer,
        dropped=list(facts.dropped),
        timings=installed.timings,
    )


INSTALL_SCRIPT = f"{contract.INSIDE_DIR}/install.py"
WARM_CHECK = 30.0  # seconds: a warm container used more recently is running (asked only after)


def _in_warm(
    plan: BuildPlan, memory: dict[str, str] | None, warm: WarmContainers | None
) -> WarmContainers | None:
    """Where this build's container is kept, if it is: a function's, in memory (a tree on the
    image's disk is the fallback of one that did not fit: built in a new container)."""
    return warm if memory is not None and plan.kind is Kind.FUNCTION else None


@contextlib.contextmanager
def _job_container(
    engine: Engine,
    plan: BuildPlan,
    image: ImageInfo,
    command: list[str],
    volumes: list[VolumeMount],
    memory: dict[str, str] | None,
    warm: WarmContainers | None,
    output: Callable[[str], None],
) -> Iterator[tuple[Container, Callable[[], int]]]:
    """The container a build runs ``command`` in, with the plan's layers at /opt, and how to run
    it: a new one; or, given ``warm`` (a function's build in memory), the one kept for the same
    image, settings and layers, which install.py leaves empty after each build (InsidePlan.warm;
    a container that stopped is made again)."""
    from lambdazip.build.runner import tar_artifact

    def put_layers(container: Container) -> None:
        for layer in plan.layers:  # where Lambda puts them: the probe imports through them
            container.put(contract.OPT, tar_artifact(layer))

    environment = plan.container_environment(contract.CA_BUNDLE)
    # the one container a build's settings make: new, or warm for the next build
    settings = functools.partial(
        engine.container,
        image.id,
        platform=plan.platform,
        environment=environment,
        volumes=volumes,
        tmpfs=memory,
    )
    warm = _in_warm(plan, memory, warm)
    if warm is None or memory is None:
        with settings(command, purpose="build") as container:
            put_layers(container)
            yield container, lambda: container.run(output)
        return
    key = hashlib.sha256(
        json.dumps(
            [image.id, plan.platform, environment, [(v.volume, v.target) for v in volumes],
             memory, plan.layer_sha256],
            sort_keys=True,
        ).encode()
    ).hexdigest()  # fmt: skip

    def make() -> contextlib.AbstractContextManager[Container]:
        keep_alive = [contract.PYTHON, INSTALL_SCRIPT, "--keep-alive"]
        return settings(keep_alive, purpose="warm", auto_remove=True)

    def prepare(container: Container) -> None:
        with engine.failures(container.name):
            container.start()
            put_layers(container)

    container, idle = warm.get(key, make, prepare)
    if idle is not None and idle > WARM_CHECK:  # stopped (idle too long) or removed by hand?
        with engine.failures(container.name):
            stopped = not container.running()
        if stopped:  # made again
            warm.drop(key)
            container, _idle = warm.get(key, make, prepare)
    try:
        with engine.failures(container.name):
            yield container, lambda: container.exec(command, output)
    except BaseException:
        warm.drop(key)  # a failed build may have left files: the next one starts afresh
        raise


def _relative(path: str) -> str:
    """A path under INSIDE_DIR as a member name of the tar put there."""
    return path.removeprefix(contract.INSIDE_DIR + "/")
