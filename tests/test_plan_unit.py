"""The build plan and the reading of installer output: pure, no engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdazip.build.exits import installer_error
from lambdazip.build.plan import make_plan
from lambdazip.errors import UsageError
from lambdazip.inputs.build_inputs import BuildInputs, Bytecode, Installer
from lambdazip.judge.checks import Kind
from lambdazip.targets import RUNTIMES, Arch, Target

TARGET = Target(RUNTIMES["3.13"], Arch.ARM64)


def _plan(tmp_path: Path, **changes: object):  # type: ignore[no-untyped-def]
    requirements = tmp_path / "requirements.txt"
    if not requirements.exists():
        requirements.write_text("pydantic==2.14.3 --hash=sha256:00\n")
    options: dict[str, object] = {
        "kind": Kind.LAYER,
        "target": TARGET,
        "requirements": requirements,
        "src": None,
        "out_dir": tmp_path / "dist",
        "name": None,
        "base_image": None,
        "ca_bundle": None,
        "env": {},
        "epoch": 315532800,
    }
    options.update(changes)
    return make_plan(**options)  # type: ignore[arg-type]


def test_defaults_name_the_official_arch_suffixed_image(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    assert plan.base_image == "public.ecr.aws/lambda/python:3.13-arm64"
    assert plan.output == tmp_path / "dist" / "layer-python3.13-arm64.zip"
    assert plan.manifest_path.name == "layer-python3.13-arm64.manifest.json"
    assert plan.install_root == "/opt/python"
    assert plan.cache_volume == "lambdazip-cache-python3.13-arm64"
    assert (plan.inputs.installer, plan.inputs.bytecode) == (Installer.UV, Bytecode.UNCHECKED_HASH)
    assert any(line.startswith("output:") for line in plan.describe())


def test_index_settings_and_the_ca_pass_in_for_both_installers(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {"PIP_INDEX_URL": "https://mirror.invalid/simple", "PIP_CERT": str(ca), "HOME": "/x"}
    plan = _plan(tmp_path, env=env)
    assert plan.ca_bundle == ca
    inside = plan.container_environment("/lambdazip/in/ca.pem")
    assert inside["PIP_INDEX_URL"] == inside["UV_INDEX_URL"] == "https://mirror.invalid/simple"
    assert inside["SSL_CERT_FILE"] == inside["PIP_CERT"] == "/lambdazip/in/ca.pem"
    assert "HOME" not in inside


def test_the_cache_key_follows_every_input(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text("A = 1\n")
    plan = _plan(tmp_path, kind=Kind.FUNCTION, src=src)
    key = plan.cache_key("sha256:base", "context")
    assert key == plan.cache_key("sha256:base", "context")
    assert key != plan.cache_key("sha256:other", "context")
    assert key != plan.cache_key("sha256:base", "other")
    assert key != _plan(tmp_path, kind=Kind.FUNCTION, src=src, epoch=400000000).cache_key(
        "sha256:base", "context"
    )
    assert key != _plan(
        tmp_path, kind=Kind.FUNCTION, src=src, inputs=BuildInputs(bytecode=Bytecode.CHECKED_HASH)
    ).cache_key("sha256:base", "context")
    (src / "app.py").write_text("A = 2\n")
    assert key != plan.cache_key("sha256:base", "context")


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"requirements": Path("/nonexistent/requirements.txt")}, "does not exist"),
        ({"kind": Kind.FUNCTION}, "a function needs --src DIR"),
        ({"kind": Kind.FUNCTION, "src": Path("/nonexistent")}, "is not a directory"),
        ({"name": "../escape"}, "is not a plain file name"),
        ({"ca_bundle": Path("/nonexistent.pem")}, "is not a file"),
    ],
)
def test_bad_options_are_usage_errors(
    tmp_path: Path, changes: dict[str, object], words: str
) -> None:
    with pytest.raises(UsageError, match=words):
        _plan(tmp_path, **changes)


@pytest.mark.parametrize(
    ("value", "megabytes"), [(None, None), ("", None), (" 0 ", 0), ("512", 512)]
)
def test_the_tree_is_in_memory_unless_told_otherwise(
    tmp_path: Path, value: str | None, megabytes: int | None
) -> None:
    env = {} if value is None else {"LAMBDAZIP_TMPFS_MB": value}
    assert _plan(tmp_path, env=env).tmpfs_mb == megabytes


@pytest.mark.parametrize("value", ["-1", "1.5", "1e3", "lots", "\u00b2", "9" * 10])
def test_a_tmpfs_size_that_is_not_megabytes_is_a_usage_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(UsageError, match="is not a whole number of megabytes"):
        _plan(tmp_path, env={"LAMBDAZIP_TMPFS_MB": value})


PIP_NO_WHEEL = """ERROR: Could not find a version that satisfies the requirement docopt==0.6.2 (from versions: none)
ERROR: No matching distribution found for docopt==0.6.2"""
UV_NO_WHEEL = """error: No solution found when resolving dependencies
  cause: Because docopt==0.6.2 has no usable wheels and you require docopt==0.6.2, we can conclude that your requirements are unsatisfiable."""
UV_NO_PLATFORM_WHEEL = """  × No solution found when resolving dependencies:
  ╰─▶ Because numpy==2.4.6 has no wheels with a matching platform tag (e.g., `manylinux_2_26_x86_64`) and you require numpy==2.4.6, we can conclude that your requirements are unsatisfiable."""
PIP_TLS = """WARNING: Retrying (Retry(total=4)) after connection broken by 'SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)'))': https://index.invalid/simple/pydantic/
ERROR: Could not find a version that satisfies the requirement pydantic==2.14.3 (from versions: none)
ERROR: No matching distribution found for pydantic==2.14.3"""
UV_TLS = """error: Failed to fetch: `https://index.invalid/simple/pydantic/`
  Caused by: Request failed after 3 retries
  Caused by: error sending request for url (https://index.invalid/simple/pydantic/)
  Caused by: client error (Connect)
  Caused by: invalid peer certificate: UnknownIssuer"""
UV_DNS = """error: Failed to fetch: `https://index.invalid/simple/pydantic/`
  Caused by: dns error: failed to lookup address information: Name or service not known"""
UV_CONFLICT = """  × No solution found when resolving dependencies:
  ╰─▶ Because you require pydantic==2.14.3 and pydantic==2.0, we can conclude that your requirements are unsatisfiable."""
PIP_CONFLICT = """ERROR: Cannot install pydantic==2.14.3 and pydantic==2.0 because these package versions have conflicting dependencies.

The conflict is caused by:
    The user requested pydantic==2.14.3
    The user requested pydantic==2.0

ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts"""
PIP_HASH = """ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE."""
UV_HASH = """error: Failed to download `typing-extensions==4.16.0`
  cause: Hash mismatch for `typing-extensions==4.16.0`"""


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            PIP_NO_WHEEL,
            "no wheel of docopt==0.6.2 for python3.13 on arm64 (glibc 2.34, "
            "Amazon Linux 2023: manylinux_2_34 or older)",
        ),
        (
            UV_NO_WHEEL,
            "no wheel of docopt==0.6.2 for python3.13 on arm64 (glibc 2.34, "
            "Amazon Linux 2023: manylinux_2_34 or older)",
        ),
        (
            UV_NO_PLATFORM_WHEEL,
            "no wheel of numpy==2.4.6 for python3.13 on arm64 (glibc 2.34, "
            "Amazon Linux 2023: manylinux_2_34 or older)",
        ),
        (PIP_HASH, "a downloaded file does not match the hash in the requirements"),
        (UV_HASH, "a downloaded file does not match the hash in the requirements"),
        ("ERROR: something new", "uv failed in the python3.13 on arm64 image: something new"),
        (PIP_TLS, "could not reach index.invalid: its TLS certificate is not trusted"),
        (UV_TLS, "could not reach index.invalid: its TLS certificate is not trusted"),
        (UV_DNS, "could not reach index.invalid: its name does not resolve"),
        (
            UV_CONFLICT,
            "the requirements conflict: Because you require pydantic==2.14.3 and "
            "pydantic==2.0, we can conclude that your requirements are unsatisfiable.",
        ),
        (
            PIP_CONFLICT,
            "the requirements conflict: The user requested pydantic==2.14.3 "
            "The user requested pydantic==2.0",
        ),
    ],
)
def test_installer_output_becomes_one_line(tmp_path: Path, output: str, message: str) -> None:
    assert installer_error(output.splitlines(), _plan(tmp_path)).message == message


def test_credentials_in_settings_are_found_and_redacted(tmp_path: Path) -> None:
    env = {
        "PIP_INDEX_URL": "https://ci:s3cr%40t-token@index.invalid/simple",
        "PIP_EXTRA_INDEX_URL": "https://tokenonly-abcdef@extra.invalid/simple https://plain.invalid/",
        "HTTPS_PROXY": "http://proxyuser:proxy-pass@proxy.invalid:3128",
    }
    plan = _plan(tmp_path, env=env)
    assert set(plan.secrets()) >= {
        "s3cr%40t-token",
        "s3cr@t-token",
        "tokenonly-abcdef",
        "proxy-pass",
    }
    line = (
        "GET https://ci:s3cr%40t-token@index.invalid/simple/pydantic (s3cr@t-token) "
        "via http://proxyuser:proxy-pass@proxy.invalid:3128 tokenonly-abcdef"
    )
    redacted = plan.redact(line)
    for secret in plan.secrets():
        assert secret not in redacted
    assert redacted.startswith("GET https://ci:***@index.invalid/simple/pydantic")
    assert all(secret not in "\n".join(plan.describe()) for secret in plan.secrets())
