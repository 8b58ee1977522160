"""One contract between the host and the image (lambdazip/inside/lambdazip_contract.py), one table
of exit codes (lambdazip/errors.py), typed options per command: each fact has one meaning."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import lambdazip
from lambdazip import errors
from lambdazip.cli import main
from lambdazip.cli.parser import build_parser, typed
from lambdazip.errors import EXIT_CODES, LambdaZipError, UsageError
from lambdazip.inputs.options import BuildOptions, CheckOptions, MatrixOptions
from lambdazip.inside import lambdazip_contract as contract
from lambdazip.targets import Arch
from tests.wheels import REPO

INSIDE = REPO / "lambdazip" / "inside"


def _all_modules() -> None:
    for module in pkgutil.walk_packages(lambdazip.__path__, "lambdazip."):
        if module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)


def _subclasses(cls: type[LambdaZipError]) -> list[type[LambdaZipError]]:
    found: list[type[LambdaZipError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_error_class_lives_in_errors_py() -> None:
    _all_modules()
    homes = {cls.__name__: cls.__module__ for cls in _subclasses(LambdaZipError)}
    assert set(homes.values()) == {"lambdazip.errors"}, homes


def test_each_exit_code_means_one_thing() -> None:
    """Classes with their own exit_code have distinct codes; a subclass keeps its parent's."""
    own: dict[int, str] = {}
    classes: list[type[LambdaZipError]] = [LambdaZipError, *_subclasses(LambdaZipError)]
    for cls in classes:
        if "exit_code" in vars(cls):
            assert cls.exit_code not in own, f"{cls.__name__} and {own[cls.exit_code]}"
            own[cls.exit_code] = cls.__name__
    assert {code: name for code, (name, _) in EXIT_CODES.items() if name} == own
    assert errors.INTERRUPTED in EXIT_CODES


def test_the_docs_show_the_exit_code_table() -> None:
    """docs/errors.md, generated from errors.py (tests/test_docs.py holds it current)."""
    assert "| 13 | `UnsafeArchive` |" in (REPO / "docs" / "errors.md").read_text()


def test_the_plan_round_trips_and_refuses_what_it_does_not_know() -> None:
    plan = contract.InsidePlan(kind="layer", installer="uv", cache=contract.CACHE_DIR)
    assert contract.InsidePlan.from_json(plan.to_json()) == plan
    document = json.loads(plan.to_json())
    with pytest.raises(ValueError, match="unknown plan keys: extra"):
        contract.InsidePlan.from_json(json.dumps({**document, "extra": 1}))
    with pytest.raises(ValueError, match="plan schema"):
        contract.InsidePlan.from_json(json.dumps({**document, "schema_version": 99}))
    with pytest.raises(ValueError, match="unknown kind"):
        contract.InsidePlan.from_json(json.dumps({**document, "kind": "tool"}))
    full = contract.InsidePlan(
        kind="function",
        platforms=("manylinux_2_26_x86_64", "manylinux2014_x86_64"),
        uv_platform="x86_64-manylinux_2_17",
        pack=True,
        epoch=1_700_000_000,
        keep=("bin/tool",),
    )
    assert contract.InsidePlan.from_json(full.to_json()) == full
    with pytest.raises(ValueError, match="platforms is not a list"):
        contract.InsidePlan.from_json(json.dumps({**document, "platforms": "manylinux1_x86_64"}))


def test_lambdas_sys_path_order() -> None:
    """LAMBDA.md: /var/task, then the layers' site-packages, then /opt/python; then the
    runtime's site-packages and /var/runtime (its boto3), before the standard library."""
    assert contract.lambda_sys_path("3.13") == [
        "/var/task",
        "/opt/python/lib/python3.13/site-packages",
        "/opt/python",
    ]
    assert contract.runtime_sys_path("3.13")[3:] == [
        "/var/lang/lib/python3.13/site-packages",
        "/var/runtime",
    ]


def test_the_dockerfile_copies_exactly_the_contracts_files() -> None:
    dockerfile = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    copy = next(line for line in dockerfile.splitlines() if line.startswith("COPY "))
    *sources, dest = copy.split()[1:]
    assert dest == contract.INSIDE_DIR + "/"
    assert sorted(Path(s).name for s in sources) == sorted(contract.FILES)
    assert all((INSIDE / name).is_file() for name in contract.FILES)


@pytest.mark.parametrize(
    "script", ["install.py", "probe.py", "invoke.py", "lambdazip_slim.py", "lambdazip_bytecode.py"]
)
def test_the_scripts_speak_only_through_the_contract(script: str) -> None:
    """No literal exit code, image path or result marker of their own in the in-image scripts."""
    source = (INSIDE / script).read_text()
    tree = ast.parse(source)
    for node in ast.walk(tree):  # docstrings may name the paths; code may not
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            first.value.value = ""
    code = ast.unparse(tree)
    assert not re.search(r"\breturn [1-9]\d*\b", code), "exit codes come from contract.Exit"
    for path in ("/lambdazip/", '"/var/task"', '"/opt/python"'):
        assert path not in code, path
    assert "import lambdazip_contract as contract" in source


def test_the_host_has_no_second_copy_of_the_contract() -> None:
    for module in (REPO / "lambdazip").rglob("*.py"):
        source = module.read_text()
        assert not re.search(r"""["']/lambdazip/""", source), module.name


def test_commands_get_frozen_typed_options() -> None:
    parser = build_parser()
    check = typed(parser.parse_args(["check", "x.zip", "--arch", "arm64", "--python", "3.13"]))
    assert isinstance(check, CheckOptions)
    assert check.arch is Arch.ARM64
    assert check.layers == ()
    with pytest.raises(AttributeError):
        check.json = True  # type: ignore[misc]
    layer = typed(parser.parse_args(["layer", "--arch", "x86_64", "--python", "3.11"]))
    assert isinstance(layer, BuildOptions)
    assert layer.kind.value == "layer"
    assert layer.src is None
    matrix = typed(parser.parse_args(["matrix", "--python", "3.11", "3.13", "--arch", "arm64"]))
    assert isinstance(matrix, MatrixOptions)
    assert [r.version for r in matrix.pythons] == ["3.11", "3.13"]


def test_commands_read_no_namespace() -> None:
    modules = sorted((REPO / "lambdazip/cli/commands").glob("*.py"))
    assert len(modules) > 5
    for module in modules:
        source = module.read_text()
        assert "argparse" not in source, module.name
        assert "getattr(args" not in source, module.name


def test_help_shows_the_values_users_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layer", "--help"], env={}, prog="lambdazip") == 0
    out = capsys.readouterr().out
    assert "{pip,uv}" in out
    assert "Installer." not in out
    assert "Bytecode." not in out


def test_debug_does_not_turn_a_usage_error_into_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["--debug", "check", "x.zip", "--arch", "sparc", "--python", "3.13"], env={})
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert err.count("error:") == 1


def test_every_finding_code_is_a_rule_with_one_severity() -> None:
    """Every code the checks, the probe and the build can emit is in rules.py, which gives it
    its one severity; the pydantic-core stub rule is the same verdict in check and in probe."""
    from lambdazip.judge.findings import Severity
    from lambdazip.judge.rules import RULES, finding

    used: set[str] = set()
    for module in (REPO / "lambdazip").rglob("*.py"):
        used |= set(re.findall(r'code="([a-z0-9-]+)"', module.read_text()))
        used |= set(re.findall(r'finding\(\s*"([a-z0-9-]+)"', module.read_text()))
    assert used, "no finding codes found in the sources"
    assert used <= set(RULES), sorted(used - set(RULES))
    assert not re.search(
        r"Severity\.(ERROR|WARNING)\s*,", (REPO / "lambdazip/judge/checks.py").read_text()
    )
    assert not re.search(r"severity=", (REPO / "lambdazip/judge/probe.py").read_text())
    stub = finding("pydantic-core-stub", "p", "e", "f", "r")
    assert stub.severity is Severity.WARNING


def test_every_exit_a_script_in_the_image_returns_has_its_line_for_the_user() -> None:
    """exits.FAILURES is the one table from the image's exit codes to the user's errors: an exit
    code install.py, probe.py or invoke.py returns and the table forgets would be a bare
    'exited with N'."""
    from lambdazip.build.exits import FAILURES, NOT_FAILURES, Exited, failure
    from lambdazip.build.plan import BuildPlan
    from lambdazip.inside import lambdazip_contract as contract
    from lambdazip.targets import RUNTIMES, Arch, Kind, Target

    returned: set[contract.Exit] = set()
    for script in ("install.py", "probe.py", "invoke.py"):
        source = (REPO / "lambdazip" / "inside" / script).read_text()
        returned |= {contract.Exit[n] for n in re.findall(r"contract\.Exit\.([A-Z_]+)", source)}
    assert contract.Exit.NO_RUNTIME_CLIENT in returned  # the pattern finds invoke.py's too
    assert returned - set(NOT_FAILURES) <= set(FAILURES)
    assert set(FAILURES) | set(NOT_FAILURES) == set(contract.Exit)  # no code means nothing
    target = Target(RUNTIMES["3.13"], Arch.X86_64)
    plan = BuildPlan(
        kind=Kind.LAYER,
        target=target,
        requirements=Path("requirements.txt"),
        src=None,
        out_dir=Path("dist"),
        name="layer",
        base_image="img",
        ca_bundle=None,
        environment=(),
        epoch=315532800,
    )
    said = ["lambdazip: cannot pack /opt/python: a link out of it"]
    for exit in FAILURES:
        error = failure(Exited(exit, said, "the build", "img", target, plan))
        assert "exited with" not in error.message
        assert error.tip
    assert "exited with 99" in failure(Exited(99, [], "the build", "img", target, plan)).message
    assert failure(Exited(99, [], "the probe", "img", target)).exit_code == 8  # ContainerError


def test_every_build_command_spells_installer_and_bytecode_the_same() -> None:
    from lambdazip.cli.parser import build_parser
    from lambdazip.inputs.build_inputs import Bytecode, Installer

    need = {
        "layer": ["--arch", "x86_64", "--python", "3.13"],
        "function": ["--arch", "x86_64", "--python", "3.13"],
        "matrix": [],
        "build": [],
    }
    for command, more in need.items():
        parsed = build_parser().parse_args([command, *more, "--no-bytecode", "--installer", "pip"])
        assert (parsed.bytecode, parsed.installer) == (Bytecode.NONE, Installer.PIP), command
        with pytest.raises(UsageError):
            build_parser().parse_args([command, *more, "--bytecode", "none"])


def test_every_result_round_trips_and_a_wrong_one_is_refused_naming_where() -> None:
    """What the image writes back is typed and versioned (lambdazip_results): the host reads each
    result as written, and refuses another schema, an unknown key or a value of the wrong type."""
    from lambdazip.inside import lambdazip_results as results

    made = [
        results.PackResult(
            results.Packed("ab" * 32, 10, 20, 3),
            {"python": "3.13.1", "implementation": "CPython", "zlib": "1.3", "level": 9},
            (("bin/uv", "installer leftover"),),
        ),
        results.InstallResult("uv 0.9.0", {"install": 1.5, "probe": 2}),
        results.WheelsResult({"six": results.Wheel("six-1.16.0-py2.py3-none-any.whl", "00")}),
        results.SlimResult((results.Removal("six/tests/", "--prune", 1024),)),
        results.InvokeOutcome(
            ok=False,
            invocations=(
                results.Invocation(True, {"a": [1]}, None, 12.5, 3.0, "id", 16, 128, 40, "R"),
                results.Invocation.failed("Runtime.ExitError", "exit status 3", 128),
            ),
        ),
        results.InvokeOutcome(ok=False, image={"python": "3.11", "machine": "aarch64"}),
    ]
    for result in made:
        assert results.load(type(result), results.dump(result)) == result
    written = json.loads(results.dump(made[1]))
    changes: list[tuple[dict[str, Any], str]] = [
        ({"schema_version": 0}, "InstallResult schema 0, expected"),
        ({"extra": 1}, "InstallResult has unknown keys: extra"),
        ({"timings": {"install": "fast"}}, "InstallResult.timings.install is str, not float"),
        ({"installer": None}, "InstallResult.installer is NoneType, not str"),
    ]
    for change, said in changes:
        with pytest.raises(results.ResultError, match=re.escape(said)):
            results.load(results.InstallResult, json.dumps({**written, **change}))
    del written["timings"]
    with pytest.raises(results.ResultError, match="InstallResult lacks timings"):
        results.load(results.InstallResult, json.dumps(written))
    with pytest.raises(results.ResultError, match="is not JSON"):
        results.load(results.PackResult, b"{")


def test_only_the_engine_modules_talk_to_docker() -> None:
    """The Docker SDK is imported by engine.py and container.py (and endpoints.py, for docker
    contexts) alone, and by credentials.py for docker's config and credential helpers, which
    never reach the engine; the raw socket is local_socket.py's alone."""
    sdk, raw = set(), set()
    for module in (REPO / "lambdazip").rglob("*.py"):
        source = module.read_text()
        if re.search(r"^\s*(import docker|from docker)", source, re.M):
            sdk.add(module.name)
        if "socket.AF_UNIX" in source:
            raw.add(module.name)
    assert sdk == {"engine.py", "container.py", "endpoints.py", "credentials.py"}
    assert raw == {"local_socket.py"}
