"""What `lambdazip build` wrote into an output directory, per project: so that the next build
removes its own artifacts that the project no longer declares (a function renamed or removed, a
target dropped) and never a file it did not write (another project's in the same directory, a
file put there by hand, a zip changed since).

The ledger is `.lambdazip-outputs.json` in the output directory: {"schema_version": 1,
"projects": {"/abs/project": ["api-python3.13-x86_64.zip", ...]}}. A zip is removed, with its
manifest and SBOM, only if this project's ledger lists it, the project declares it no more, and
its manifest still names its bytes (its sha256): a zip changed by anyone else is left alone, and
one another project's ledger lists too is left to that project. Two projects may share an output
directory but not an artifact's name: a build refuses to write a zip another project's last build
recorded (``theirs``), as long as that project is there (a directory with its pyproject.toml).
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterable
from pathlib import Path

from lambdazip.outputs.archive import output_lock, sha256_file

LEDGER = ".lambdazip-outputs.json"
SCHEMA_VERSION = 1


def _read(out_dir: Path) -> dict[str, list[str]]:
    try:
        document = json.loads((out_dir / LEDGER).read_text(encoding="utf-8"))
        projects = document["projects"] if document["schema_version"] == SCHEMA_VERSION else {}
        return {str(k): [str(n) for n in v] for k, v in projects.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # none yet, or unreadable: nothing is known to be ours


def _live(projects: dict[str, list[str]], key: str) -> dict[str, list[str]]:
    """The other projects still there (their entries outlive them otherwise)."""
    return {
        other: names
        for other, names in projects.items()
        if other != key and (Path(other) / "pyproject.toml").is_file()
    }


def theirs(out_dir: Path, project: Path, names: Iterable[str]) -> dict[str, str]:
    """{zip name: the other project's directory} for each of ``names`` another project's last
    build in ``out_dir`` wrote and its ledger lists (in any case)."""
    others = _live(_read(out_dir), str(project.resolve()))
    # names that differ only in case are one file on macOS and Windows
    owner = {name.casefold(): other for other, listed in sorted(others.items()) for name in listed}
    return {name: owner[name.casefold()] for name in names if name.casefold() in owner}


def settle(
    out_dir: Path,
    project: Path,
    declared: set[str],
    written: Iterable[str],
    kept: list[Path] | None = None,
) -> list[Path]:
    """Remove this project's artifacts it no longer declares (zip names not in ``declared``),
    record what it holds now (those kept and ``written``); the zips removed. Those not removed
    because they changed since they were written are appended to ``kept`` (to be said once:
    they are no longer this project's)."""
    key = str(project.resolve())
    removed: list[Path] = []
    ledger = out_dir / LEDGER
    if not out_dir.is_dir():
        return removed
    with output_lock(ledger):
        projects = _read(out_dir)
        before = set(projects.get(key, []))
        others = _live(projects, key)
        shared = {name for listed in others.values() for name in listed}
        for name in sorted(before - declared - shared):
            if _remove_if_ours(out_dir / name):
                removed.append(out_dir / name)
            elif kept is not None and (out_dir / name).exists():
                kept.append(out_dir / name)
        holding = {n for n in before & declared if (out_dir / n).is_file()}
        projects = {**others, key: sorted(holding | set(written))}  # (those gone: dropped)
        projects = {k: v for k, v in projects.items() if v}
        if not projects:  # nothing of any project's here any more: no ledger either
            with contextlib.suppress(OSError):
                ledger.unlink(missing_ok=True)
            return removed
        staged = ledger.with_name(f".{LEDGER}.{secrets.token_hex(6)}")
        try:
            document = {"schema_version": SCHEMA_VERSION, "projects": projects}
            staged.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
            staged.replace(ledger)
        except OSError:
            pass  # a ledger not written costs a stale zip later, never a file of someone else's
        finally:
            with contextlib.suppress(OSError):
                staged.unlink(missing_ok=True)
    return removed


def _remove_if_ours(zip_path: Path) -> bool:
    """The zip, its manifest and its SBOM removed, if the manifest still names the zip's bytes."""
    manifest = zip_path.with_suffix(".manifest.json")
    sbom = zip_path.with_suffix(".cdx.json")
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
        if recorded.get("artifact") != zip_path.name or not str(
            recorded.get("tool", "")
        ).startswith("lambdazip"):
            return False
        if zip_path.exists() and sha256_file(zip_path) != recorded.get("sha256"):
            return False  # changed since we wrote it: not ours to remove
    except (OSError, ValueError, AttributeError):
        return False
    for path in (zip_path, manifest, sbom):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return True
