"""The import check's verdicts, from real exceptions: modules written to a task root are imported
by the probe's own code (inside/probe.py, standard library only, run here on the host), and what
it reports is judged by the host (probe.check_probe). Packaging faults are errors that say Lambda
fails the same way; configuration faults are warnings naming what to set; the rest is unclear."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lambdazip.errors import UsageError
from lambdazip.inputs.configuration import configuration, read_env_file
from lambdazip.inside import probe as inside
from lambdazip.judge.findings import Severity
from lambdazip.judge.probe import Failure, ImportResult, ProbeFacts, check_probe, classify
from lambdazip.targets import RUNTIMES, Arch, Target

TARGET = Target(RUNTIMES["3.11"], Arch.X86_64)

MODULES = {
    # configuration: what Lambda's function configuration, region or role gives
    "reads_key": "import os\nTABLE = os.environ['TABLE_NAME_FOR_TEST']\n",
    "reads_get": (
        "import os\nURL = os.environ.get('DATABASE_URL_FOR_TEST')\n"
        "if not URL:\n    raise RuntimeError('DATABASE_URL_FOR_TEST is not configured')\n"
    ),
    "reads_getenv": (
        "import os\nclass ConfigError(Exception):\n    pass\n"
        "if os.getenv('STAGE_FOR_TEST') is None:\n"
        "    raise ConfigError('set stage_for_test to dev or prod')\n"
    ),
    "no_credentials": (
        "import boto3\nSSM = boto3.client('ssm', region_name='us-east-1')\n"
        "PARAMETER = SSM.get_parameter(Name='/orders/table')\n"
    ),
    "reads_instead": (  # a settings module that falls back to the environment
        "import os\ntry:\n    from lambdazip_no_local_settings import KEY\n"
        "except ImportError:\n    KEY = os.environ['SECRET_KEY_FOR_TEST']\n"
    ),
    "reads_lambdas": "import os\nTOKEN = os.environ['AWS_SESSION_TOKEN']\n",
    "refused": ("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=2)\n"),
    # packaging: the same on Lambda, whatever its configuration
    "missing": "import lambdazip_no_such_module_anywhere\n",
    "missing_name": "from json import no_such_name\n",
    "syntax": "def f(:\n    pass\n",
    "no_library": "import ctypes\nctypes.CDLL('liblambdazip-absent.so.1')\n",
    "wrapped": (
        "try:\n    import lambdazip_no_such_module_anywhere\n"
        "except ImportError as exc:\n    raise RuntimeError('install the extra') from exc\n"
    ),
    # unclear: the function's own code
    "divides": "X = 1 / 0\n",
    "exits": "import sys\nsys.exit(3)\n",
    "debug_word": (  # DEBUG is read, unset; "debug" in the message is an ordinary word
        "import os\nLEVEL = os.environ.get('DEBUG')\n"
        "raise RuntimeError('could not determine the debug level')\n"
    ),
    "suppressed": (  # raised while handling an ImportError, that context suppressed
        "try:\n    import lambdazip_no_such_module_anywhere\n"
        "except ImportError:\n    raise ValueError('no backend') from None\n"
    ),
    "reads_data": "import json\nSCHEMA = json.load(open('lambdazip-schema.json'))\n",
}


@pytest.fixture
def imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, ImportResult]:
    """Each module of MODULES imported by the probe's import_all, as the probe does it."""
    root = tmp_path / "task"
    root.mkdir()
    for name, text in MODULES.items():
        (root / f"{name}.py").write_text(text)
    for name in list(os.environ):
        if name.startswith("AWS_") or name.endswith("_FOR_TEST") or name == "DEBUG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata to ask
    import boto3

    # a fresh process's boto3: no default session another test made (with its credentials)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    reads = inside.Reads([str(root)])
    try:
        results = inside.import_all(sorted(MODULES), [str(root)], reads, ["s3cr3t-value"])
    finally:
        reads.close()
        for name in MODULES:
            sys.modules.pop(name, None)
    return {r["module"]: ImportResult.model_validate(r) for r in results}


def test_every_failure_has_the_class_of_its_cause(imported: dict[str, ImportResult]) -> None:
    verdicts = {name: classify(result) for name, result in imported.items()}
    assert verdicts == {
        "reads_key": Failure.CONFIGURATION,
        "reads_get": Failure.CONFIGURATION,
        "reads_getenv": Failure.CONFIGURATION,  # its message names the variable, in other case
        "no_credentials": Failure.CONFIGURATION,
        "reads_instead": Failure.CONFIGURATION,  # not the ImportError it handled
        "reads_lambdas": Failure.CONFIGURATION,
        "refused": Failure.CONFIGURATION,
        "missing": Failure.PACKAGING,
        "missing_name": Failure.PACKAGING,
        "syntax": Failure.PACKAGING,
        "no_library": Failure.PACKAGING,
        "wrapped": Failure.PACKAGING,
        "divides": Failure.UNCLEAR,
        "exits": Failure.UNCLEAR,
        "debug_word": Failure.UNCLEAR,
        "suppressed": Failure.UNCLEAR,
        "reads_data": Failure.UNCLEAR,  # a file outside the artifact (here: not /var/task)
    }


def test_the_facts_say_where_and_what_was_read(imported: dict[str, ImportResult]) -> None:
    key = imported["reads_key"]
    assert key.unset == ["TABLE_NAME_FOR_TEST"]
    assert key.where is not None
    assert str(key.where) == "reads_key.py:2: TABLE = os.environ['TABLE_NAME_FOR_TEST']"
    assert imported["reads_get"].unset == ["DATABASE_URL_FOR_TEST"]
    # what the SDK or the standard library reads for itself is not the function's configuration
    assert imported["no_credentials"].unset == []
    assert imported["no_credentials"].raised[0] == "botocore.exceptions.NoCredentialsError"
    assert imported["no_credentials"].where is not None
    assert str(imported["no_credentials"].where).startswith("no_credentials.py:3: PARAMETER =")
    data = imported["reads_data"]
    assert data.missing_file is not None
    assert data.missing_file.endswith("/task/lambdazip-schema.json")  # from the working dir
    # the same file missing under the task root (the probe's working directory) is the
    # artifact's: a packaging fault
    at_task_root = data.model_copy(update={"missing_file": "/var/task/lambdazip-schema.json"})
    assert classify(at_task_root) is Failure.PACKAGING
    assert "ImportError" in imported["wrapped"].chained


def _facts(results: list[ImportResult]) -> ProbeFacts:
    return ProbeFacts(
        schema_version=2,
        machine="x86_64",
        python_version="3.11.2",
        implementation="cpython",
        cache_tag="cpython-311",
        ext_suffix=".cpython-311-x86_64-linux-gnu.so",
        soabi="cpython-311-x86_64-linux-gnu",
        libc="glibc",
        libc_version="2.36",
        sys_path=[],
        pydantic_core=None,
        distributions=[],
        imports=results,
        pydantic=None,
    )


def test_only_packaging_faults_claim_that_lambda_fails_the_same_way(
    imported: dict[str, ImportResult],
) -> None:
    findings = {f.path: f for f in check_probe(_facts(list(imported.values())), TARGET)}
    errors = sorted(p for p, f in findings.items() if f.severity is Severity.ERROR)
    assert errors == ["missing", "missing_name", "no_library", "syntax", "wrapped"]
    lambdas = findings["reads_lambdas"]
    assert "Lambda sets AWS_SESSION_TOKEN itself" in lambdas.remedy
    assert "--env AWS_SESSION_TOKEN" not in lambdas.remedy
    for path, found in findings.items():
        claims = "Lambda would fail the same way" in found.remedy
        assert claims == (path in errors), path
    key = findings["reads_key"]
    assert (key.code, key.severity) == ("import-configuration", Severity.WARNING)
    assert "--env TABLE_NAME_FOR_TEST=VALUE" in key.remedy
    assert "reads_key.py:2" in key.found
    assert findings["divides"].code == "import-unclear"
    # --strict-import: an unclear failure fails the build; a configuration one still does not
    strict = {f.path: f for f in check_probe(_facts(list(imported.values())), TARGET, True)}
    assert strict["divides"].severity is Severity.ERROR
    assert strict["exits"].severity is Severity.ERROR
    assert strict["reads_key"].severity is Severity.WARNING


def test_no_value_of_the_configuration_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "task"
    root.mkdir()
    (root / "leaks.py").write_text(
        "import os\nraise ValueError('cannot use ' + os.environ['TOKEN_FOR_TEST'])\n"
    )
    sys.path.insert(0, str(root))
    os.environ["TOKEN_FOR_TEST"] = "s3cr3t-value"
    reads = inside.Reads([str(root)])
    try:
        (result,) = inside.import_all(["leaks"], [str(root)], reads, ["s3cr3t-value"])
    finally:
        reads.close()
        sys.path.remove(str(root))
        del os.environ["TOKEN_FOR_TEST"]
        sys.modules.pop("leaks", None)
    assert result["error"] == "ValueError: cannot use ***"
    assert "s3cr3t" not in repr(result)


def test_the_configuration_follows_lambdas_rules(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env.lambda"
    dotenv.write_text(
        "# a comment\nexport TABLE_NAME='orders'\nGREETING=\"hello\\nworld\"\n"
        "EMPTY=\nURL=postgres://u:p@h/db # trailing comment\nLITERAL=${HOME}\n"
    )
    assert read_env_file(dotenv) == {
        "TABLE_NAME": "orders",
        "GREETING": "hello\nworld",
        "EMPTY": "",
        "URL": "postgres://u:p@h/db",
        "LITERAL": "${HOME}",  # nothing of the host's environment leaks in
    }
    # [tool.lambdazip] < --env-file < --env, sorted
    merged = configuration({"TABLE_NAME": "x", "STAGE": "dev"}, [dotenv], [("STAGE", "prod")])
    assert dict(merged)["TABLE_NAME"] == "orders"
    assert dict(merged)["STAGE"] == "prod"
    assert [name for name, _ in merged] == sorted(name for name, _ in merged)
    for bad in ({"AWS_REGION": "eu-west-1"}, {"_HANDLER": "x"}, {"1X": "y"}, {"X": "y"}):
        with pytest.raises(UsageError):
            configuration(bad)
    fits = {f"A{n:02}": "v" * 90 for n in range(40)}  # 40 * 99 + 1 bytes as JSON
    assert len(configuration(fits)) == 40
    with pytest.raises(UsageError, match="over the 4,096 bytes Lambda allows"):
        configuration({**fits, "BB": "v" * 140})


def test_an_import_that_never_ends_is_stopped_and_said(tmp_path: Path) -> None:
    """A module waiting at import for what never comes (a service here unreachable) is stopped
    after the probe's limit, not left to hang the build: a configuration warning."""
    root = tmp_path / "task"
    root.mkdir()
    (root / "waits.py").write_text("import time\ntime.sleep(60)\n")
    sys.path.insert(0, str(root))
    reads = inside.Reads([str(root)])
    try:
        (result,) = inside.import_all(["waits"], [str(root)], reads, [], limit=0.5)
    finally:
        reads.close()
        sys.path.remove(str(root))
        sys.modules.pop("waits", None)
    found = ImportResult.model_validate(result)
    assert found.error is not None
    assert found.error.startswith("TimeoutError: the import did not finish in")
    assert found.where is not None
    assert found.where.line == 2
    assert classify(found) is Failure.CONFIGURATION


def test_with_a_handler_its_module_decides_and_the_others_only_warn() -> None:
    """Lambda imports the handler's module at cold start, and nothing else of the zip unless
    that module does: a test file that cannot import is not a reason to fail the build, a
    handler function that is not there is."""

    def result(module: str, **more: object) -> ImportResult:
        return ImportResult.model_validate({"module": module, "ok": True, "error": None, **more})

    missing = {"ok": False, "error": "ModuleNotFoundError: No module named 'pytest'",
               "raised": ["ModuleNotFoundError", "ImportError", "Exception"]}  # fmt: skip
    imported = [result("app", handler_found=True), result("test_app", **missing)]
    facts = _facts(imported).model_copy(update={"handler": "app.handler"})
    (unused,) = check_probe(facts, TARGET)
    assert (unused.code, unused.severity) == ("import-unused", Severity.WARNING)
    assert "Lambda would fail" not in unused.remedy
    (strict,) = check_probe(facts, TARGET, strict_import=True)
    assert strict.severity is Severity.ERROR
    # the handler's module imports, and has no such function
    absent = _facts([result("app", handler_found=False)]).model_copy(
        update={"handler": "app.nothere"}
    )
    (handler,) = check_probe(absent, TARGET)
    assert (handler.code, handler.severity) == ("handler", Severity.ERROR)
    assert "Runtime.HandlerNotFound" in handler.remedy
    # the handler's module fails (for its configuration): the others may be what it needs
    configured = {"ok": False, "error": "KeyError: 'TABLE_NAME'", "raised": ["KeyError"],
                  "unset": ["TABLE_NAME"]}  # fmt: skip
    stopped = _facts([result("app", **configured), result("helpers", **missing)]).model_copy(
        update={"handler": "app.handler"}
    )
    codes = {f.path: (f.code, f.severity) for f in check_probe(stopped, TARGET)}
    assert codes == {
        "app": ("import-configuration", Severity.WARNING),
        "helpers": ("import", Severity.ERROR),
    }
    # the handler's own packaging fault: at cold start
    broken = _facts([result("app", **missing)]).model_copy(update={"handler": "app.handler"})
    (error,) = check_probe(broken, TARGET)
    assert "Lambda would fail the same way" in error.remedy
    assert "at cold start, importing the handler" in error.remedy


@pytest.mark.parametrize(
    "value", ["C:\\Users\\s3cr3t", "tab\tSECRET", 'it"s_SECRET', "pässwörd_SECRET", "line\nbreak"]
)
def test_a_value_is_masked_however_it_is_escaped(value: str) -> None:
    import json

    from lambdazip.inside.lambdazip_contract import redact

    for text in (value, repr(value), json.dumps(value), json.dumps(value, ensure_ascii=False),
                 str(KeyError(value)), repr({"key": value})):  # fmt: skip
        masked = redact(f"found {text} here", [value])
        assert "***" in masked
        for form in (value, repr(value)[1:-1], json.dumps(value)[1:-1]):
            assert form not in masked, (text, masked)
