"""What one command keeps from one build of a project to the next (`build --watch` builds again
and again in one process): the engines reached, each layer's facts, the functions' warm build
containers."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.build.endpoints import engine_variable
from lambdazip.build.engine import Engine
from lambdazip.oci.store import BlobStore
from lambdazip.targets import Arch

if TYPE_CHECKING:
    from lambdazip.judge.facts import ArtifactFacts


class Session:
    """What one command keeps from one build of the project to the next (--watch): the engines
    reached, each layer's facts, and (watching) the functions' warm build containers."""

    def __init__(self, warm: bool) -> None:
        from lambdazip.build.warm import WarmContainers

        self._stack = ExitStack()
        self._engines: dict[tuple[str, str], Engine] = {}
        self.warm = WarmContainers() if warm else None  # removed before the engines close
        self.layer_facts = LayerFacts()

    def engine(self, env: Mapping[str, str], arch: Arch) -> Engine:
        key = (arch.value, env.get(engine_variable(arch), ""))
        if key not in self._engines:
            self._engines[key] = self._stack.enter_context(Engine.connect(env, arch))
        return self._engines[key]

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            if self.warm is not None:
                self.warm.close()
        finally:
            self._stack.close()


class LayerFacts:
    """Each layer's facts, gathered once for its bytes: every function on it is checked with them
    (reading a layer of 3,000 files takes over half a second: once per function otherwise, and
    again in each command where one function's code changed). Kept for the command, and in the
    user cache as a note named by the zip's sha256 and the facts' version (facts_schema: the
    facts are a function of the bytes and of the code that gathers them)."""

    def __init__(self) -> None:
        self._known: dict[str, ArtifactFacts] = {}

    def __call__(self, path: Path, sha256: str, store: BlobStore) -> ArtifactFacts:
        if sha256 not in self._known:
            self._known[sha256] = self._kept(path, sha256, store)
        return dataclasses.replace(self._known[sha256], source=str(path))

    @staticmethod
    def _kept(path: Path, sha256: str, store: BlobStore) -> ArtifactFacts:
        from pydantic import TypeAdapter, ValidationError

        from lambdazip.judge.facts import ArtifactFacts, facts_schema, gather
        from lambdazip.judge.tree import open_tree

        adapter = TypeAdapter(ArtifactFacts)
        name = f"facts-{facts_schema()}-{sha256}"
        kept = store.note(name)
        if kept is not None:
            try:
                return adapter.validate_python(kept["facts"])
            except (KeyError, ValidationError):
                pass  # a note of another shape: gathered again, and written over
        with open_tree(path) as opened:
            facts = gather(opened)
        store.write_note(name, {"facts": adapter.dump_python(facts, mode="json")})
        return facts
