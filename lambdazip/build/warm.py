"""Warm build containers, for a process that builds the same functions again and again
(`build --watch`): a function's container is made once (its layers put at /opt once) and each
build runs in it by exec. install.py empties what a build left once it succeeded (the install
root, what the host put in; what it took out, at the next start), and the container of a build
that failed is removed: each build sees what a new container shows, and gives the same bytes,
without the half second a new container costs.

Each is an ordinary labelled job container (engine.py), removed when the process ends, also on
an error or Ctrl-C; one whose process was killed outright stops on its own once no build has
touched it for WARM_IDLE seconds, and the engine removes it (auto-remove). At most KEPT are kept
(a function's layers changed: another container, the least recently used one removed).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType

from lambdazip.build.container import Container

KEPT = 4


class WarmContainers:
    """A process's warm containers, each under the key of what it was made with."""

    def __init__(self) -> None:
        self._kept: OrderedDict[str, tuple[ExitStack, Container]] = OrderedDict()
        self._used: dict[str, float] = {}

    def get(
        self,
        key: str,
        make: Callable[[], AbstractContextManager[Container]],
        prepare: Callable[[Container], None],
    ) -> tuple[Container, float | None]:
        """The container made for ``key``, and for how many seconds it was not handed out (None:
        new): kept, else made and prepared (``prepare``: started, its layers put in)."""
        now = time.monotonic()
        if key in self._kept:
            self._kept.move_to_end(key)
            idle, self._used[key] = now - self._used[key], now
            return self._kept[key][1], idle
        while len(self._kept) >= KEPT:
            self.drop(next(iter(self._kept)))
        with ExitStack() as stack:
            container = stack.enter_context(make())
            prepare(container)
            self._kept[key] = (stack.pop_all(), container)
        self._used[key] = time.monotonic()
        return container, None

    def drop(self, key: str) -> None:
        """Remove ``key``'s container (a build in it failed: the next starts afresh)."""
        kept = self._kept.pop(key, None)
        self._used.pop(key, None)
        if kept is not None:
            kept[0].close()

    def close(self) -> None:
        """Every container removed (each tried, whatever one of them raises)."""
        while self._kept:
            try:
                self.drop(next(iter(self._kept)))
            finally:
                if self._kept:
                    self.close()

    def __enter__(self) -> WarmContainers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
