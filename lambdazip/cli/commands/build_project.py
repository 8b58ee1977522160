"""`build`: every layer and function [tool.lambdazip] declares."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdazip import __version__
from lambdazip.build.builder import BuildResult, build
from lambdazip.build.endpoints import engine_variable
from lambdazip.build.engine import Engine
from lambdazip.build.plan import BuildPlan, make_plan, output_name
from lambdazip.build.session import Session
from lambdazip.cli.commands.project_shards import list_artifacts, shard_count
from lambdazip.cli.commands.project_summary import Artifact, summary
from lambdazip.cli.commands.shared import (
    base_images,
    read_event,
    report_build_failure,
    report_shared_cache,
    smoke_check,
)
from lambdazip.cli.console import Console, Prefixed
from lambdazip.errors import LambdaZipError, MatrixFailed, UsageError
from lambdazip.inputs.build_inputs import resolve
from lambdazip.inputs.config import named_by, table_of
from lambdazip.inputs.configuration import configuration
from lambdazip.inputs.options import ProjectOptions
from lambdazip.inputs.preflight import preflight
from lambdazip.inputs.project import discover
from lambdazip.inputs.shards import Targets, in_shard, share_out
from lambdazip.oci.store import BlobStore
from lambdazip.outputs.archive import source_date_epoch
from lambdazip.targets import Arch, Kind, Runtime, Target, parse_arch, parse_runtime

if TYPE_CHECKING:  # imported where used: a no-op build loads neither pydantic nor pyelftools
    from lambdazip.build.warm import WarmContainers
    from lambdazip.inputs.config import Dependencies, Function, Layer, ProjectConfig


def _config_targets(
    what: str,
    deps: Dependencies,
    config: ProjectConfig,
    args_pythons: Sequence[Runtime] = (),
    args_arches: Sequence[Arch] = (),
) -> list[Target]:
    """The artifact's targets: the command line's, else its own, else the file's (``what``: its
    table, to name it)."""
    with named_by(what):
        pythons = list(args_pythons) or [parse_runtime(p) for p in deps.python or config.python]
        arches = list(args_arches) or [parse_arch(a) for a in deps.arch or config.arch]
    arches = arches or [Arch.X86_64]
    if not pythons:
        raise UsageError(
            f"no Python for {what}",
            tip='set python = ["3.13"] in [tool.lambdazip] (or in the artifact), or pass --python',
        )
    # each once ("3.13" and "python3.13", "x86_64" and "amd64" name one target: one zip)
    return list(dict.fromkeys(Target(p, a) for p, a in itertools.product(pythons, arches)))


def run(args: ProjectOptions, console: Console, env: Mapping[str, str]) -> int:
    """`lambdazip build`: the layers first (each target once), then the functions without what
    their layers provide, each checked with its layers in Lambda's order; one summary. With
    --watch, again after every change of an input, until Ctrl-C."""
    if args.watch:
        given = [n for n, on in (("--list", args.list), ("--json", args.json)) if on]
        if given:
            raise UsageError(
                f"--watch builds: it takes no {given[0]}", tip=f"drop {given[0]} or --watch"
            )
        return _watch(args, console, env)
    with Session(warm=False) as session:
        try:
            return _build_all(args, console, env, session)
        except MatrixFailed:
            raise  # (after the document)
        except LambdaZipError as exc:
            if args.json:  # stdout stays one document: what stopped the build, before any row
                _stopped(args, exc, console)
            raise


def _build_all(
    args: ProjectOptions, console: Console, env: Mapping[str, str], session: Session
) -> int:
    from lambdazip.inputs.config import load_config

    project = args.project or Path()
    config = load_config(project)
    layers, functions = _selected(config, args.only)
    out_dir = args.output_dir or project / config.output_dir
    layer_targets = [
        (n, spec, t)
        for n, spec in layers.items()
        for t in _config_targets(table_of("layers", n), spec, config, args.pythons, args.arches)
    ]
    function_targets = [
        (name, spec, target)
        for name, spec in functions.items()
        for target in _config_targets(
            table_of("functions", name), spec, config, args.pythons, args.arches
        )
    ]
    count = shard_count(args)
    shared = (  # only when asked: every lock is read to weigh the artifacts
        share_out(project, layer_targets, function_targets, count)
        if args.shard is not None or args.list
        else {}
    )
    if args.only_arch is not None:  # one runner's architecture (its native engine)
        layer_targets = [t for t in layer_targets if t[2].arch is args.only_arch]
        function_targets = [t for t in function_targets if t[2].arch is args.only_arch]
    if args.shard is not None:
        layer_targets, function_targets = in_shard(
            args.shard.index, shared, layer_targets, function_targets
        )
    if args.list:
        list_artifacts(layer_targets, function_targets, shared, count, out_dir, args.json, console)
        return 0
    # every input and plan first: a mistake in the file or an input is said before anything is
    # built, in the file's terms
    for name, spec in functions.items():  # Lambda's rules
        with named_by(table_of("functions", name)):
            configuration(spec.environment, _env_files(project, spec))
    preflight(project, layers, functions, config.options)
    _not_theirs(out_dir, project, layer_targets, function_targets)
    planner = _Planner(args, project, out_dir, env, config)
    layer_plans = [
        (n, planner.plan(n, Kind.LAYER, spec, t, src=None)) for n, spec, t in layer_targets
    ]
    for name, spec, target in function_targets:  # (its real plan needs its layers built)
        _function_plan(planner.plan, project, name, spec, target)
    # each architecture to its engine: --engine or the environment, else the file's [engines]
    env = {**{engine_variable(a): e for a, e in config.engines.items()}, **env}
    arches = [p.target.arch for _, p in layer_plans] + [t.arch for _, _, t in function_targets]
    rows: list[Artifact] = []
    built: dict[tuple[str, str], BuildResult] = {}
    # every engine reached (and checked) once, before anything is built
    engines = {a: session.engine(env, a) for a in dict.fromkeys(arches)}
    for name, plan in layer_plans:
        row, result = _build_one(engines[plan.target.arch], name, plan, console)
        rows.append(row)
        if result is not None:
            built[name, str(plan.target)] = result
    for name, spec, target in function_targets:
        rows.append(
            _build_function(
                engines[target.arch],
                project,
                name,
                spec,
                target,
                built,
                planner.plan,
                console,
                session,
            )
        )
    _remove_undeclared(config, project, planner.out_dir, rows, console)
    whole = not (args.only or args.shard or args.only_arch or args.pythons or args.arches)
    if args.output_dir is None and whole:  # the file's output-dir: one moved from is emptied
        _leave_moved_from(project, planner.out_dir, env, console)
    summary(rows, args.json, console, planner.out_dir, changed_only=args.watch)
    failed = [r for r in rows if r.status in ("FAILED", "SKIPPED")]
    if failed:
        names = ", ".join(f"{r.name} ({r.target})" for r in failed)
        raise MatrixFailed(
            f"{len(failed)} of {len(rows)} artifacts failed: {names}",
            tip="see each one's error above",
        )
    shard = f" (shard {args.shard})" if args.shard else ""
    how_many = f"{len(rows)} artifact{'s' if len(rows) != 1 else ''}"
    console.success(f"ok: {how_many} in {planner.out_dir}{shard}")
    return 0


def _not_theirs(out_dir: Path, project: Path, *tables: Targets) -> None:
    """Two projects may share an output directory, never an artifact's name: one would write
    over the other's zip, and remove it once renamed (outputs/ledger.py)."""
    from lambdazip.outputs.ledger import theirs

    names = [output_name(name, target) for table in tables for name, _spec, target in table]
    taken = theirs(out_dir, project, names)
    if taken:
        name, other = next(iter(taken.items()))
        raise UsageError(
            f"{out_dir / name} is the project {other}'s (its last build wrote it there): two "
            "projects' artifacts of one name in one output directory overwrite each other",
            tip="give the artifact another name, or this project another output-dir",
        )


def _remove_undeclared(
    config: ProjectConfig, project: Path, out_dir: Path, rows: Sequence[Artifact], console: Console
) -> None:
    """What an earlier build of this project wrote and the project no longer declares (a function
    renamed or removed, a target dropped) is removed, and said; nothing else (outputs/ledger.py).
    Declared: every artifact and target of the file, whatever this command selected (--only,
    --shard, --only-arch), and what this command wrote (--python, --arch)."""
    from lambdazip.outputs.ledger import settle

    written = {r.result.zip.path.name for r in rows if r.result is not None}
    declared = set(written)
    for table in (config.layers, config.functions):
        for name, spec in table.items():
            with contextlib.suppress(UsageError):  # (said by its plan)
                declared |= {output_name(name, t) for t in _config_targets(name, spec, config)}
    kept: list[Path] = []
    for removed in settle(out_dir, project, declared, written, kept):
        console.info(f"removed {removed} (and its manifest and SBOM): no longer declared")
    for path in kept:
        console.info(
            f"kept {path}: no longer declared, but changed since lambdazip wrote it "
            "(remove it if it is stale)"
        )


def _leave_moved_from(
    project: Path, out_dir: Path, env: Mapping[str, str], console: Console
) -> None:
    """The file's output-dir changed since the last build here (the user cache remembers it, per
    project): what this project wrote into the old one is declared no more, and removed as any
    undeclared artifact is (never a file it did not write). `-o` is a one-off: not counted; nor
    is a build of part of the project (--only, --shard, ...): the rest is still in the old one."""
    from lambdazip.outputs.ledger import settle

    store = BlobStore.of(env)
    note = f"output-dir-{hashlib.sha256(str(project.resolve()).encode()).hexdigest()[:32]}"
    now = str(out_dir.resolve())
    before = (store.note(note) or {}).get("dir")
    if before == now:
        return
    if isinstance(before, str) and Path(before).is_dir():
        for removed in settle(Path(before), project, set(), []):
            console.info(
                f"removed {removed} (and its manifest and SBOM): the output directory is now "
                f"{out_dir}"
            )
    store.write_note(note, {"dir": now})


def _watch(args: ProjectOptions, console: Console, env: Mapping[str, str]) -> int:
    """Build, then build again whenever an input changes (what is unchanged is reused, a
    function's container is kept warm) until Ctrl-C; a failed build is said and waited out."""
    from lambdazip.inputs.watch import changed, differences, snapshot

    project = args.project or Path()
    with Session(warm=True) as session:
        seen = snapshot(project, args.output_dir)  # a change during the build: built again
        while True:
            try:
                _build_all(args, console, env, session)
            except LambdaZipError as exc:
                console.error(exc.message, exc.tip)
            console.info(f"watching {project} for changes (Ctrl-C to stop)")
            try:
                now = changed(project, args.output_dir, seen)
            except KeyboardInterrupt:
                console.success("stopped watching")
                return 0
            console.info(f"changed: {differences(seen, now, project)}")
            seen = now


def _selected(
    config: ProjectConfig, only: Sequence[str]
) -> tuple[dict[str, Layer], dict[str, Function]]:
    """The layers and functions to build: all, or --only's (with the layers they use)."""
    unknown = [n for n in only if n not in config.layers and n not in config.functions]
    if unknown:
        raise UsageError(
            f"--only {unknown[0]}: [tool.lambdazip] declares no such layer or function",
            tip=f"one of: {', '.join([*config.layers, *config.functions])}",
        )
    functions = {n: f for n, f in config.functions.items() if not only or n in only}
    wanted_layers = {layer for f in functions.values() for layer in f.layers}
    layers = {
        n: spec for n, spec in config.layers.items() if not only or n in only or n in wanted_layers
    }
    return layers, functions


def _stopped(args: ProjectOptions, exc: LambdaZipError, console: Console) -> None:
    from lambdazip.outputs.report import BuildDocument

    output_dir = str(args.output_dir) if args.output_dir is not None else ""
    document = BuildDocument(
        ok=False, output_dir=output_dir, artifacts=[], error=exc.message, tip=exc.tip
    )
    console.result(document.model_dump_json(indent=2))


@dataclass(frozen=True)
class _Planner:
    """Makes each artifact's plan: its build options from the command line, the environment,
    its own table, then the file's top level."""

    args: ProjectOptions
    project: Path
    out_dir: Path
    env: Mapping[str, str]
    config: ProjectConfig

    def plan(
        self, name: str, kind: Kind, deps: Dependencies, target: Target, **more: Any
    ) -> BuildPlan:
        pyproject = self.project / "pyproject.toml"
        tables = [
            (f"{pyproject} {table_of(f'{kind.value}s', name)}", deps.options),
            (f"{pyproject} [tool.lambdazip]", self.config.options),
        ]
        inputs = resolve(self.args.given, self.env, tables)  # (its errors name their table)
        requirements = deps.file(self.project) or discover(self.project, None, Path.cwd())
        with named_by(table_of(f"{kind.value}s", name)):  # (not a command line's flags)
            return make_plan(
                kind=kind,
                target=target,
                requirements=requirements,
                out_dir=self.out_dir,
                name=name,
                base_image=base_images(self.args.base_images).get(str(target)),
                ca_bundle=self.args.ca_bundle,
                env=self.env,
                epoch=source_date_epoch(self.env),
                inputs=inputs,
                **more,
            )


def _build_one(
    engine: Engine,
    name: str,
    plan: BuildPlan,
    console: Console,
    before_writing: Callable[[Path], None] | None = None,
    warm: WarmContainers | None = None,
) -> tuple[Artifact, BuildResult | None]:
    started = time.monotonic()
    progress = Prefixed(console, f"{name} {plan.target}")
    try:
        result = build(engine, plan, progress, before_writing=before_writing, warm=warm)
    except LambdaZipError as exc:
        report_build_failure(exc, console)
        console.error(f"[{name} {plan.target}] {exc.message}", exc.tip)
        row = Artifact(
            name, plan.kind, plan.target, "FAILED", time.monotonic() - started, exc.message,
            plan=plan, handler=plan.handler,
        )  # fmt: skip
        return row, None
    report_shared_cache(result.shared, console, f"[{name} {plan.target}] ")
    for warning in result.warnings:
        console.finding(warning)
    status = result.status
    row = Artifact(
        name,
        plan.kind,
        plan.target,
        status,
        time.monotonic() - started,
        str(result.zip.path),
        result.zip.zipped_size,
        result=result,
        plan=plan,
        handler=plan.handler,
    )
    return row, result


def _env_files(project: Path, spec: Function) -> list[Path]:
    return [project / spec.env_file] if spec.env_file else []


def _function_plan(
    plan_of: Callable[..., BuildPlan],
    project: Path,
    name: str,
    spec: Function,
    target: Target,
    layers: tuple[Path, ...] = (),
    provided: Mapping[str, str] | None = None,
) -> BuildPlan:
    """A function's plan; made once without its layers before anything is built (every mistake
    of its table said first), then with them. A mistake is said naming its table."""
    with named_by(table_of("functions", name)):
        event = read_event(project / spec.smoke_event) if spec.smoke_event else None
        if event is not None and not spec.handler:
            raise UsageError(
                "has a smoke-event but no handler", tip='add handler = "MODULE.FUNCTION"'
            )
    return plan_of(
        name,
        Kind.FUNCTION,
        spec,
        target,
        src=project / spec.src,
        handler=spec.handler,
        smoke_event=event,
        layers=layers,
        provided=provided or {},
        configuration=configuration(spec.environment, _env_files(project, spec)),
    )


def _build_function(
    engine: Engine,
    project: Path,
    name: str,
    spec: Function,
    target: Target,
    built: Mapping[tuple[str, str], BuildResult],
    plan_of: Callable[..., BuildPlan],
    console: Console,
    session: Session,
) -> Artifact:
    missing = [layer for layer in spec.layers if (layer, str(target)) not in built]
    if missing:
        return Artifact(
            name,
            Kind.FUNCTION,
            target,
            "SKIPPED",
            0.0,
            f"its layer {missing[0]} failed",
            layers=tuple(spec.layers),
            handler=spec.handler,
        )
    results = [built[layer, str(target)] for layer in spec.layers]
    provided = {name: v for r in results for name, v in r.distributions().items()}
    plan = _function_plan(
        plan_of, project, name, spec, target, tuple(r.zip.path for r in results), provided
    )
    event = read_event(project / spec.smoke_event) if spec.smoke_event else None  # (checked)

    smoke = smoke_check(engine, plan, spec.handler, event, console)
    row, result = _build_one(engine, name, plan, console, smoke, session.warm)
    row = dataclasses.replace(row, layers=tuple(spec.layers))
    if result is None:
        return row
    # the function as Lambda assembles it: its zip with its layers, in their order
    # judged once per combination: a verdict of these very bytes is kept (a no-op re-reads none)
    combination = hashlib.sha256(
        f"{__version__} {target} {result.zip.sha256} {' '.join(plan.layer_sha256)}".encode()
    ).hexdigest()
    store = BlobStore.of(plan.credentials_env)
    if store.note(f"with-layers-{combination}") == {"ok": True}:
        return row
    from lambdazip.judge.facts import gather
    from lambdazip.judge.tree import open_tree
    from lambdazip.outputs.report import check_report

    with open_tree(result.zip.path) as opened:
        facts = gather(opened)
    layers = [
        session.layer_facts(p, h, store)
        for p, h in zip(plan.layers, plan.layer_sha256, strict=True)
    ]
    report = check_report(facts, target, Kind.FUNCTION, layers)
    if report.ok:
        store.write_note(f"with-layers-{combination}", {"ok": True})
    if not report.ok:
        for finding in report.errors:
            console.finding(finding)
        detail = f"with its layers: {len(report.errors)} error(s) (above)"
        return dataclasses.replace(row, status="FAILED", detail=detail)
    return row
