"""The registry client (lambdazip/oci/registry.py) and image references (oci/reference.py).

Three tiers, none on the network and none on the engine:
- references and credentials, pure (hypothesis for the reference round trip); ECR's login with
  a real boto3 client stubbed at its edge (botocore's Stubber);
- the bearer-token dance and a registry that lies, against a small fake registry in this
  process (a real token service would need a signing key and a second server);
- everything else against the real thing: Debian's docker-registry (distribution 2.8) on
  loopback (tests/registry.py), marked integration and skipped when it is not installed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

import boto3
import docker
import pytest
from botocore.stub import Stubber
from hypothesis import assume, given
from hypothesis import strategies as st

from lambdazip.errors import RegistryError, UsageError
from lambdazip.oci import credentials as client
from lambdazip.oci.credentials import Credentials
from lambdazip.oci.media_types import DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_INDEX
from lambdazip.oci.reference import Reference, parse
from lambdazip.oci.registry import Registry, RegistrySource
from lambdazip.oci.source import sha256_digest
from tests.registry import Login, registry, registry_with_login  # noqa: F401 - fixtures

DIGEST_A = "sha256:" + "a" * 64


@pytest.fixture(autouse=True)
def _no_engine_in_unit_tests() -> Iterator[None]:
    """Here the guard holds for the integration tests too: a registry is no engine's business
    (and the engine is another job's to use while these run)."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a registry test tried to reach the Docker engine")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(docker, "from_env", refuse)
        patch.setattr(docker.DockerClient, "__init__", refuse)
        patch.setattr(docker.APIClient, "__init__", refuse)
        yield


@pytest.fixture(autouse=True)
def _nothing_of_ours_left_behind() -> None:
    """conftest's leak check asks the engine; these tests make no container to leak (the
    registry process is stopped by its fixture)."""


def one_line(exc: pytest.ExceptionInfo[RegistryError]) -> str:
    message = exc.value.message
    assert "\n" not in message, message
    assert exc.value.tip
    assert exc.value.exit_code == 17
    return message


# -- references -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("python", Reference("docker.io", "library/python")),
        ("python:3.13", Reference("docker.io", "library/python", "3.13")),
        ("user/app:v1", Reference("docker.io", "user/app", "v1")),
        ("index.docker.io/user/app", Reference("docker.io", "user/app")),
        ("docker.io/python", Reference("docker.io", "library/python")),
        (
            "public.ecr.aws/lambda/python:3.13",
            Reference("public.ecr.aws", "lambda/python", "3.13"),
        ),
        ("localhost/app", Reference("localhost", "app")),
        ("localhost:5000/a/b/c:t", Reference("localhost:5000", "a/b/c", "t")),
        ("localhost:5000", Reference("docker.io", "library/localhost", "5000")),
        ("[::1]:5000/app", Reference("[::1]:5000", "app")),
        (f"app@{DIGEST_A}", Reference("docker.io", "library/app", None, DIGEST_A)),
        (f"r.io:443/a_b__c.d-e--f:T_1.x@{DIGEST_A}",
         Reference("r.io:443", "a_b__c.d-e--f", "T_1.x", DIGEST_A)),
    ],
)  # fmt: skip
def test_reference_parses_like_docker(text: str, expected: Reference) -> None:
    assert parse(text) == expected
    assert Reference.parse(text) == expected
    assert parse(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        (" python", "spaces"),
        ("Python", "lowercase"),
        ("User/app", "lowercase"),
        ("r.io/App", "lowercase"),
        ("python:", "a tag is"),
        ("python:-x", "a tag is"),
        ("python:" + "t" * 129, "a tag is"),
        ("python@sha256:abc", "a digest is"),
        ("python@md5:" + "a" * 32, "a digest is"),
        (f"python@{DIGEST_A.upper()}", "a digest is"),
        ("a//b", "each part"),
        ("a/-b", "each part"),
        ("a/b_", "each part"),
        ("a/b___c", "each part"),
        ("-r.io/a", "registry host"),
        ("r.io:port/a", "registry host"),
        ("r.io/" + "a" * 260, "longer than"),
    ],
)
def test_reference_refuses_a_malformed_one(text: str, why: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse(text)
    assert why in exc.value.message
    assert "\n" not in exc.value.message
    assert "REPOSITORY" in str(exc.value.tip)


_WORDS = st.lists(st.text("abcxyz0189", min_size=1, max_size=4), min_size=1, max_size=3)
_COMPONENT = _WORDS.flatmap(  # words joined by separators: a1.b__c-d
    lambda words: st.lists(
        st.sampled_from([".", "_", "__", "-", "---"]),
        min_size=len(words) - 1, max_size=len(words) - 1,
    ).map(lambda seps: "".join(w + s for w, s in zip(words, [*seps, ""], strict=True)))
)  # fmt: skip
_HOST = st.one_of(
    st.sampled_from(["localhost", "localhost:5000", "docker.io", "index.docker.io", "[::1]:80"]),
    st.builds(
        lambda parts, port: ".".join(parts) + port,
        st.lists(
            st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True),
            min_size=2, max_size=3,
        ),
        st.sampled_from(["", ":5000", ":1"]),
    ),
)  # fmt: skip


@given(
    host=st.none() | _HOST,
    path=st.lists(_COMPONENT, min_size=1, max_size=3).map("/".join),
    tag=st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    digest=st.none() | st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex()),
)
def test_reference_round_trips(
    host: str | None, path: str, tag: str | None, digest: str | None
) -> None:
    first = path.split("/")[0]
    assume(host or "/" not in path or ("." not in first and first != "localhost"))  # else a host
    text = (f"{host}/" if host else "") + path
    text += (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    ref = parse(text)
    assert parse(str(ref)) == ref
    assert (ref.tag, ref.digest) == (tag, digest)
    if host in (None, "docker.io", "index.docker.io"):
        assert ref.registry == "docker.io"
        assert ref.repository == (path if "/" in path else f"library/{path}")
        assert ref.api_host == "registry-1.docker.io"
    else:
        assert (ref.registry, ref.repository, ref.api_host) == (host, path, host)


def test_reference_helpers() -> None:
    ref = parse("localhost:5000/app:v1")
    assert ref.insecure
    assert ref.manifest_reference == "v1"
    pinned = ref.with_digest(DIGEST_A)
    assert str(pinned) == f"localhost:5000/app:v1@{DIGEST_A}"
    assert pinned.manifest_reference == DIGEST_A
    assert str(pinned.with_tag("v2")) == "localhost:5000/app:v2"
    assert parse("app").manifest_reference == "latest"
    assert [parse(f"{h}/a").insecure for h in ("127.0.0.1:1", "[::1]", "localhost")] == [True] * 3
    assert [parse(f"{h}/a").insecure for h in ("r.io", "127.0.0.2:1", "localhost.r.io")] == [
        False
    ] * 3
    with pytest.raises(UsageError):
        ref.with_digest("sha256:x")
    with pytest.raises(UsageError):
        ref.with_tag("a b")


# -- credentials ----------------------------------------------------------------------------------


def docker_config(directory: Path, config: dict[str, Any]) -> dict[str, str]:
    """An env whose DOCKER_CONFIG is ``directory`` holding ``config``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return {"DOCKER_CONFIG": str(directory)}


def auth_entry(username: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_docker_config_auths(tmp_path: Path) -> None:
    env = docker_config(tmp_path, {"auths": {
        "r.io:5000": auth_entry("u", "p:w"),
        "https://index.docker.io/v1/": auth_entry("hub", "h"),
    }})  # fmt: skip
    found = client.docker_credentials("r.io:5000", env)
    assert found is not None
    assert (found.username, found.password) == ("u", "p:w")
    assert "p:w" not in repr(found)
    assert client.docker_credentials("docker.io", env) == Credentials(found.source, "hub", "h")
    assert client.docker_credentials("other.io", env) is None
    assert client.docker_credentials("r.io", {"DOCKER_CONFIG": str(tmp_path / "none")}) is None


def test_docker_config_credential_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A credsStore helper is run (by the Docker SDK) with the server's name on stdin."""
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text(
        "#!/bin/sh\n"
        'read server; [ "$1" = get ] && [ "$server" = r.io ] || exit 1\n'
        'echo \'{"ServerURL":"r.io","Username":"helped","Secret":"s3"}\'\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}{os.pathsep}{os.environ['PATH']}")
    env = docker_config(tmp_path / "config", {"credsStore": "fake"})
    found = client.docker_credentials("r.io", env)
    assert found is not None
    assert (found.username, found.password) == ("helped", "s3")
    assert "docker-credential-fake" in found.source

    env = docker_config(tmp_path / "missing", {"credsStore": "absent"})
    with pytest.raises(RegistryError) as exc:
        client.docker_credentials("r.io", env)
    assert "docker-credential-absent" in one_line(exc)


def test_docker_config_unreadable(tmp_path: Path) -> None:
    env = docker_config(tmp_path, {"auths": {"r.io": {"auth": "not base64!"}}})
    with pytest.raises(RegistryError) as exc:
        client.docker_credentials("r.io", env)
    assert str(tmp_path) in one_line(exc)


@pytest.mark.parametrize(
    ("host", "region"),
    [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "eu-west-1"),
        ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "cn-north-1"),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com:443", None),
        ("12345.dkr.ecr.eu-west-1.amazonaws.com", None),
        ("public.ecr.aws", None),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.io", None),
        ("docker.io", None),
    ],
)
def test_ecr_host(host: str, region: str | None) -> None:
    assert client.ecr_region(host) == region


ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.fixture
def ecr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Any, Stubber]]:
    """A real ecr client, from no file of this host, whose answers are stubbed at the edge."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    ecr = boto3.session.Session(
        aws_access_key_id="AKIATEST", aws_secret_access_key="test", region_name="eu-west-1"
    ).client("ecr")
    with Stubber(ecr) as stubber:
        yield ecr, stubber
        stubber.assert_no_pending_responses()


def test_ecr_login(ecr: tuple[Any, Stubber]) -> None:
    ecr_client, stubber = ecr
    token = base64.b64encode(b"AWS:pass:word").decode()
    answer = {
        "authorizationData": [{"authorizationToken": token, "proxyEndpoint": f"https://{ECR}"}]
    }
    stubber.add_response("get_authorization_token", answer, {})
    found = client.ecr_credentials(ECR, "eu-west-1", ecr_client)
    assert (found.username, found.password) == ("AWS", "pass:word")
    assert "pass:word" not in repr(found)


def test_ecr_login_refused(ecr: tuple[Any, Stubber]) -> None:
    ecr_client, stubber = ecr
    stubber.add_client_error(
        "get_authorization_token", "AccessDeniedException", "not authorized", 400
    )
    with pytest.raises(RegistryError) as exc:
        client.ecr_credentials(ECR, "eu-west-1", ecr_client)
    assert "AccessDeniedException" in one_line(exc)
    assert "aws ecr get-login-password --region eu-west-1" in str(exc.value.tip)


def test_ecr_login_unreadable(ecr: tuple[Any, Stubber]) -> None:
    ecr_client, stubber = ecr
    stubber.add_response("get_authorization_token", {"authorizationData": []}, {})
    with pytest.raises(RegistryError) as exc:
        client.ecr_credentials(ECR, "eu-west-1", ecr_client)
    one_line(exc)


def test_ecr_is_asked_only_when_docker_has_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def ecr_login(host: str, region: str, ecr: Any = None) -> Credentials:
        asked.append(region)
        return Credentials("ecr", "AWS", "x")

    monkeypatch.setattr(client, "ecr_credentials", ecr_login)
    env = docker_config(tmp_path, {"auths": {ECR: auth_entry("AWS", "from-docker")}})
    assert client.find_credentials(ECR, env) == Credentials(
        str(tmp_path / "config.json"), "AWS", "from-docker"
    )
    assert asked == []
    env = docker_config(tmp_path / "empty", {})
    assert client.find_credentials(ECR, env) == Credentials("ecr", "AWS", "x")
    assert client.find_credentials("r.io", env) is None
    assert asked == ["eu-west-1"]


# -- the bearer dance, against a fake registry in this process -------------------------------------


class FakeRegistry:
    """Just enough of a registry with a token service: one manifest, uploads at an absolute
    Location with a query, and what each request carried."""

    def __init__(self) -> None:
        self.manifest = b'{"schemaVersion":2}'
        self.claimed_digest: str | None = None  # what it says the manifest's digest is
        self.tokens: set[str] = set()
        self.token_requests: list[tuple[dict[str, list[str]], str | None]] = []
        self.uploaded: dict[str, bytes] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/token":
                    fake.token_requests.append((parse_qs(url.query), self.headers["Authorization"]))
                    token = f"t{len(fake.token_requests)}"
                    fake.tokens.add(token)
                    return self.answer(200, json.dumps({"access_token": token}).encode())
                if not self.authorized():
                    return None
                digest = fake.claimed_digest or sha256_digest(fake.manifest)
                self.answer(
                    200,
                    fake.manifest,
                    {"Content-Type": DOCKER_MANIFEST, "Docker-Content-Digest": digest},
                )

            def do_HEAD(self) -> None:
                if self.authorized():
                    self.answer(404)

            def do_POST(self) -> None:
                if self.authorized():
                    self.answer(202, headers={"Location": f"{fake.url}/upload/1?_state=s%3D"})

            def do_PUT(self) -> None:
                if not self.authorized():
                    return
                query = parse_qs(urlsplit(self.path).query)
                assert query["_state"] == ["s="]
                data = self.rfile.read(int(self.headers["Content-Length"]))
                fake.uploaded[query["digest"][0]] = data
                self.answer(201, headers={"Docker-Content-Digest": query["digest"][0]})

            def authorized(self) -> bool:
                if self.headers["Authorization"] in {f"Bearer {t}" for t in fake.tokens}:
                    return True
                challenge = f'Bearer realm="{fake.url}/token",service="fake.io",scope="ignored"'
                self.answer(
                    401,
                    b'{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}',
                    {"WWW-Authenticate": challenge},
                )
                return False

            def answer(
                self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"http://{self.host}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    served = FakeRegistry()
    yield served
    served.server.shutdown()
    served.server.server_close()


def test_bearer_token_is_fetched_once_per_scope(fake: FakeRegistry) -> None:
    login = Credentials("a test", "u", "p")
    reg = Registry(fake.host, insecure=True, credentials=lambda: login)
    first = reg.get_manifest("a/b", "v1")
    assert (first.data, first.media_type) == (fake.manifest, DOCKER_MANIFEST)
    reg.get_manifest("a/b", "v1")
    assert len(fake.token_requests) == 1
    query, authorization = fake.token_requests[0]
    assert query == {"service": ["fake.io"], "scope": ["repository:a/b:pull"]}
    assert authorization == "Basic " + base64.b64encode(b"u:p").decode()

    fake.tokens.clear()  # the token expired: fetched again, once
    reg.get_manifest("a/b", "v1")
    assert len(fake.token_requests) == 2

    data = os.urandom(1000)
    digest = sha256_digest(data)
    reg.push_blob("a/b", digest, len(data), lambda: io.BytesIO(data))
    assert fake.uploaded == {digest: data}
    assert fake.token_requests[-1][0]["scope"] == ["repository:a/b:pull,push"]


def test_anonymous_token(fake: FakeRegistry) -> None:
    Registry(fake.host, insecure=True).get_manifest("a/b", "v1")
    assert fake.token_requests == [
        ({"service": ["fake.io"], "scope": ["repository:a/b:pull"]}, None)
    ]


def test_a_registry_that_lies_is_caught(fake: FakeRegistry) -> None:
    reg = Registry(fake.host, insecure=True)
    fake.claimed_digest = DIGEST_A
    with pytest.raises(RegistryError) as exc:
        reg.get_manifest("a/b", "v1")
    assert f"not {DIGEST_A}" in one_line(exc)
    fake.claimed_digest = None
    with pytest.raises(RegistryError) as exc:
        reg.get_manifest("a/b", DIGEST_A)  # what came is not what was asked for
    assert f"not {DIGEST_A}" in one_line(exc)


def test_credentials_are_looked_up_only_when_asked(fake: FakeRegistry) -> None:
    def explode() -> Credentials | None:
        raise AssertionError("looked up")

    Registry(fake.host, insecure=True, credentials=explode)  # no request: no lookup


# -- against the real registry ------------------------------------------------------------------

integration = pytest.mark.integration


def push_bytes(reg: Registry, repository: str, data: bytes, **kwargs: Any) -> str:
    digest = sha256_digest(data)
    reg.push_blob(repository, digest, len(data), lambda: io.BytesIO(data), **kwargs)
    return digest


def image(reg: Registry, repository: str, layer: bytes) -> tuple[bytes, dict[str, str]]:
    """A Docker schema 2 image (config + one layer) pushed as blobs; its manifest's bytes."""
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    digests = {
        "config": push_bytes(reg, repository, config),
        "layer": push_bytes(reg, repository, layer),
    }
    manifest = {
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": digests["config"]},
        "layers": [
            {"mediaType": DOCKER_LAYER_GZIP, "size": len(layer), "digest": digests["layer"]}
        ],
    }  # fmt: skip
    return json.dumps(manifest, indent=1).encode(), digests


@pytest.fixture(scope="module")
def big_layer() -> bytes:
    return os.urandom(5 * 1024 * 1024 + 17)  # several chunks, streamed both ways


@integration
def test_push_and_pull_an_image_and_an_index(registry: str, big_layer: bytes) -> None:  # noqa: F811
    reg = Registry.for_reference(parse(f"{registry}/app/one:v1"), env={})
    manifest, digests = image(reg, "app/one", big_layer)
    digest = reg.put_manifest("app/one", "v1", DOCKER_MANIFEST, manifest)
    assert digest == "sha256:" + hashlib.sha256(manifest).hexdigest()
    for by in ("v1", digest):
        fetched = reg.get_manifest("app/one", by)
        assert (fetched.media_type, fetched.data, fetched.digest) == (
            DOCKER_MANIFEST,
            manifest,
            digest,
        )

    out = io.BytesIO()
    assert reg.get_blob("app/one", digests["layer"], out) == len(big_layer)
    assert out.getvalue() == big_layer
    assert reg.blob_exists("app/one", digests["layer"])
    assert not reg.blob_exists("app/one", DIGEST_A)

    index = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": DOCKER_MANIFEST, "size": len(manifest), "digest": digest,
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }).encode()  # fmt: skip
    index_digest = reg.put_manifest("app/one", "multi", OCI_INDEX, index)
    source = RegistrySource.open(parse(f"{registry}/app/one:multi"), env={})
    top = source.manifest()
    assert (top.media_type, top.data, top.digest) == (OCI_INDEX, index, index_digest)
    assert source.fetch_manifest(digest).data == manifest
    with source.blob(digests["layer"]) as stream:
        assert stream.read() == big_layer
    source.close()
    reg.close()


@integration
def test_cross_repository_mount(registry: str) -> None:  # noqa: F811
    reg = Registry(registry, insecure=True)
    data = os.urandom(4096)
    digest = push_bytes(reg, "mount/from", data)

    def never() -> BinaryIO:
        raise AssertionError("uploaded, not mounted")

    reg.push_blob("mount/to", digest, len(data), never, mount_from="mount/from")
    assert reg.blob_exists("mount/to", digest)
    reg.push_blob("mount/to", digest, len(data), never)  # there already: nothing sent

    # a mount from where the blob is not: the registry opens an upload instead
    other = os.urandom(100)
    assert push_bytes(reg, "mount/to", other, mount_from="mount/nowhere") in {sha256_digest(other)}
    out = io.BytesIO()
    reg.get_blob("mount/to", sha256_digest(other), out)
    assert out.getvalue() == other


@integration
def test_wrong_data_is_refused(registry: str) -> None:  # noqa: F811
    reg = Registry(registry, insecure=True)
    data = os.urandom(1000)
    wrong = sha256_digest(b"something else")
    with pytest.raises(RegistryError) as exc:
        reg.push_blob("bad/blob", wrong, len(data), lambda: io.BytesIO(data))
    assert f"hashes to {sha256_digest(data)}" in one_line(exc)
    assert not reg.blob_exists("bad/blob", wrong)

    with pytest.raises(RegistryError) as exc:  # shorter than it said: not a hang
        reg.push_blob("bad/blob", sha256_digest(data), len(data) + 10, lambda: io.BytesIO(data))
    assert "ended after 1000 of 1010 bytes" in exc.value.message

    manifest = b'{"schemaVersion": 2}'
    with pytest.raises(RegistryError) as exc:
        reg.put_manifest("bad/blob", DIGEST_A, DOCKER_MANIFEST, manifest)
    assert "the manifest's digest is" in exc.value.message
    with pytest.raises(RegistryError) as exc:  # a manifest naming blobs the registry lacks
        reg.put_manifest("bad/blob", "v1", DOCKER_MANIFEST, image_without_blobs())
    assert "bad/blob" in one_line(exc)


def image_without_blobs() -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": 2, "digest": DIGEST_A},
        "layers": [],
    }).encode()  # fmt: skip


@integration
def test_missing_things_are_one_line(registry: str) -> None:  # noqa: F811
    reg = Registry(registry, insecure=True)
    with pytest.raises(RegistryError) as exc:
        reg.get_manifest("no/such", "v1")
    message = one_line(exc)
    assert message.startswith(f"reading the manifest {registry}/no/such:v1: not found (404 ")
    assert "unknown" in message.lower()  # the registry's own words (NAME_UNKNOWN, ...)
    with pytest.raises(RegistryError) as exc:
        reg.get_blob("no/such", DIGEST_A, io.BytesIO())
    assert "not found" in one_line(exc)


def test_unreachable_registry_is_one_line() -> None:
    from tests.registry import _free_port

    reg = Registry(f"127.0.0.1:{_free_port()}", insecure=True)
    with pytest.raises(RegistryError) as exc:
        reg.get_manifest("a", "v1")
    assert "cannot reach the registry" in one_line(exc)
    assert "refused" in exc.value.message.lower()


@integration
def test_basic_auth_from_docker_config(
    registry_with_login: tuple[str, Login],  # noqa: F811
    tmp_path: Path,
) -> None:
    host, login = registry_with_login
    env = docker_config(
        tmp_path / "good", {"auths": {host: auth_entry(login.username, login.password)}}
    )
    reg = Registry.for_reference(parse(f"{host}/secret/app"), env)
    digest = push_bytes(reg, "secret/app", b"private")
    assert reg.blob_exists("secret/app", digest)

    for case, env in {
        "anonymous": {"DOCKER_CONFIG": str(tmp_path / "none")},
        "wrong": docker_config(
            tmp_path / "bad", {"auths": {host: auth_entry(login.username, "nope")}}
        ),
    }.items():
        reg = Registry.for_reference(parse(f"{host}/secret/app"), env)
        with pytest.raises(RegistryError) as exc:
            reg.blob_exists("secret/app", digest)
        message = one_line(exc)
        assert f"docker login {host}" in str(exc.value.tip)
        assert login.password not in message + str(exc.value.tip)
        assert ("a login is needed" if case == "anonymous" else "was refused") in message


def test_a_login_is_never_sent_to_a_plain_http_realm_elsewhere() -> None:
    reg = Registry("r.io", credentials=lambda: Credentials("a test", "u", "p"))
    with pytest.raises(RegistryError) as exc:  # refused before any request is made
        reg._token({"realm": "http://auth.r.io/token"}, ("repository:a:pull",), "reading")
    assert "without TLS" in one_line(exc)


@integration
def test_tls_failure_is_one_line(registry: str) -> None:  # noqa: F811
    reg = Registry(registry)  # https to a plain-http server
    with pytest.raises(RegistryError) as exc:
        reg.get_manifest("a", "v1")
    assert f"the TLS connection to {registry} failed" in one_line(exc)
