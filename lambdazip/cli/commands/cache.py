"""`cache export|import`: a target's download cache volume to a file and back."""

from __future__ import annotations

from collections.abc import Mapping

from lambdazip.build.engine import Engine
from lambdazip.build.plan import cache_volume_name
from lambdazip.cli.console import Console
from lambdazip.inputs.options import CacheOptions
from lambdazip.targets import Target


def run(args: CacheOptions, console: Console, env: Mapping[str, str]) -> int:
    from lambdazip.build.carry import export_cache, import_cache

    target = Target(args.python, args.arch)
    image = args.base_image or target.runtime.image(target.arch)
    volume = cache_volume_name(target)
    with Engine.connect(env, target.arch) as engine:
        if args.action == "export":
            size = export_cache(engine, target, image, args.file, console)
            console.success(f"ok: {volume} exported to {args.file} ({size:,} bytes)")
        else:
            size = import_cache(engine, target, image, args.file, console)
            console.success(f"ok: {args.file} imported into {volume} ({size:,} bytes)")
    return 0
