"""What of a function's ``--src`` goes into the zip, decided once, before anything is sent.

Left out by default: version control (``.git/`` ...), the host's caches and environments
(``__pycache__/``, ``.venv/``, tool caches), editor and OS files, the output directory and whatever
the tool wrote there (any directory holding its ledger: an earlier one), and everything
``.lambdazipignore`` names (gitignore syntax, via pathspec). Files that typically hold secrets
(``.env*``, ``*.pem``, ``id_rsa*``, ``.aws/``, ``.netrc`` ...) are refused unless ``--include``
names them. Links inside the tree are followed (Lambda gets the files); a link that leaves it is an
input error. The manifest lists what was left out, and why."""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.errors import UsageError
from lambdazip.outputs.archive import Member
from lambdazip.outputs.ledger import LEDGER

IGNORE_FILE = ".lambdazipignore"
_DEFAULT_EXCLUDES = {
    "version control": [".git/", ".hg/", ".svn/", ".bzr/", ".gitignore", ".gitattributes"],
    "a host cache": ["__pycache__/", "*.pyc", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/",
                     ".tox/", ".nox/", ".venv/", ".hypothesis/", ".coverage", "*.egg-info/"],
    "an editor or OS file": [".DS_Store", "Thumbs.db", "*.swp", "*.swo", "*~", ".idea/",
                             ".vscode/", "__MACOSX/", "._*"],
    "this tool's own file": [IGNORE_FILE],
}  # fmt: skip
_SECRETS = [".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_ed25519*",
            "id_ecdsa*", ".aws/", ".ssh/", ".netrc", ".pypirc", ".npmrc",
            "credentials.json"]  # fmt: skip


@dataclass(frozen=True)
class LeftOut:
    path: str
    reason: str


@dataclass(frozen=True)
class Selection:
    members: tuple[Member, ...]
    left_out: tuple[LeftOut, ...]

    @property
    def size(self) -> int:
        return sum(Path(m.source).stat().st_size for m in self.members)


if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec


def _spec(patterns: list[str]) -> GitIgnoreSpec:
    return _compiled(tuple(patterns))


@functools.lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> GitIgnoreSpec:
    """Compiled once a process (`build --watch` selects each function's files again and again)."""
    import pathspec  # only for a function's code: a layer's build never loads it

    return pathspec.GitIgnoreSpec.from_lines(patterns)


def _walk(root: Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, real file) for every file below ``root``, following links that stay
    inside it, as ``zip -r`` would store them."""
    found: list[tuple[str, Path]] = []

    def visit(directory: Path, relative: str, above: frozenset[Path]) -> None:
        real_dir = directory.resolve()
        if real_dir in above:  # a link back up the tree: a loop, not more files
            return
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise UsageError(
                f"cannot read {directory}: {exc.strerror}", tip="check the permissions"
            ) from exc
        for entry in entries:
            path = Path(entry.path)
            rel = f"{relative}{entry.name}"
            if entry.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    raise UsageError(
                        f"--src {root}: {rel} is a link to {target}, outside --src",
                        tip="copy what it points at into --src, or remove the link",
                    )
                if not target.exists():
                    raise UsageError(
                        f"--src {root}: {rel} is a link to {target}, which does not exist",
                        tip="remove the broken link",
                    )
            if path.is_dir():
                visit(path, f"{rel}/", above | {real_dir})
            elif path.is_file():
                found.append((rel, path.resolve()))
            else:
                raise UsageError(
                    f"--src {root}: {rel} is not a regular file", tip="remove it from --src"
                )

    visit(root, "", frozenset())
    return found


def select(src: Path, out_dir: Path, include: tuple[str, ...] = ()) -> Selection:
    """Decide what of ``src`` is packed (see the module's docstring)."""
    root = src.resolve()
    outputs = out_dir.resolve()
    ignore_file = root / IGNORE_FILE
    user: GitIgnoreSpec | None = None
    if ignore_file.is_file():
        user = _spec(ignore_file.read_text(encoding="utf-8", errors="replace").splitlines())
    defaults = {reason: _spec(patterns) for reason, patterns in _DEFAULT_EXCLUDES.items()}
    secrets, included = _spec(_SECRETS), _spec(list(include))
    members: list[Member] = []
    left_out: list[LeftOut] = []
    refused: list[str] = []
    walked = _walk(root)
    # another output directory of lambdazip's (an earlier output-dir, a one-off -o): its ledger
    ledgers = {rel.rpartition("/")[0] for rel, _real in walked if rel.rpartition("/")[2] == LEDGER}
    for rel, real in walked:
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise UsageError(
                f"--src {src}: the file name {shown!r} is not UTF-8",
                tip="rename it: a zip for Lambda names files in UTF-8",
            ) from None
        if included.match_file(rel):
            pass
        elif (
            (root / rel).resolve().is_relative_to(outputs)
            or real.is_relative_to(outputs)
            or rel.rpartition("/")[2] == LEDGER
            or any(d and rel.startswith(f"{d}/") for d in ledgers)
        ):
            left_out.append(LeftOut(rel, "the output directory"))
            continue
        elif reason := next((r for r, s in defaults.items() if s.match_file(rel)), None):
            left_out.append(LeftOut(rel, reason))
            continue
        elif user is not None and user.match_file(rel):
            left_out.append(LeftOut(rel, IGNORE_FILE))
            continue
        elif secrets.match_file(rel):
            refused.append(rel)
            continue
        mode = real.stat().st_mode
        executable = bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
        members.append(Member(rel, real, executable))
    if refused:
        more = f" and {len(refused) - 5} more" if len(refused) > 5 else ""
        shown = ", ".join(refused[:5]) + more
        raise UsageError(
            f"--src {src} holds files that typically hold secrets: {shown}",
            tip=f"leave them out in {IGNORE_FILE} (or move them), or pack them on purpose "
            f"with --include '{refused[0]}'",
        )
    return Selection(tuple(sorted(members, key=lambda m: m.arcname)), tuple(left_out))
