"""What a manifest (and the SBOM made from it) claims about its zip, held against the zip itself:
the distributions and their versions and wheel tags (the dist-info inside), the file count and
sizes, and the SBOM beside it. `verify` reports every false claim before it rebuilds anything;
a no-op build reuses a zip, and a set taken from the shared cache is put in place, only if the set
holds together (``disagreement``). Pure over facts, but for ``disagreement`` and ``installed``,
which read the zip (its sha256, its METADATA files)."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambdazip.judge.facts import ArtifactFacts
    from lambdazip.outputs.report import Manifest


def false_claims(manifest: Manifest, facts: ArtifactFacts, zipped_size: int) -> list[str]:
    """Each claim of ``manifest`` that the zip's ``facts`` contradict, in words."""
    from lambdazip.judge.findings import printable

    claims: list[str] = []
    recorded = {d.name: d for d in manifest.distributions}
    found = {d.name: d for d in facts.dists}
    for name in sorted(recorded.keys() | found.keys()):
        said, held = recorded.get(name), found.get(name)
        if said is None:
            assert held is not None
            claims.append(f"the zip holds {name} {held.version}, which the manifest does not list")
        elif held is None:
            claims.append(f"the manifest lists {name} {said.version}, which the zip does not hold")
        elif said.version != held.version:
            claims.append(
                f"the manifest says {name} {said.version}; the zip holds {name} {held.version} "
                f"({held.dist_info})"
            )
        elif said.wheel_tags and sorted(said.wheel_tags) != sorted(printable(t) for t in held.tags):
            claims.append(
                f"the manifest says {name} came from a wheel tagged "
                f"{', '.join(sorted(said.wheel_tags))}; its WHEEL file says "
                f"{', '.join(sorted(held.tags)) or 'nothing'}"
            )
    files = len(facts.files) + len(facts.junk)
    for what, claimed, actual in (
        ("files", manifest.files, files),
        ("bytes unzipped", manifest.unzipped_size, facts.unzipped_size),
        ("bytes zipped", manifest.zipped_size, zipped_size),
    ):
        if claimed != actual:
            claims.append(f"the manifest says {claimed:,} {what}; the zip has {actual:,}")
    return claims


def false_sbom(manifest: Manifest, sbom: Path) -> str | None:
    """What is wrong with the SBOM beside the zip: it is made from the manifest alone, so it is
    either the manifest's, byte for byte, or a false claim."""
    from lambdazip.outputs.sbom import sbom_json

    try:
        text = sbom.read_text()
    except FileNotFoundError:
        return None  # none was kept: nothing claimed
    except OSError as exc:
        return f"the SBOM {sbom.name} cannot be read: {exc.strerror}"
    if text != sbom_json(manifest):
        return f"the SBOM {sbom.name} is not the one its manifest makes (its components or hashes)"
    return None


def disagreement(recorded: Mapping[str, Any], zip_path: Path, key: str) -> str | None:
    """Why a zip and the manifest ``recorded`` beside it (its JSON) are not the set a build of
    ``key`` writes, the first reason found (None: they are): the key, the zip's name, sha256 and
    size, and the distributions it holds. A manifest is trusted only as far as it was just
    checked: what a no-op build reuses and what the shared cache gives are held to this."""
    from lambdazip.outputs.archive import sha256_file

    if recorded["cache_key"] != key:
        return f"its manifest's key is {str(recorded['cache_key'])[:12]}"
    if recorded["artifact"] != zip_path.name:
        return f"its manifest is of {recorded['artifact']}"
    sha256 = sha256_file(zip_path)
    if recorded["sha256"] != sha256:
        return f"the zip's sha256 is {sha256}, not its manifest's"
    if recorded["zipped_size"] != zip_path.stat().st_size:
        return "the zip's size is not its manifest's"
    claimed = {(str(d["name"]), str(d["version"])) for d in recorded["distributions"]}
    if installed(zip_path) != claimed:
        return "the zip's distributions are not its manifest's"
    return None


_FIELD = re.compile(rb"^(Name|Version):[ \t]*(.+?)\s*$", re.MULTILINE)


def installed(zip_path: Path) -> set[tuple[str, str]] | None:
    """(canonical name, version) of every distribution whose dist-info the zip holds, from the
    METADATA files alone (a no-op build's check of its manifest); None if unreadable."""
    found: set[tuple[str, str]] = set()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".dist-info/METADATA"):
                    continue
                with archive.open(info) as member:
                    head = member.read(65536)
                fields = dict(_FIELD.findall(head.split(b"\n\n", 1)[0]))
                name = fields.get(b"Name", b"").decode("utf-8", "replace")
                canonical = re.sub(r"[-_.]+", "-", name).lower()
                found.add((canonical, fields.get(b"Version", b"").decode("utf-8", "replace")))
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return None
    return found
