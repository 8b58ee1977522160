"""`build --shard I/N` and `build --list`: which runner builds what (inputs/shards.py shares the
artifacts out, weighed here by what each installs), and the list of artifacts with the CI matrix
that builds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from lambdazip.build.plan import output_name
from lambdazip.cli.console import Console
from lambdazip.errors import UsageError
from lambdazip.inputs.options import ProjectOptions
from lambdazip.inputs.shards import Shares, Targets
from lambdazip.targets import Kind

if TYPE_CHECKING:
    pass


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
    shared: Shares,
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
            "shard": shared[kind.value, name, str(target)],
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
