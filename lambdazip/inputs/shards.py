"""Shards of a project's artifacts, for builds spread over CI runners (`build --shard I/N`).

A share must be stable (adding a function must not reshuffle every runner's work, as a round-robin
over the list would), even (each runner about 1/N of the time) and keep a function with its
layers (a function in another shard than its layer costs that shard the layer's build, when the
shared cache does not have it yet). So: consistent hashing with bounded loads. Each artifact has a
weight (an estimate of its build time from what it declares) and ranks the N shards by a
rendezvous hash of its kind, name and target (highest random weight). Layers first, then
functions, each in an order that depends on the artifacts alone (never on the file's order),
take the shard that costs least (a function's cost is its weight plus its layers not yet in that
shard; a layer prefers the least loaded) among those that stay within 1.25 times the even share
(rounded up to a whole unit: fewer artifacts move when one is added), the better ranked on a tie;
when none does, the least loaded. Each architecture is shared out on its own (its runners are
its own).

Which runner builds what needs no coordination: the bytes are the same wherever they are built,
and a function whose layer is in another shard takes it from the shared cache, or builds it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdazip.errors import LambdaZipError, UsageError
from lambdazip.inputs.project import discover
from lambdazip.targets import Kind, Target

if TYPE_CHECKING:
    from lambdazip.inputs.config import Dependencies

MAX_SHARDS = 256
SLACK = (5, 4)  # a shard's load may exceed the even share by a quarter before others are preferred
UNIT = 10  # weights are whole tenths: sums are exact, the same in every runner's process
_SHARD = re.compile(r"([0-9]{1,3})/([0-9]{1,3})")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as a CI matrix counts
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


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


@dataclass(frozen=True)
class Unit:
    """One artifact to share out: a layer or a function of one target."""

    kind: str  # "layer" or "function"
    name: str
    target: str  # python3.X-ARCH
    group: str  # the architecture: its runners share out its artifacts
    weight: int  # tenths of a function without dependencies of its own (weight_of)
    layers: tuple[str, ...] = ()  # a function's layers (of its target)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.name, self.target)


def weight_of(packages: int) -> int:
    """An artifact's estimated build time, in tenths of a function without dependencies of its
    own (a container, the import check, the zip judged; no installer runs): with packages to
    install, 0.6 and 0.7 a package (fitted to bench/monorepo.py: one package 1.3, two 2.0,
    pydantic's five about 4 such functions)."""
    return 6 + 7 * packages if packages else UNIT


def cap_of(total: int, count: int) -> int:
    """The load a shard may take while others have room: SLACK times the even share, rounded up
    to a whole unit (fewer artifacts move when one is added)."""
    above, below = SLACK
    return -(-(total * above) // (count * below * UNIT)) * UNIT


def assign(units: Iterable[Unit], count: int) -> dict[tuple[str, str, str], int]:
    """Each unit's shard (1..count): see the module's docstring."""
    chosen: dict[tuple[str, str, str], int] = {}
    groups: dict[str, list[Unit]] = {}
    for unit in units:
        groups.setdefault(unit.group, []).append(unit)
    for members in groups.values():
        chosen.update(_assign_group(members, count))
    return chosen


@dataclass
class _Load:
    weight: int = 0
    layers: set[tuple[str, str]] = field(default_factory=set)  # (name, target) built or taken


def _assign_group(units: Sequence[Unit], count: int) -> dict[tuple[str, str, str], int]:
    weights = {(u.name, u.target): u.weight for u in units if u.kind == "layer"}
    cap = cap_of(sum(u.weight for u in units), count)
    loads = [_Load() for _ in range(count + 1)]  # [0] unused: shards count from 1
    chosen: dict[tuple[str, str, str], int] = {}
    order = sorted(units, key=lambda u: (u.kind != "layer", -u.weight, _digest(0, u)))
    for unit in order:
        needs = {(n, unit.target) for n in unit.layers}
        if unit.kind == "layer":
            needs.add((unit.name, unit.target))

        def cost(shard: int, unit: Unit = unit, needs: set[tuple[str, str]] = needs) -> int:
            missing = needs - loads[shard].layers - {(unit.name, unit.target)}
            return unit.weight + sum(weights.get(m, 0) for m in missing)

        ranked = sorted(range(1, count + 1), key=partial(_digest, unit=unit), reverse=True)
        fitting = [i for i in ranked if loads[i].weight + cost(i) <= cap]
        if fitting:  # a layer to the least loaded (layers spread), a function to its layers
            spread = unit.kind == "layer"
            best = min(
                fitting, key=lambda i: (cost(i), loads[i].weight if spread else 0, ranked.index(i))
            )
        else:
            best = min(ranked, key=lambda i: (loads[i].weight + cost(i), ranked.index(i)))
        loads[best].weight += cost(best)
        loads[best].layers |= needs
        chosen[unit.key] = best
    return chosen


def _digest(index: int, unit: Unit) -> bytes:
    return hashlib.sha256(f"{index}\0{unit.kind}\0{unit.name}\0{unit.target}".encode()).digest()


# -- the project's artifacts, weighed and shared out ---------------------------------------------

Targets = list[tuple[str, Any, Target]]  # (name, its table, target)


Shares = dict[tuple[str, str, str], int]  # {(kind, name, target): shard}


def share_out(project: Path, layers: Targets, functions: Targets, count: int) -> Shares:
    """Each artifact's shard of ``count`` (``assign``), weighed by what it installs: the one
    function here that reads the project (its locks)."""
    packages: dict[Path | None, int] = {}

    def unit(kind: Kind, name: str, spec: Dependencies, target: Target) -> Unit:
        file = spec.file(project) or _project_lock(project)
        if file not in packages:
            packages[file] = _packages_in(file)
        return Unit(
            kind.value,
            name,
            str(target),
            group=target.arch.value,
            weight=weight_of(packages[file]),
            layers=tuple(getattr(spec, "layers", ())),
        )

    return assign(
        [unit(Kind.LAYER, n, s, t) for n, s, t in layers]
        + [unit(Kind.FUNCTION, n, s, t) for n, s, t in functions],
        count,
    )


def _project_lock(project: Path) -> Path | None:
    """The lock an artifact without one of its own installs from, if there is one."""
    try:
        return discover(project, None, Path.cwd())
    except LambdaZipError:  # said when its plan is made
        return None


def _packages_in(file: Path | None) -> int:
    """About how many packages a lock or requirements file installs (for the shards' weights
    only): its [[package]] tables or its requirement lines (what layers provide not deducted);
    no file or an unreadable one counts as five."""
    try:
        if file is None:
            raise OSError
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 5
    if file.suffix in (".toml", ".lock"):
        return text.count("[[package]]")
    from lambdazip.inputs.requirements import logical_lines

    return sum(1 for _number, line in logical_lines(text) if not line.startswith("-"))


def in_shard(
    index: int, shared: Shares, layers: Targets, functions: Targets
) -> tuple[Targets, Targets]:
    """The shard's functions, and its layers with those its functions use (another shard's,
    taken from the shared cache when it is there, else built here: the same bytes)."""
    functions = [f for f in functions if shared[Kind.FUNCTION.value, f[0], str(f[2])] == index]
    used = {(layer, str(t)) for _n, spec, t in functions for layer in spec.layers}
    layers = [
        (n, spec, t)
        for n, spec, t in layers
        if shared[Kind.LAYER.value, n, str(t)] == index or (n, str(t)) in used
    ]
    return layers, functions
