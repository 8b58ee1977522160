"""A [tool.lambdazip] project's inputs checked before anything is built, each mistake said in the
file's own terms (the table and key to fix), not in the flags of the one-artifact commands
(`layer -r`, `function --src --handler`), which a project's user does not pass."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdazip.errors import UsageError
from lambdazip.inputs.config import table_of
from lambdazip.inputs.project import INPUT_FILES, input_format
from lambdazip.inputs.requirements import LOCK_COMMAND

if TYPE_CHECKING:
    from lambdazip.inputs.config import Dependencies, Function, Layer


def preflight(
    project: Path,
    layers: Mapping[str, Layer],
    functions: Mapping[str, Function],
    options: Mapping[str, Any],
) -> None:
    """Each selected artifact's files are there (its lock, a function's code, handler module and
    smoke event), and what it chooses fits them; ``options``: the file's top-level ones."""
    for name, layer in layers.items():
        _dependencies(project, table_of("layers", name), layer, options)
    for name, function in functions.items():
        where = table_of("functions", name)
        _dependencies(project, where, function, options)
        _function(project, where, function)


def _dependencies(
    project: Path, where: str, spec: Dependencies, options: Mapping[str, Any]
) -> None:
    file = spec.file(project)
    if file is None:
        file = next((project / n for n in INPUT_FILES if (project / n).is_file()), None)
        if file is None:
            raise UsageError(
                f"{where} names no lock or requirements file, and {project} has none of "
                f"{', '.join(INPUT_FILES)}",
                tip=f'lock the project (`uv lock`), or set requirements = "FILE" in {where}',
            )
    elif not file.is_file():
        key, value = ("lock", spec.lock) if spec.lock else ("requirements", spec.requirements)
        raise UsageError(
            f"{where} {key} = {value!r}: {file} does not exist",
            tip=f"fix the path (relative to pyproject.toml), or make the file: {LOCK_COMMAND}",
        )
    chosen = [k for k in ("group", "extra") if spec.options.get(k) or options.get(k)]
    if chosen and input_format(file) == "requirements":
        one = "an extra" if chosen[0] == "extra" else "a group"
        raise UsageError(
            f"{where} installs from {file.name}, a requirements file, but chooses {one}: "
            "groups and extras choose within a lock (pylock.toml, uv.lock)",
            tip=f'remove {chosen[0]} from the file\'s table, or set lock = "uv.lock" in {where}',
        )


def _function(project: Path, where: str, spec: Function) -> None:
    from lambdazip.build.plan import check_handler

    src = project / spec.src
    if not src.is_dir():
        raise UsageError(
            f"{where} src = {spec.src!r}: {src} is not a directory",
            tip="point src at the directory of the function's code (relative to pyproject.toml)",
        )
    if spec.smoke_event and not (project / spec.smoke_event).is_file():
        raise UsageError(
            f"{where} smoke-event = {spec.smoke_event!r}: {project / spec.smoke_event} does not "
            "exist",
            tip="point smoke-event at a JSON event file (relative to pyproject.toml)",
        )
    if spec.handler:
        module, _, function = spec.handler.rpartition(".")
        if not module or not function:
            raise UsageError(
                f"{where} handler = {spec.handler!r} is not MODULE.FUNCTION",
                tip=f'e.g. handler = "app.handler" in {where}',
            )
        try:
            check_handler(src, spec.handler)
        except UsageError:
            raise UsageError(
                f"{where} handler = {spec.handler!r}: {src} has no module {module!r}",
                tip=f"add {module.replace('.', '/')}.py to {src}, or fix handler in {where}",
            ) from None
