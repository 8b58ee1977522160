"""Shards of a project's artifacts, for builds spread over CI runners (`build --shard I/N`).

Each artifact (its kind, name and target) goes to the shard that wins a rendezvous hash among the
N (highest random weight): a pure function of the artifact and N, so adding or removing another
artifact never moves it (a round-robin over the list would move every artifact after the change),
and from N to N+1 shards only about one artifact in N+1 moves. Which runner builds what needs no
coordination: the bytes are the same wherever they are built, and a function whose layer is in
another shard takes it from the shared cache, or builds it itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from lambdazip.errors import UsageError

MAX_SHARDS = 256
_SHARD = re.compile(r"([0-9]{1,3})/([0-9]{1,3})")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as a CI matrix counts
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, kind: str, name: str, target: str) -> bool:
        return shard_of(kind, name, target, self.count) == self.index


def parse_shard(text: str) -> Shard:
    """``I/N``: the I-th of N shards."""
    match = _SHARD.fullmatch(text.strip())
    index, count = (int(match[1]), int(match[2])) if match else (0, 0)
    if not 1 <= index <= count <= MAX_SHARDS:
        raise UsageError(
            f"--shard {text!r} is not I/N with 1 <= I <= N <= {MAX_SHARDS}",
            tip="e.g. --shard 2/4 for the second of four runners",
        )
    return Shard(index, count)


def parse_shard_count(text: str) -> int:
    """``N`` of --shards."""
    if not re.fullmatch(r"[0-9]{1,3}", text.strip()) or not 1 <= int(text) <= MAX_SHARDS:
        raise UsageError(
            f"--shards {text!r} is not a whole number from 1 to {MAX_SHARDS}",
            tip="e.g. --shards 4 for four runners",
        )
    return int(text)


def shard_of(kind: str, name: str, target: str, count: int) -> int:
    """The shard (1..count) of one artifact."""

    def weight(index: int) -> bytes:
        return hashlib.sha256(f"{index}\0{kind}\0{name}\0{target}".encode()).digest()

    return max(range(1, count + 1), key=weight)
