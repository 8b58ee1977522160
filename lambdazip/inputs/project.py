"""A build's dependencies, from the file the project already has, as the one thing the image
installs: hash-locked requirements, one ``name==version`` per distribution with the sha256 of the
files it may be installed from. A lock is never re-resolved on the way.

Looked for in a project directory, in this order:

- ``pylock.toml`` (PEP 751): read and validated by ``packaging.pylock``; for the target's markers
  (Linux, the runtime's Python, the CPU) and wheel tags (the runtime's glibc ceiling, as the
  installer in the image sees it), ``Pylock.select`` picks each package and the one wheel of it
  that will be installed; its line carries that wheel's hash alone, so the installer can take no
  other file.
- ``uv.lock``: exported by the pinned uv (``uv export --format pylock.toml --frozen --no-dev
  --no-editable --no-emit-project``, with ``--group``/``--extra``), then read as above; a lock
  behind its pyproject.toml is refused (``uv lock --check --offline``).
- ``poetry.lock``: refused with its remedy (``poetry export``); no maintained library outside
  Poetry itself reads it.
- ``requirements.txt``: as before (requirements.py).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdazip.errors import UsageError, one_line
from lambdazip.inputs.requirements import HASH, logical_lines, read_requirements
from lambdazip.targets import Target

if TYPE_CHECKING:  # packaging is imported where used: a requirements file needs none of it
    from packaging.tags import Tag

# what a project directory is searched for, best first
INPUT_FILES = ("pylock.toml", "uv.lock", "poetry.lock", "requirements.txt")
_POETRY_TIP = (
    "export it: `poetry export --format requirements.txt --output requirements.txt` "
    "(poetry-plugin-export, hashes included), then build from it (-r requirements.txt, or "
    'requirements = "requirements.txt" in a [tool.lambdazip] table)'
)


@dataclass(frozen=True)
class LockedWheel:
    """The one file a lock says a distribution is installed from."""

    name: str  # normalized
    version: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class Locked:
    """What a build installs, and where it came from."""

    path: Path  # the file read: a requirements file, pylock.toml or uv.lock
    format: str  # "requirements" | "pylock" | "uv.lock"
    text: str  # the hash-locked requirements the installer is given
    all_hashed: bool
    groups: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    wheels: tuple[LockedWheel, ...] = ()  # a lock's: the file chosen for each distribution
    full_version_assumed: str | None = None  # a lock whose markers read python_full_version

    @property
    def lines(self) -> list[str]:
        """One requirement per line, continuations joined, comments dropped."""
        return [line for _number, line in logical_lines(self.text)]

    def pinned(self) -> list[tuple[str, list[str], str]]:
        """(canonical name, its == versions, the line) of each requirement."""
        from packaging.requirements import Requirement
        from packaging.utils import canonicalize_name

        found: list[tuple[str, list[str], str]] = []
        for line in self.lines:
            requirement = Requirement(HASH.split(line, maxsplit=1)[0].strip())
            pins = [s.version for s in requirement.specifier if s.operator in ("==", "===")]
            found.append((canonicalize_name(requirement.name), pins, line))
        return found

    def without(self, provided: Mapping[str, str]) -> tuple[Locked, list[str]]:
        """These requirements less those pinned to the very version ``provided`` ({name:
        version}, e.g. by the function's layers), and the ``name==version`` left out."""
        kept, gone = [], []
        for name, pins, line in self.pinned():
            if name in provided and pins == [provided[name]]:
                gone.append(f"{name}=={provided[name]}")
            else:
                kept.append(line)
        names = {g.split("==", 1)[0] for g in gone}
        wheels = tuple(w for w in self.wheels if w.name not in names)
        text = "\n".join(kept) + "\n" if kept else ""
        return dataclasses.replace(self, text=text, wheels=wheels), gone


def input_format(path: Path) -> str:
    name = path.name
    if name == "uv.lock":
        return "uv.lock"
    if name == "poetry.lock":
        return "poetry.lock"
    if name.endswith(".toml"):
        from packaging.pylock import is_valid_pylock_path  # only for a .toml

        if is_valid_pylock_path(path):
            return "pylock"
    return "requirements"


def discover(project: Path | None, requirements: Path | None, cwd: Path) -> Path:
    """The file to read: -r as given; else the first of INPUT_FILES in --project (or in the
    current directory, falling back to requirements.txt so a missing file is named as such)."""
    if requirements is not None:
        return requirements
    directory = project if project is not None else cwd
    if project is not None and not project.is_dir():
        raise UsageError(
            f"--project {project} is not a directory", tip="pass the directory of pyproject.toml"
        )
    for name in INPUT_FILES:
        if (directory / name).is_file():
            return directory / name if project is not None else Path(name)
    if project is not None:
        raise UsageError(
            f"--project {project} has none of {', '.join(INPUT_FILES)}",
            tip="lock it first (`uv lock`, or `uv pip compile --generate-hashes`), or pass -r",
        )
    return Path("requirements.txt")


def read_locked(
    path: Path,
    target: Target,
    *,
    uv_platform: bool,
    groups: Sequence[str] = (),
    extras: Sequence[str] = (),
    allow_unhashed: bool = False,
    allow_empty: bool = False,
    python_full_version: str | None = None,
) -> Locked:
    """Read ``path`` into what the image installs for ``target``. ``uv_platform``: the
    installer is uv, which sees the glibc ceiling of Runtime.uv_platform (pip: every tag)."""
    kind = input_format(path)
    if kind == "poetry.lock":
        raise UsageError(f"{path} is a Poetry lock, which lambdazip does not read", tip=_POETRY_TIP)
    if kind == "requirements":
        if groups or extras:
            raise UsageError(
                f"--group and --extra choose within a lock (pylock.toml, uv.lock); {path} is none",
                tip="drop them, or build from the project's lock with --project",
            )
        read = read_requirements(path, allow_unhashed=allow_unhashed, allow_empty=allow_empty)
        return Locked(path, kind, read.text, read.all_hashed)
    if not path.is_file():
        raise UsageError(f"{path} does not exist", tip="pass the project's lock file")
    if kind == "uv.lock":
        _check_current(path)
        text = _uv_export(path, groups, extras)
        data = _toml(text, path, "as uv exported it")
        locked = _select(path, data, target, uv_platform, (), (), allow_empty, python_full_version)
        return dataclasses.replace(
            locked, format="uv.lock", groups=tuple(groups), extras=tuple(extras)
        )
    data = _toml(_read_text(path), path, "")
    return _select(
        path, data, target, uv_platform, groups, extras, allow_empty, python_full_version
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", tip="pass a readable lock file") from None


def _toml(text: str, path: Path, how: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the 3.10 host
        import tomli as tomllib

    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(
            f"{path} is not valid TOML{' ' + how if how else ''}: {exc}", tip="fix or regenerate it"
        ) from None
    return data


def uv_binary() -> str:
    """The uv the tool was installed with (the ``uv`` package, pinned in requirements-tool.txt)."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        raise UsageError(
            "reading uv.lock needs uv, which is not installed with this lambdazip",
            tip="install lambdazip with its dependencies (pip install -r requirements-tool.txt)",
        ) from None


_CURRENT: set[tuple[str, tuple[int, ...]]] = set()  # (lock, its and pyproject's stat) seen


def _check_current(lock: Path) -> None:
    """A uv.lock that no longer matches its pyproject.toml (a dependency added, and `uv lock` not
    run) is refused: exported with --frozen, it would build what the lock says, silently, not what
    the project declares. Asked of the pinned uv once a process per state of the two files,
    offline, with the options the lock records (`uv lock --check --offline --exclude-newer ...`:
    how it was locked is not a change) and the user's uv settings (their indexes). uv says why it
    would resolve again before it needs the network; when it cannot tell, the build goes on."""
    import re
    import subprocess

    try:
        states = [f.stat() for f in (lock, lock.parent / "pyproject.toml")]
    except OSError:
        return  # (no pyproject.toml beside it: nothing to hold it against)
    key = (str(lock.resolve()), tuple(n for st in states for n in (st.st_mtime_ns, st.st_size)))
    if key in _CURRENT:
        return
    from lambdazip.oci.store import BlobStore

    store = BlobStore.of(os.environ)
    verdict = f"uv-lock-current-{_lock_inputs_digest(lock)}"
    if store.note(verdict) == {"current": True}:  # these very files were found current before
        _CURRENT.add(key)
        return
    command = [uv_binary(), "lock", "--check", "--offline", "--no-progress", "-v"]
    command += _locked_with(lock)
    environment = {k: v for k, v in os.environ.items() if k not in ("UV_FROZEN", "UV_LOCKED")}
    done = subprocess.run(
        command, cwd=lock.parent, capture_output=True, text=True, env=environment,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    # uv says why it resolves again before it resolves (which offline may not get to the end of:
    # a package not in its cache); either line says the lock is not what pyproject.toml declares
    why = re.search(r"existing lockfile due to (.+)", done.stderr)
    if why or "needs to be updated" in done.stderr:
        raise UsageError(
            f"{lock} is out of date with {lock.parent / 'pyproject.toml'}"
            + (f" ({one_line(why[1], 160)})" if why else ": uv would change it"),
            tip=f"run `uv lock` in {lock.parent} (and commit the lock), then build again",
        )
    _CURRENT.add(key)  # current, or not to be told offline: asked again when a file changes
    if done.returncode == 0:
        store.write_note(verdict, {"current": True})


def _lock_inputs_digest(lock: Path) -> str:
    """What `uv lock --check` reads, hashed: the lock, the pyproject.toml of its project and of
    each local package it names (a workspace's members), the pinned uv, the user's uv settings."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    try:
        uv = version("uv")
    except PackageNotFoundError:
        uv = "?"
    digest = hashlib.sha256(f"{uv_binary()} {uv}".encode())
    text = lock.read_bytes()
    digest.update(text)
    local = re.findall(rb'source = \{ (?:editable|virtual|directory) = "([^"]+)" \}', text)
    for path in sorted({b".", *local}):
        try:
            digest.update(
                path + b"\0" + (lock.parent / path.decode() / "pyproject.toml").read_bytes()
            )
        except (OSError, UnicodeDecodeError):
            digest.update(path + b"\0-")
    for name, value in sorted(os.environ.items()):
        if name.startswith("UV_"):
            digest.update(f"{name}={value}\0".encode())
    return digest.hexdigest()


_LOCK_OPTIONS = {  # uv.lock's [options] -> the `uv lock` flag that sets it
    "exclude-newer": "--exclude-newer",
    "resolution-mode": "--resolution",
    "prerelease-mode": "--prerelease",
    "fork-strategy": "--fork-strategy",
}


def _locked_with(lock: Path) -> list[str]:
    """The flags that give `uv lock` the options the lock was made with."""
    try:
        options = _toml(lock.read_text(encoding="utf-8"), lock, "").get("options", {})
    except (OSError, UsageError):
        return []
    flags: list[str] = []
    for key, flag in _LOCK_OPTIONS.items():
        if isinstance(options.get(key), str):
            flags += [flag, options[key]]
    for package, date in (options.get("exclude-newer-package") or {}).items():
        flags += ["--exclude-newer-package", f"{package}={date}"]
    return flags


def _uv_export(lock: Path, groups: Sequence[str], extras: Sequence[str]) -> str:
    """uv.lock as pylock.toml, by the pinned uv, from the lock alone (--frozen: nothing is
    resolved, nothing downloaded)."""
    import subprocess

    command = [uv_binary(), "export", "--format", "pylock.toml", "--frozen", "--no-editable"]
    command += ["--no-emit-project", "--no-header", "--quiet"]
    command += ["--no-default-groups"] if groups else ["--no-dev"]
    for group in groups:
        command += ["--group", group]
    for extra in extras:
        command += ["--extra", extra]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    environment["UV_NO_PROGRESS"] = "1"
    done = subprocess.run(
        command,
        cwd=lock.parent,
        capture_output=True,
        text=True,
        env=environment,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        said = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        cause = " ".join(said[:3]).removeprefix("error: ") or f"exit {done.returncode}"
        raise UsageError(
            f"uv could not export {lock}: {cause}",
            tip="run `uv lock` in the project (the lock must match pyproject.toml), and name only "
            "groups and extras it declares",
        )
    return done.stdout


def marker_environment(target: Target, full_version: str | None = None) -> dict[str, str]:
    """PEP 508 marker values of the target's runtime (Amazon Linux, CPython)."""
    full = full_version or f"{target.runtime.version}.0"
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": "posix",
        "platform_machine": target.arch.info.uname_machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full,
        "python_version": target.runtime.version,
        "sys_platform": "linux",
    }


def wheel_tags(target: Target, uv_platform: bool) -> list[Tag]:
    from packaging.tags import compatible_tags, cpython_tags

    """The tags the installer in the image accepts for the runtime, best first."""
    runtime, arch = target.runtime, target.arch
    platforms = list(runtime.wheel_platform_tags(arch))
    if uv_platform:  # uv's ceiling may be lower than the runtime's glibc (Runtime.uv_platform)
        ceiling = runtime.uv_platform(arch).split("-", 1)[1]
        top = next(i for i, tag in enumerate(platforms) if tag.startswith(ceiling))
        platforms = platforms[top:]
    version = runtime.version_tuple
    return [
        *cpython_tags(version, platforms=platforms),
        *compatible_tags(version, f"cp{runtime.nodot}", platforms),
    ]


_FULL_VERSION = re.compile(r"python_full_version|implementation_version")


def _select(
    path: Path,
    data: dict[str, Any],
    target: Target,
    uv_platform: bool,
    groups: Sequence[str],
    extras: Sequence[str],
    allow_empty: bool,
    full_version: str | None,
) -> Locked:
    from packaging.pylock import (  # only for a lock: a requirements file never needs it
        PackageWheel,
        Pylock,
        PylockSelectError,
        PylockUnsupportedVersionError,
        PylockValidationError,
    )
    from packaging.utils import canonicalize_name

    try:
        lock = Pylock.from_dict(data)
    except PylockUnsupportedVersionError as exc:
        raise UsageError(
            f"{path}: {exc}", tip="write it with a tool of PEP 751's version 1"
        ) from None
    except PylockValidationError as exc:
        raise UsageError(f"{path} is not a valid pylock.toml: {exc}", tip="regenerate it") from None
    sensitive = any(p.marker and _FULL_VERSION.search(str(p.marker)) for p in lock.packages)
    where = (
        f"{target.runtime.name} on {target.arch.value} (glibc {target.runtime.glibc_text}"
        + (", as uv sees it" if uv_platform else "")
        + ")"
    )
    try:
        chosen = list(
            lock.select(
                environment=marker_environment(target, full_version),  # type: ignore[arg-type]
                tags=wheel_tags(target, uv_platform),
                extras=extras or None,
                dependency_groups=groups or None,
            )
        )
    except PylockSelectError as exc:
        raise UsageError(
            f"{path} cannot be installed for {where}: {exc}",
            tip="lock for this runtime and CPU (wheels for manylinux and this Python), and name "
            "only extras and groups the lock declares",
        ) from None
    lines = ["# hash-locked from " + path.name + " for " + str(target)]
    wheels: list[LockedWheel] = []
    for package, dist in sorted(chosen, key=lambda pd: str(pd[0].name)):
        name = canonicalize_name(package.name)
        if not isinstance(dist, PackageWheel) and package.wheels:
            raise UsageError(
                f"{path}: no wheel of {name}=={package.version} in the lock fits {where} (it "
                f"locks {len(package.wheels)} other wheel(s) and a source distribution)",
                tip="lock a version that publishes a wheel for this runtime and CPU (source "
                "builds are refused: they would compile on the build host's terms)",
            )
        if not isinstance(dist, PackageWheel) or package.version is None:
            what = type(dist).__name__.removeprefix("Package").lower()
            raise UsageError(
                f"{path}: {name} is locked as {what}, not as a wheel for {where}",
                tip="only wheels are installed (a source build would compile on the build "
                "host's terms): lock a version that publishes a wheel for this target",
            )
        digest = dist.hashes.get("sha256")
        filename = dist.name or Path(str(dist.url or dist.path or "")).name
        if not digest:
            raise UsageError(
                f"{path}: the wheel {filename} of {name} has no sha256",
                tip="regenerate the lock with sha256 hashes",
            )
        lines.append(f"{name}=={package.version} --hash=sha256:{digest}")
        wheels.append(LockedWheel(name, str(package.version), filename, digest))
    if not wheels and not allow_empty:
        raise UsageError(
            f"{path} locks nothing to install for {where}",
            tip="add the packages the layer should hold to the project, then lock it",
        )
    return Locked(
        path,
        "pylock",
        "\n".join(lines) + "\n",
        all_hashed=True,
        groups=tuple(groups),
        extras=tuple(extras),
        wheels=tuple(wheels),
        full_version_assumed=(full_version or f"{target.runtime.version}.0") if sensitive else None,
    )
