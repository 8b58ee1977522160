"""What Lambda sees when it runs an artifact: a function at /var/task, layers extracted one over
the other at /opt (a later layer's file replaces an earlier one's), sys.path in Lambda's order,
and for a module name the file Python's import system actually loads. Pure: facts in, answers out.

The import system's choice follows importlib's FileFinder: in a directory, a package
(``name/__init__`` + a suffix) comes first; then, for a module, the extension suffixes in the
runtime's order (``.cpython-313-x86_64-linux-gnu.so``, ``.abi3.so``, ``.so``), then ``.py``,
then a sourceless ``.pyc``; a directory without ``__init__`` is a namespace package only when
nothing else matched. On sys.path, the first entry that has the name wins.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from lambdazip.inside.lambdazip_contract import OPT, TASK_ROOT, lambda_sys_path
from lambdazip.judge.facts import ArtifactFacts, Dist
from lambdazip.targets import Kind, Target

__all__ = ["Composed", "Kind", "Part", "compose"]


@dataclass(frozen=True)
class Part:
    """One artifact in place: the one checked (label "") or a layer it runs with."""

    label: str
    facts: ArtifactFacts
    mount: str  # TASK_ROOT or OPT

    def show(self, path: str) -> str:
        """A path of this part as findings name it: plain for the artifact, ``layer.zip:path``
        for a layer given with --with-layer."""
        return f"{self.label}:{path}" if self.label else path

    def placed(self, path: str) -> str:
        return f"{self.mount}/{path}"


@dataclass(frozen=True)
class Composed:
    parts: tuple[Part, ...]
    roots: tuple[str, ...]  # sys.path entries that hold the artifacts, Lambda's order
    files: dict[str, tuple[Part, str]]  # absolute path -> the part and path it comes from
    suffixes: tuple[str, ...]  # the extension suffixes, in the runtime's order

    def loader_order(self) -> tuple[str, ...]:
        return (*self.suffixes, ".py", ".pyc")

    def module_file(self, directory: str, name: str) -> str | None:
        """The file the import system loads for ``name`` in ``directory`` (a package's
        ``__init__``, or a module), or None if only a namespace package or nothing is there."""
        base = posixpath.join(directory, name)
        for suffix in self.loader_order():
            if f"{base}/__init__{suffix}" in self.files:
                return f"{base}/__init__{suffix}"
        for suffix in self.loader_order():
            if base + suffix in self.files:
                return base + suffix
        return None

    def root_of(self, path: str) -> str | None:
        """The sys.path entry ``path`` is imported through (the longest that holds it)."""
        holding = [r for r in self.roots if path.startswith(r + "/")]
        return max(holding, key=len) if holding else None

    def top_level_root(self, name: str) -> str | None:
        """The sys.path entry whose ``name`` (a package or module) Python imports."""
        for root in self.roots:
            if self.module_file(root, name) is not None:
                return root
        return None

    def reachable(self, path: str) -> bool:
        """Whether ``path`` is inside the package (or is the module) that Python imports for
        its top-level name, rather than one an earlier sys.path entry shadows."""
        root = self.root_of(path)
        if root is None:
            return True  # not importable at all: on LD_LIBRARY_PATH or PATH, or nowhere
        top = path[len(root) + 1 :].split("/", 1)[0].split(".", 1)[0]
        winner = self.top_level_root(top)
        return winner is None or winner == root

    def effective_dists(self) -> dict[str, tuple[Part, Dist]]:
        """Each distribution importlib.metadata finds first on sys.path."""
        found: dict[str, tuple[Part, Dist]] = {}
        for root in self.roots:
            for part in self.parts:
                for dist in part.facts.dists:
                    location = part.placed(dist.location) if dist.location else part.mount
                    if location == root and dist.name not in found:
                        found[dist.name] = (part, dist)
        return found


def _label(facts: ArtifactFacts) -> str:
    return PurePosixPath(facts.source.replace("\\", "/")).name or facts.source


def compose(
    facts: ArtifactFacts, target: Target, kind: Kind, layers: Sequence[ArtifactFacts] = ()
) -> Composed:
    """The artifact where Lambda puts it, with the layers it runs with at /opt, in order."""
    parts = [Part("", facts, TASK_ROOT if kind is Kind.FUNCTION else OPT)]
    parts += [Part(_label(layer), layer, OPT) for layer in layers]
    files: dict[str, tuple[Part, str]] = {}
    for part in parts:  # in order: a later layer's file replaces an earlier one's at /opt
        for entry in part.facts.files:
            files[part.placed(entry.path)] = (part, entry.path)
    return Composed(
        parts=tuple(parts),
        roots=tuple(lambda_sys_path(target.runtime.version)),
        files=files,
        suffixes=target.runtime.loadable_suffixes(target.arch),
    )
