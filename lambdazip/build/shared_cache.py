"""The shared artifact cache's policy (--cache-from, --cache-to, ``cache = "REF"``).

A build's bytes are a pure function of its cache key (every input, the base image's ID, this
tool's version), so a set stored under that key by any machine is what a build here would
write. Taking one starts no container: its files are fetched and verified (each blob against its
digest, then the set against itself and the plan: the key, the zip's name and sha256, the
distributions its dist-info declares, the SBOM the manifest makes) and only then put in place,
atomically, the manifest saying where the set came from. Anything short of that is a miss: the
build goes on here, and says why.

The cache is an accelerator, never a dependency: a registry that cannot be reached or refuses
(login, quota) costs one warning and the build goes on (exit 0). Runners pushing one key at once
all succeed (a push the registry refuses while another writes the same blobs is tried again: see
oci/artifact_cache.push_set): the zip and SBOM are the same bytes, and either manifest is a true
record of its build.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.errors import DamagedBlob, LambdaZipError, RegistryError
from lambdazip.oci.media_types import CYCLONEDX, LAMBDAZIP_MANIFEST, ZIP

if TYPE_CHECKING:
    from lambdazip.build.images import Progress
    from lambdazip.build.plan import BuildPlan
    from lambdazip.oci.artifact_cache import SetFile, Stored
    from lambdazip.outputs.archive import ZipResult
    from lambdazip.outputs.report import Manifest


@dataclass
class Notices:
    """What the shared cache did for one build, for the command to say."""

    pulled_from: str | None = None  # REGISTRY/REPOSITORY@DIGEST of the set taken
    pushed_to: str | None = None
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (message, tip)


@dataclass(frozen=True)
class Taken:
    """A set taken from the cache and put in place."""

    zip: ZipResult
    manifest: Manifest
    stored: Stored


def _files(plan: BuildPlan) -> list[SetFile]:
    from lambdazip.oci.artifact_cache import SetFile

    return [
        SetFile(plan.output.name, ZIP, plan.output),
        SetFile(plan.manifest_path.name, LAMBDAZIP_MANIFEST, plan.manifest_path),
        SetFile(plan.sbom_path.name, CYCLONEDX, plan.sbom_path),
    ]


# a registry that failed once in this command (unreachable, refusing the login) is not asked
# again by the builds that follow (a project's, a matrix's): one warning, not one per artifact
_FAILED: dict[str, str] = {}
_FAILED_LOCK = threading.Lock()


def forget_failures() -> None:
    """A new command: every registry is asked again (main() calls this)."""
    with _FAILED_LOCK:
        _FAILED.clear()


_CONTACT: dict[str, threading.Lock] = {}


def _contact(repository: str) -> threading.Lock:
    """One build at a time talks to a repository (a matrix builds targets in parallel): the
    first one that finds it down says so, and the others then do not ask again."""
    with _FAILED_LOCK:
        return _CONTACT.setdefault(repository, threading.Lock())


def _failed_before(repository: str, progress: Progress) -> bool:
    with _FAILED_LOCK:
        said = _FAILED.get(repository)
    if said is not None:
        progress.step(f"the shared cache {repository} failed before ({said}): not asked again")
    return said is not None


def _remember_failure(repository: str, exc: RegistryError) -> None:
    """Unreachable, refusing the login, out of quota, failing: not asked again."""
    if exc.status is None:  # an answer that is not a set's (a damaged copy, a bad manifest)
        return
    if exc.status in (0, 401, 403, 429) or exc.status >= 500:  # 0: no answer at all
        with _FAILED_LOCK:
            _FAILED.setdefault(repository, exc.message)


class _Refused(Exception):
    """The set fetched is not the one the plan needs (the reason is the message)."""


def take(plan: BuildPlan, key: str, progress: Progress, notices: Notices) -> Taken | None:
    """The set stored under ``key`` in plan.inputs.pull_from, verified and put in place; None
    (the reason said as a step, a fault also as a warning) if there is none to take."""
    repository = plan.inputs.pull_from
    if repository is None:
        return None
    with _contact(repository):
        if _failed_before(repository, progress):
            return None
        return _take(plan, key, repository, progress, notices)


def _take(
    plan: BuildPlan, key: str, repository: str, progress: Progress, notices: Notices
) -> Taken | None:
    from lambdazip.oci.artifact_cache import NotASet, NotStored, pull_set

    progress.step(f"looking for {plan.output.name} in the shared cache {repository}")
    wanted = {f.name: f.media_type for f in _files(plan)}
    try:
        plan.out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".lambdazip-pull-", dir=plan.out_dir) as scratch:
            into = Path(scratch)
            try:
                stored = pull_set(repository, key, wanted, into, plan.credentials_env)
                return _put_in_place(plan, key, into, stored, progress)
            except NotStored:
                progress.step(f"not in the shared cache (key {key}): building it here")
            except NotASet as exc:
                _warn(
                    notices,
                    progress,
                    f"{repository}:{key} is not a lambdazip set: {exc}",
                    f"delete the tag {key} in {repository}: the next build pushes a set there",
                )
            except _Refused as exc:
                _warn(
                    notices,
                    progress,
                    f"the set {repository}:{key} was refused: {exc}",
                    f"delete the tag {key} in {repository}: the next build pushes it anew",
                )
            except DamagedBlob as exc:
                _warn(
                    notices,
                    progress,
                    f"the shared cache {repository}: {exc.message}",
                    f"the registry's copy is damaged and stays until deleted: delete the tag "
                    f"{key} and the blob in {repository}",
                )
            except RegistryError as exc:
                _remember_failure(repository, exc)
                _warn(notices, progress, f"the shared cache {repository}: {exc.message}", exc.tip)
    except OSError as exc:  # the scratch place in the output directory
        _warn(notices, progress, f"cannot take a set into {plan.out_dir}: {exc.strerror}")
    return None


def _warn(notices: Notices, progress: Progress, message: str, tip: str | None = None) -> None:
    tip = tip or "nothing to do for this build; if it repeats, check the registry"
    notices.warnings.append((f"{message}; built here instead", tip))
    progress.step(f"{message}: building it here")


def _put_in_place(
    plan: BuildPlan, key: str, into: Path, stored: Stored, progress: Progress
) -> Taken:
    """The fetched set checked against itself and the plan, then moved into the output
    directory as a build's is (put_files_in_place: atomically, the manifest last)."""
    from lambdazip.outputs.archive import ZipResult, output_lock
    from lambdazip.outputs.claims import disagreement
    from lambdazip.outputs.manifest import put_files_in_place
    from lambdazip.outputs.report import Manifest
    from lambdazip.outputs.sbom import sbom_json

    zip_path = into / plan.output.name
    manifest_bytes = (into / plan.manifest_path.name).read_bytes()
    sbom_bytes = (into / plan.sbom_path.name).read_bytes()
    try:
        manifest = Manifest.model_validate_json(manifest_bytes)
    except ValueError as exc:
        raise _Refused(f"its manifest is not one: {str(exc).splitlines()[0]}") from None
    why = disagreement(json.loads(manifest_bytes), zip_path, key)
    if why is None and sbom_bytes != sbom_json(manifest).encode():
        why = "its SBOM is not its manifest's"
    if why is not None:
        raise _Refused(why)
    taken = manifest.model_copy(update={"cached_from": stored.reference})
    progress.step(f"pulled from the shared cache: {stored.reference}")
    staged = plan.output.with_name(f".{plan.output.name}.{secrets.token_hex(6)}.staged")
    zip_path.replace(staged)
    try:
        with output_lock(plan.output):
            put_files_in_place(
                staged,
                plan.output,
                plan.manifest_path,
                taken.model_dump_json(indent=2) + "\n",
                plan.sbom_path,
                sbom_bytes.decode(),
            )
    finally:
        staged.unlink(missing_ok=True)
    result = ZipResult(
        plan.output, manifest.sha256, manifest.zipped_size, manifest.unzipped_size, manifest.files
    )
    return Taken(result, taken, stored)


def give(plan: BuildPlan, key: str, sha256: str, progress: Progress, notices: Notices) -> None:
    """Push the set just put in place (its zip of ``sha256``) to plan.inputs.push_to; a failure
    is a warning."""
    repository = plan.inputs.push_to
    if repository is None:
        return
    with _contact(repository):
        if not _failed_before(repository, progress):
            _give(plan, key, sha256, repository, progress, notices)


def _give(
    plan: BuildPlan, key: str, sha256: str, repository: str, progress: Progress, notices: Notices
) -> None:
    from lambdazip.oci.artifact_cache import push_set
    from lambdazip.outputs.archive import sha256_file
    from lambdazip.outputs.manifest import sbom_names

    progress.step(f"pushing {plan.output.name} to the shared cache {repository}")
    try:
        if sha256_file(plan.output) != sha256 or not sbom_names(plan.sbom_path, sha256):
            notices.warnings.append(
                (f"{plan.output.name} changed after this build wrote it (another build of the "
                 f"same output?): not pushed to {repository}",
                 "run builds of one output one after the other"),
            )  # fmt: skip
            return
        stored = push_set(repository, key, _files(plan), plan.credentials_env)
    except OSError as exc:
        notices.warnings.append(
            (f"cannot read the set to push it to {repository}: {exc.strerror}", "build again")
        )
        return
    except LambdaZipError as exc:
        if isinstance(exc, RegistryError):
            _remember_failure(repository, exc)
        notices.warnings.append(
            (
                f"the set was built but not pushed to the shared cache {repository}: {exc.message}",
                exc.tip or "check the registry and your login to it (docker login)",
            )
        )
        progress.step(f"not pushed: {exc.message}")
        return
    notices.pushed_to = stored.reference
    progress.step(f"pushed: {stored.reference}")
