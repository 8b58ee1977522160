"""The build options, declared once (lambdazip/inputs/build_inputs.py): every build command takes
each of them, spelled the same; the help states each real default; the command line, the
environment and [tool.lambdazip] set them in that order; the manifest records every one that
decides the bytes and `verify` reads each back. No engine needed."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import re
from pathlib import Path
from typing import Any

import pytest

from lambdazip.cli import main
from lambdazip.cli.parser import COMMANDS, build_parser, typed
from lambdazip.errors import UsageError
from lambdazip.inputs.build_inputs import (
    BuildInputs,
    Bytecode,
    Installer,
    declarations,
    default_text,
    resolve,
)
from lambdazip.outputs.report import InputsModel

REPO = Path(__file__).resolve().parent.parent
BUILD_COMMANDS = {
    "layer": ["--arch", "x86_64", "--python", "3.13"],
    "function": ["--arch", "x86_64", "--python", "3.13"],
    "matrix": [],
    "build": [],
}


def _other(field: dataclasses.Field[Any]) -> Any:
    """A value of the field's type that is not its default."""
    default = field.default
    if isinstance(default, bool):
        return not default
    if isinstance(default, tuple):
        return ("one", "two")
    if field.metadata["declared"].text is not None:
        return "127.0.0.1:5000/team/cache"
    assert isinstance(default, enum.Enum)
    return next(c for c in type(default) if c is not default)


def _typed_as(value: Any) -> list[str]:
    """``value`` as command-line words, for the flag of its field."""
    if isinstance(value, bool):
        return []
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, str):
        return [value]
    return [value.value]


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: a for a in parser._actions for flag in a.option_strings}


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser(only=command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found: argparse.ArgumentParser = sub.choices[command]
    return found


@pytest.mark.parametrize("command", sorted(BUILD_COMMANDS))
def test_every_build_command_takes_every_declared_option(command: str) -> None:
    flags = _actions(_subparser(command))
    for field, declared in declarations():
        assert declared.flag in flags, (command, declared.flag)
        action = flags[declared.flag]
        assert f"default: {default_text(field)}" in (action.help or ""), (command, declared.flag)
        assert action.default is None  # so the environment and the file can set it
        value = _other(field)
        words = [declared.flag, *_typed_as(value)] if not isinstance(value, tuple) else []
        for item in value if isinstance(value, tuple) else ():
            words += [declared.flag, item]
        if declared.off is not None and value == declared.off[1]:
            words = [declared.off[0]]
        parsed = typed(build_parser().parse_args([command, *BUILD_COMMANDS[command], *words]))
        assert dict(parsed.given)[field.name] == value, (command, declared.flag)  # type: ignore[union-attr]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_help_states_the_real_default(command: str) -> None:
    """An option with a default states it in its help text, in the words a user types."""
    for action in _subparser(command)._actions:
        default = action.default
        if default in (None, False, [], argparse.SUPPRESS) or action.const is not None:
            continue
        shown = default.value if isinstance(default, enum.Enum) else str(default)
        assert shown in (action.help or ""), (command, action.option_strings, shown)


def test_nothing_given_is_every_default() -> None:
    parsed = typed(build_parser().parse_args(["layer", *BUILD_COMMANDS["layer"]]))
    assert parsed.given == ()  # type: ignore[union-attr]
    assert resolve((), {}, []) == BuildInputs()
    assert BuildInputs().installer is Installer.UV
    assert BuildInputs().bytecode is Bytecode.UNCHECKED_HASH


def test_the_command_line_then_the_environment_then_the_artifact_then_the_file() -> None:
    top = ("file", {"installer": "pip", "strip": True, "exclude": ["boto3"], "prune": True})
    artifact = ("artifact", {"installer": "uv", "exclude": ["orjson"]})
    env = {"LAMBDAZIP_EXCLUDE": "jmespath, six", "LAMBDAZIP_PRUNE": "0"}
    given = (("strip", False),)
    inputs = resolve(given, env, [artifact, top])
    assert inputs.strip is False  # the command line
    assert inputs.exclude == ("jmespath", "six")  # the environment
    assert inputs.prune is False  # the environment, also when it says no
    assert inputs.installer is Installer.UV  # the artifact's table over the file's
    assert resolve((), {}, [top]).installer is Installer.PIP
    assert resolve((), {}, [top]).bytecode is Bytecode.UNCHECKED_HASH  # the default


@pytest.mark.parametrize(
    ("env", "tables", "said"),
    [
        ({"LAMBDAZIP_STRIP": "maybe"}, [], "LAMBDAZIP_STRIP='maybe' is not true or false"),
        ({"LAMBDAZIP_INSTALLER": "npm"}, [], "LAMBDAZIP_INSTALLER='npm' is not one of pip, uv"),
        ({"LAMBDAZIP_BYTECODE": "none"}, [], "is not one of checked-hash, unchecked-hash"),
        ({}, [("f [tool.lambdazip]", {"group": "a"})], None),  # one name is a list of one
        ({}, [("f [tool.lambdazip]", {"group": [1]})], "f [tool.lambdazip]: group = [1] is not"),
        ({}, [("f [tool.lambdazip]", {"prune": "yes"})], None),
        ({}, [("f [tool.lambdazip]", {"prune": 2})], "f [tool.lambdazip]: prune = 2 is not true"),
    ],
)
def test_a_bad_value_anywhere_is_one_error_naming_where(
    env: dict[str, str], tables: list[tuple[str, dict[str, Any]]], said: str | None
) -> None:
    if said is None:
        resolve((), env, tables)
        return
    with pytest.raises(UsageError, match=said.replace("[", r"\[").replace("]", r"\]")):
        resolve((), env, tables)


def test_the_manifest_records_every_input_that_decides_the_bytes_and_verify_reads_it_back() -> None:
    """Add a field to BuildInputs and forget InputsModel (the manifest): this fails."""
    changed = BuildInputs(**{f.name: _other(f) for f, _d in declarations()})
    minimal: dict[str, Any] = {
        "requirements": "r.txt",
        "require_hashes": True,
        "epoch": 0,
        "name": "layer",
    }
    written = InputsModel(**minimal, **changed.record()).model_dump_json()
    read = InputsModel.model_validate_json(written)
    back = BuildInputs.from_record(read.model_dump())
    for field, declared in declarations():
        if declared.recorded:  # said why not: it decides whether to build, not what
            assert getattr(back, field.name) == field.default, field.name
        else:
            assert getattr(back, field.name) == getattr(changed, field.name), field.name
    verify = (REPO / "lambdazip/cli/commands/verify.py").read_text()
    assert "BuildInputs.from_record(" in verify


def test_every_recorded_input_is_in_the_cache_key(tmp_path: Path) -> None:
    from lambdazip.build.plan import make_plan
    from lambdazip.targets import RUNTIMES, Arch, Kind, Target

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.16.0 --hash=sha256:00\n")

    def key(inputs: BuildInputs) -> str:
        plan = make_plan(
            kind=Kind.LAYER,
            target=Target(RUNTIMES["3.13"], Arch.X86_64),
            requirements=requirements,
            src=None,
            out_dir=tmp_path / "dist",
            name=None,
            base_image=None,
            ca_bundle=None,
            env={},
            epoch=315532800,
            inputs=dataclasses.replace(inputs, exclude=(), groups=(), extras=()),
        )
        return plan.cache_key("sha256:base", "context")

    base = key(BuildInputs())
    for field, declared in declarations():
        if declared.recorded or isinstance(field.default, tuple):
            continue  # (a lock's groups and --exclude change what is installed: in the key too)
        changed = key(dataclasses.replace(BuildInputs(), **{field.name: _other(field)}))
        assert changed != base, field.name


def test_layer_reads_the_options_of_pyproject_and_the_command_line_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "requirements.txt").write_text("six==1.16.0 --hash=sha256:00\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.lambdazip]\ninstaller = "pip"\nstrip = true\n'
    )
    argv = ["layer", *BUILD_COMMANDS["layer"], "--project", str(tmp_path), "--print-plan"]
    assert main(argv, env={}) == 0
    out = capsys.readouterr().out
    assert "with pip" in out
    assert "slimming:      --strip" in out
    assert main([*argv, "--installer", "uv"], env={"LAMBDAZIP_STRIP": "no"}) == 0
    out = capsys.readouterr().out
    assert "with uv" in out
    assert "slimming:      (none)" in out


def test_build_refuses_an_unknown_key_and_a_bad_option_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = '[tool.lambdazip]\npython = ["3.13"]\n[tool.lambdazip.layers.deps]\n'
    for extra, said in [
        ("strips = true\n", "[tool.lambdazip.layers.deps.strips] is not a known key"),
        ('installer = "npm"\n', "[tool.lambdazip.layers.deps]: installer = 'npm' is not one"),
    ]:
        (tmp_path / "pyproject.toml").write_text(base + extra)
        assert main(["build", "--project", str(tmp_path)], env={}) == 2
        err = capsys.readouterr().err
        assert said in err, err
        assert err.count("error:") == 1


def test_the_options_are_declared_in_one_place() -> None:
    """No parser declares a build option by hand: every flag of BuildInputs reaches argparse
    from the declaration alone."""
    declared_flags = {d.flag for _f, d in declarations()} | {
        d.off[0] for _f, d in declarations() if d.off
    }
    by_hand: set[str] = set()
    for module in (REPO / "lambdazip/cli").rglob("*.py"):
        by_hand |= set(
            re.findall(r'add_argument\(\s*(?:"-\w",\s*)?"(--[a-z-]+)"', module.read_text())
        )
    assert by_hand, "no flags found: the pattern is wrong"
    assert not by_hand & declared_flags, sorted(by_hand & declared_flags)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ghcr.io/acme/lambdazip-cache", "ghcr.io/acme/lambdazip-cache"),
        ("localhost:5000/cache", "localhost:5000/cache"),
        ("acme/cache", "docker.io/acme/cache"),  # as docker reads a name without a registry
    ],
)
def test_a_shared_cache_is_a_repository(text: str, expected: str) -> None:
    """As a registry takes it (lower case), from the command line, the environment or the file;
    an empty variable is an unset one."""
    inputs = resolve((), {"LAMBDAZIP_CACHE": text})
    assert (inputs.pull_from, inputs.push_to) == (expected, expected)
    table = [("pyproject.toml [tool.lambdazip]", {"cache": text, "cache-to": "127.0.0.1:1/x"})]
    inputs = resolve((), {}, table)
    assert (inputs.pull_from, inputs.push_to) == (expected, "127.0.0.1:1/x")
    assert resolve((("force", True),), {"LAMBDAZIP_CACHE": text}).pull_from is None
    assert resolve((), {"LAMBDAZIP_CACHE": text.upper(), "LAMBDAZIP_CACHE_TO": ""}).push_to == (
        expected
    )


@pytest.mark.parametrize(
    ("where", "words"),
    [
        ({"LAMBDAZIP_CACHE_FROM": "ghcr.io/acme/cache:v1"},
         "LAMBDAZIP_CACHE_FROM='ghcr.io/acme/cache:v1': the cache 'ghcr.io/acme/cache:v1' names a "
         "tag or digest"),
        ({"LAMBDAZIP_CACHE_TO": "Not A Name"}, "LAMBDAZIP_CACHE_TO='Not A Name': the cache "
         "'Not A Name' is not a repository's name"),
    ],
)  # fmt: skip
def test_a_shared_cache_that_is_no_repository_is_one_line(
    where: dict[str, str], words: str
) -> None:
    with pytest.raises(UsageError) as raised:
        resolve((), where)
    assert words in raised.value.message
    assert "\n" not in raised.value.message
