"""The build plan: every option resolved and validated into one frozen value before anything runs.
``--print-plan`` prints it; the cache key is derived from it."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lambdazip import __version__
from lambdazip.errors import OutputError, UsageError
from lambdazip.inputs.build_inputs import BuildInputs, Installer
from lambdazip.inputs.configuration import Configuration
from lambdazip.inputs.project import Locked, read_locked
from lambdazip.inputs.source import IGNORE_FILE, LeftOut, Selection, select
from lambdazip.inside.lambdazip_contract import install_root, redact
from lambdazip.outputs.archive import Member, sha256_file
from lambdazip.targets import UNZIPPED_LIMIT, Kind, Target

# Settings of the host's installer that mean the same inside the container, and their names for
# uv. The CA bundle is handled apart: its file is copied in and these names point at the copy.
PASSED_THROUGH = {
    "PIP_INDEX_URL": "UV_INDEX_URL",
    "PIP_EXTRA_INDEX_URL": "UV_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST": None,
    "PIP_DEFAULT_TIMEOUT": "UV_HTTP_TIMEOUT",
    "PIP_RETRIES": None,
    "HTTP_PROXY": None,
    "HTTPS_PROXY": None,
    "NO_PROXY": None,
    "http_proxy": None,
    "https_proxy": None,
    "no_proxy": None,
}
CA_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def cache_volume_name(target: Target) -> str:
    """The named volume that keeps a target's downloads between builds (and `cache export`)."""
    return f"lambdazip-cache-{target.runtime.name}-{target.arch.value}"


@dataclass(frozen=True)
class BuildPlan:
    kind: Kind
    target: Target
    requirements: Path  # the file read: a requirements file, pylock.toml or uv.lock
    src: Path | None
    out_dir: Path
    name: str
    base_image: str
    ca_bundle: Path | None
    environment: tuple[tuple[str, str], ...]
    epoch: int
    inputs: BuildInputs = BuildInputs()  # how: the declared options (inputs/build_inputs.py)
    require_hashes: bool = True  # every requirement carries --hash: the installer must check
    sources: tuple[Member, ...] = ()  # what of --src is packed (source.py)
    left_out: tuple[LeftOut, ...] = ()  # and what is not, with why
    handler: str | None = None
    include: tuple[
        str, ...
    ] = ()  # --include: what of --src was packed although left out by default
    smoke_event_sha256: str | None = None  # a verification the user asked for: part of the key
    locked: Locked | None = None  # what is installed (project.py); None: an empty function
    layers: tuple[Path, ...] = ()  # a function's layer zips: at /opt while it is probed
    # the install root in memory (a tmpfs of at most this many MB; None: the kernel's default,
    # half the engine's memory), or 0: on the image's disk. The bytes built are the same
    tmpfs_mb: int | None = None
    # the function's environment variables (configuration.py): the probe and the smoke event
    # import with them; the names go into the manifest, the values nowhere
    configuration: Configuration = ()
    # whether the probe's imports are judged here: not for an image's dependencies, whose modules
    # are judged in the image, with its handler's module imported first
    judge_imports: bool = True
    # the environment the shared cache's registry login is looked up in (docker's config, its
    # credential helpers, AWS's): not an input of the bytes, never printed
    credentials_env: Mapping[str, str] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )

    @functools.cached_property
    def layer_sha256(self) -> tuple[str, ...]:
        """The sha256 of each layer zip, read once: for the key and the manifest."""
        return tuple(_layer_sha256(layer) for layer in self.layers)

    @property
    def slimming(self) -> str:
        parts = [f"--exclude {name}" for name in self.inputs.exclude]
        parts += ["--prune"] * self.inputs.prune + ["--strip"] * self.inputs.strip
        return " ".join(parts)

    @property
    def sbom_path(self) -> Path:
        """The CycloneDX SBOM beside the zip (sbom.py)."""
        return self.output.with_suffix(".cdx.json")

    @property
    def installed_requirements(self) -> bytes:
        """The hash-locked requirements the installer is given."""
        return self.locked.text.encode() if self.locked is not None else b""

    @property
    def output(self) -> Path:
        return self.out_dir / output_name(self.name, self.target)

    @property
    def manifest_path(self) -> Path:
        return self.output.with_suffix(".manifest.json")

    @property
    def platform(self) -> str:
        return self.target.arch.info.oci_platform

    @property
    def install_root(self) -> str:
        """Where the runtime finds the code: the layer's /opt/python or the function's task root."""
        return install_root(self.kind.value)

    @property
    def cache_volume(self) -> str | None:
        return None if self.inputs.no_cache else cache_volume_name(self.target)

    def secrets(self) -> tuple[str, ...]:
        """The credentials inside the settings passed in (user:token@ in index URLs, proxies),
        to be redacted from everything the build prints or keeps."""
        found: set[str] = set()
        for _key, value in self.environment:
            for url in value.split():
                parts = urlsplit(url)
                if parts.password:
                    found.add(parts.password)
                    found.add(unquote(parts.password))
                if parts.username and parts.password is None and "@" in parts.netloc:
                    found.add(parts.username)  # a token used as the user name
        return tuple(sorted((s for s in found if len(s) >= 4), key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return redact(text, [value for _name, value in self.configuration])

    def container_environment(self, ca_path: str) -> dict[str, str]:
        environment: dict[str, str] = {"PYTHONDONTWRITEBYTECODE": "1"}
        for key, value in self.environment:
            environment[key] = value
            uv_name = PASSED_THROUGH.get(key)
            if uv_name and self.inputs.installer is Installer.UV:
                environment[uv_name] = value
        if self.ca_bundle is not None:
            environment.update(dict.fromkeys(CA_VARIABLES, ca_path))
        return environment

    def cache_key(
        self,
        base_image_id: str,
        build_context_digest: str,
        source_digests: Mapping[str, str] | None = None,
    ) -> str:
        """A digest of every input that decides the artifact's bytes; ``source_digests``: the
        sources' digests as already read (source_digests()), else read now."""
        sources = self.source_digests() if source_digests is None else source_digests
        digest = hashlib.sha256()
        parts = [
            f"lambdazip {__version__}",
            self.kind.value,
            self.name,  # the manifest and the SBOM name the artifact: a shared set is of one name
            str(self.target),
            base_image_id,
            build_context_digest,
            # every recorded input (installer, bytecode, slimming, ...): a new one joins by itself
            json.dumps(self.inputs.record(), sort_keys=True),
            str(self.epoch),
        ]
        # the values may hold credentials (an index URL with a token): only their digest is kept
        parts += [f"{key}={value}" for key, value in self.environment]
        for part in parts:
            digest.update(part.encode() + b"\0")
        digest.update(self.installed_requirements + b"\0")
        digest.update(f"handler={self.handler}\0smoke={self.smoke_event_sha256}\0".encode())
        # the configuration's names: its values decide the import check's verdict, not the
        # bytes, and the key is published in the manifest, where a digest of values could be
        # guessed back; a change of value alone reuses the zip (--force checks it again)
        digest.update(f"configuration={[name for name, _ in self.configuration]}\0".encode())
        for layer_sha256 in self.layer_sha256:
            digest.update(f"layer={layer_sha256}\0".encode())
        for member in self.sources:
            digest.update(f"{member.arcname}\0{member.executable}\0".encode())
            digest.update(f"{sources[member.arcname]}\0".encode())
        return digest.hexdigest()

    def source_digests(self) -> dict[str, str]:
        """The sha256 of each packed file of --src, as the files are now."""
        return {m.arcname: sha256_file(m.source) for m in self.sources}

    def describe(self) -> list[str]:
        passed = ", ".join(k for k, _ in self.environment) or "(nothing)"  # names, not values
        return [
            f"kind:          {self.kind.value}",
            f"target:        {self.target.runtime.name} on {self.target.arch.value} "
            f"({self.platform}, {self.target.runtime.os}, glibc {self.target.runtime.glibc_text})",
            f"base image:    {self.base_image}",
            f"requirements:  {self.requirements}"
            + (
                f" ({self.locked.format})"
                if self.locked and self.locked.format != "requirements"
                else ""
            )
            + (
                f", groups {', '.join(self.locked.groups)}"
                if self.locked and self.locked.groups
                else ""
            )
            + (
                f", extras {', '.join(self.locked.extras)}"
                if self.locked and self.locked.extras
                else ""
            ),
            f"source:        {self.src}" if self.src else "source:        (none: a layer)",
            f"install into:  {self.install_root} inside the image, with "
            f"{self.inputs.installer.value}",
            f"bytecode:      {self.inputs.bytecode.value}",
            f"slimming:      {self.slimming or '(none)'}",
            f"cache:         {self.cache_volume or '(off)'}"
            + (" (rebuild forced)" if self.inputs.force else ""),
            f"shared cache:  from {self.inputs.pull_from or '(none)'}, "
            f"to {self.inputs.push_to or '(none)'}",
            f"ca bundle:     {self.ca_bundle or '(none)'}",
            f"passed in:     {passed}",
            "configuration: "
            + (", ".join(name for name, _ in self.configuration) or "(none)")
            + " (names only)"
            + (", --strict-import" if self.inputs.strict_import else ""),
            f"output:        {self.output}",
            f"manifest:      {self.manifest_path}",
            f"sbom:          {self.sbom_path}",
            f"zip timestamp: {self.epoch} (SOURCE_DATE_EPOCH)",
        ]


def _ca_bundle(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise UsageError(f"--ca-bundle {explicit} is not a file", tip="pass a PEM bundle")
        return explicit
    for name in CA_VARIABLES:
        value = env.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None


def make_plan(
    *,
    kind: Kind,
    target: Target,
    requirements: Path,
    src: Path | None,
    out_dir: Path,
    name: str | None,
    base_image: str | None,
    ca_bundle: Path | None,
    env: Mapping[str, str],
    epoch: int,
    inputs: BuildInputs = BuildInputs(),
    handler: str | None = None,
    include: tuple[str, ...] = (),
    smoke_event: bytes | None = None,
    layers: tuple[Path, ...] = (),
    provided: Mapping[str, str] | None = None,
    configuration: Configuration = (),
) -> BuildPlan:
    """Validate the options and freeze them. Reads nothing but the file system's answers (and
    the pinned uv's export of a uv.lock)."""
    locked = read_locked(
        requirements,
        target,
        uv_platform=inputs.installer is Installer.UV,
        groups=inputs.groups,
        extras=inputs.extras,
        allow_unhashed=inputs.allow_unhashed,
        allow_empty=kind is Kind.FUNCTION,
    )
    provided_by: tuple[LeftOut, ...] = ()
    if provided:  # what the function's layers already hold, at the same version, stays out
        locked, gone = locked.without(provided)
        provided_by = tuple(LeftOut(g, "provided by its layers, at this version") for g in gone)
    excluded = _excluded(inputs.exclude, locked)
    if kind is Kind.FUNCTION and (src is None or not src.is_dir()):
        raise UsageError(
            f"--src {src} is not a directory" if src else "a function needs --src DIR",
            tip="point --src at the directory that holds your handler module",
        )
    if src is not None and src.resolve() == Path(src.resolve().anchor):
        raise UsageError(
            f"--src {src} is the whole file system",
            tip="point --src at the directory that holds your function's code",
        )
    if kind is Kind.FUNCTION and src is not None and handler is not None:
        check_handler(src, handler)
    _check_output_dir(out_dir)
    if name is None:
        name = (
            "layer" if kind is Kind.LAYER else ((src.resolve().name if src else "") or "function")
        )
    if not _NAME.match(name):
        raise UsageError(
            f"--name {name!r} is not a plain file name", tip="use letters, digits, . _ -"
        )
    if len(f".{name}-{target}.zip.0123456789ab.staged".encode()) > 255:
        raise UsageError(
            f"--name {name[:40]}... is too long for a file name", tip="use a shorter --name"
        )
    selection = select(src, out_dir, include) if src is not None else None
    if selection is not None:
        _check_source_size(src, selection, kind)
    return BuildPlan(
        kind=kind,
        target=target,
        requirements=requirements,
        src=src,
        out_dir=out_dir,
        name=name,
        base_image=base_image or target.runtime.image(target.arch),
        ca_bundle=_ca_bundle(ca_bundle, env),
        environment=tuple((k, env[k]) for k in PASSED_THROUGH if env.get(k)),
        epoch=epoch,
        inputs=dataclasses.replace(inputs, exclude=excluded),
        require_hashes=locked.all_hashed,
        sources=selection.members if selection else (),
        include=include,
        left_out=(selection.left_out if selection else ()) + provided_by,
        handler=handler,
        smoke_event_sha256=hashlib.sha256(smoke_event).hexdigest() if smoke_event else None,
        locked=locked,
        layers=layers,
        tmpfs_mb=tmpfs_megabytes(env),
        configuration=configuration,
        credentials_env=env,
    )


TMPFS_VARIABLE = "LAMBDAZIP_TMPFS_MB"


def tmpfs_megabytes(env: Mapping[str, str]) -> int | None:
    """LAMBDAZIP_TMPFS_MB: the most memory the installed tree may take (0: build on disk)."""
    raw = env.get(TMPFS_VARIABLE, "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"[0-9]{1,9}", raw):  # no sign: "-1" is no size
        raise UsageError(
            f"{TMPFS_VARIABLE}={raw!r} is not a whole number of megabytes",
            tip="set it to the most memory (MB) the installed tree may take, 0 to build on "
            "disk, or unset it",
        )
    return int(raw)


def _excluded(names: tuple[str, ...], locked: Locked) -> tuple[str, ...]:
    """--exclude names, canonical, each one of the distributions the lock installs."""
    if not names:
        return ()
    from packaging.utils import canonicalize_name  # only for --exclude

    installed = {name for name, _pins, _line in locked.pinned()}
    result = []
    for name in names:
        canonical = canonicalize_name(name)
        if canonical not in installed:
            raise UsageError(
                f"--exclude {name}: {locked.path} installs no such distribution",
                tip=f"name one of: {', '.join(sorted(installed)) or '(none)'}",
            )
        result.append(canonical)
    return tuple(sorted(set(result)))


def _check_source_size(src: Path | None, selection: Selection, kind: Kind) -> None:
    """Refuse what Lambda would refuse before anything is sent into a container."""
    size = selection.size
    if size <= UNZIPPED_LIMIT:
        return
    sizes = {m.arcname: Path(m.source).stat().st_size for m in selection.members}
    largest = sorted(selection.members, key=lambda m: sizes[m.arcname], reverse=True)[:3]
    shown = ", ".join(f"{m.arcname} ({sizes[m.arcname]:,} bytes)" for m in largest)
    raise UsageError(
        f"--src {src} is {size:,} bytes, over the {UNZIPPED_LIMIT:,} bytes Lambda allows a "
        f"{kind.value} unzipped; the largest: {shown}",
        tip=f"leave out what the function does not need ({IGNORE_FILE}), or use a container image",
    )


def _check_output_dir(out_dir: Path) -> None:
    """Fail before the build, not after it, when the output directory cannot be made."""
    existing = out_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(
            f"cannot create the output directory {out_dir}: {existing} is not a directory",
            tip="pass -o a directory path",
        )
    if not os.access(existing, os.W_OK):
        raise OutputError(f"cannot write in {existing}", tip="pass -o a directory you can write to")


def check_handler(src: Path, handler: str) -> None:
    module, _, function = handler.rpartition(".")
    if not module or not function:
        raise UsageError(
            f"--handler {handler!r} is not MODULE.FUNCTION", tip="e.g. --handler app.handler"
        )
    base = src.joinpath(*module.split("."))
    candidates = [
        base.with_suffix(".py"),
        base / "__init__.py",
        *base.parent.glob(f"{base.name}.*.so"),
    ]
    if not any(path.is_file() for path in candidates):
        raise UsageError(
            f"--src {src} has no module {module!r} for --handler {handler}",
            tip=f"add {module.replace('.', '/')}.py to {src}, or fix --handler",
        )


_LAYER_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def _layer_sha256(path: Path) -> str:
    """A layer zip's sha256, read once a process while the file stays the same one (its inode,
    size and modification time: a zip is replaced whole, by a rename): every function on the
    layer needs it, again at each build of `build --watch`."""
    try:
        stat = path.stat()
    except OSError:
        return sha256_file(path)  # (says what is wrong with it)
    key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _LAYER_DIGESTS:
        if len(_LAYER_DIGESTS) > 256:  # a long --watch: layers rebuilt many times
            _LAYER_DIGESTS.clear()
        _LAYER_DIGESTS[key] = sha256_file(path)
    return _LAYER_DIGESTS[key]


def output_name(name: str, target: Target) -> str:
    """An artifact's zip: NAME-python3.X-ARCH.zip (its manifest and SBOM beside it)."""
    return f"{name}-{target.runtime.name}-{target.arch.value}.zip"
