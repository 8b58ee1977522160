"""`build --shard I/N` and `build --list`: which runner builds what (inputs/shards.py shares the
artifacts out, weighed here by what each installs), and the list of artifacts with the CI matrix
that builds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdazip.build.plan import output_name
from lambdazip.cli.console import Console
from lambdazip.errors import LambdaZipError, UsageError
from lambdazip.inputs.options import ProjectOptions
from lambdazip.inputs.project import discover
from lambdazip.inputs.shards import Unit, assign, weight_of
from lambdazip.targets import Kind, Target

if TYPE_CHECKING:
    from lambdazip.inputs.config import Dependencies


Targets = list[tuple[str, Any, Target]]  # (name, its table, target)


Shares = dict[tuple[str, str, str], int]  # {(kind, name, target): shard}


def shares(project: Path, layers: Targets, functions: Targets, count: int) -> Shares:
    """Each artifact's shard of ``count`` (inputs/shards.py), weighed by what it installs."""
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
    index: int, shares: Shares, layers: Targets, functions: Targets
) -> tuple[Targets, Targets]:
    """The shard's functions, and its layers with those its functions use (another shard's,
    taken from the shared cache when it is there, else built here: the same bytes)."""
    functions = [f for f in functions if shares[Kind.FUNCTION.value, f[0], str(f[2])] == index]
    used = {(layer, str(t)) for _n, spec, t in functions for layer in spec.layers}
    layers = [
        (n, spec, t)
        for n, spec, t in layers
        if shares[Kind.LAYER.value, n, str(t)] == index or (n, str(t)) in used
    ]
    return layers, functions


def shard_count(args: ProjectOptions) -> int:
    """N: --shard's, or --list's --shards (which must agree), else 1."""
    if args.shards is not None and not args.list:
        raise UsageError("--shards N goes with --list", tip="build a share with --shard I/N")
    if args.shards is not None and args.shard is not None and args.shards != args.shard.count:
        raise UsageError(
            f"--shards {args.shards} and --shard {args.shard} name different counts",
            tip="give one of them",
        )
    return args.shard.count if args.shard else args.shards or 1


def list_artifacts(
    layers: Targets,
    functions: Targets,
    shares: Shares,
    count: int,
    out_dir: Path,
    as_json: bool,
    console: Console,
) -> None:
    """The artifacts with their shards and outputs (those --shard builds, if given), and the
    CI matrix that builds them: {"include": [{"shard": "I/N", "arch": ARCH}, ...]}, a job per
    shard and architecture that has an artifact of its own."""
    rows = [
        {
            "name": name,
            "kind": kind.value,
            "target": str(target),
            "python": target.runtime.version,
            "arch": target.arch.value,
            "shard": shares[kind.value, name, str(target)],
            "zip": str(out_dir / output_name(name, target)),
            "layers": list(getattr(spec, "layers", [])),
        }
        for kind, table in ((Kind.LAYER, layers), (Kind.FUNCTION, functions))
        for name, spec, target in table
    ]
    jobs = sorted({(int(str(r["shard"])), str(r["arch"])) for r in rows})
    if as_json:
        document = {
            "schema_version": 1,
            "shards": count,
            "matrix": {"include": [{"shard": f"{i}/{count}", "arch": a} for i, a in jobs]},
            "artifacts": rows,
        }
        console.result(json.dumps(document, indent=2))
        return
    console.table(
        ["artifact", "kind", "target", "shard", "zip"],
        [
            [str(r["name"]), str(r["kind"]), str(r["target"]), f"{r['shard']}/{count}",
             str(r["zip"])]
            for r in rows
        ],
    )  # fmt: skip
