"""The shared artifact cache (--cache-from, --cache-to, ``cache = "REF"``) against a real registry
(Debian's docker-registry on loopback, tests/registry.py): sets pushed and pulled as OCI
artifacts, a fresh runner that starts no container, and every fault a team's registry has."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lambdazip.build.engine import CACHE_LABEL, Engine
from lambdazip.cli import main
from lambdazip.errors import DamagedBlob, RegistryError
from lambdazip.oci import artifact_cache
from lambdazip.oci.artifact_cache import NotASet, NotStored, SetFile, pull_set, push_set
from lambdazip.oci.media_types import CYCLONEDX, LAMBDAZIP_MANIFEST, ZIP
from tests.conftest import containers_created, host_env
from tests.registry import Login, htpasswd_line, running_registry

REPO = Path(__file__).resolve().parent.parent
KEY = "ab" * 32


def _files(directory: Path, zip_bytes: bytes = b"PK-zip") -> list[SetFile]:
    directory.mkdir(parents=True, exist_ok=True)
    made = [
        SetFile("a.zip", ZIP, directory / "a.zip"),
        SetFile("a.manifest.json", LAMBDAZIP_MANIFEST, directory / "a.manifest.json"),
        SetFile("a.cdx.json", CYCLONEDX, directory / "a.cdx.json"),
    ]
    made[0].path.write_bytes(zip_bytes)
    made[1].path.write_bytes(b'{"manifest": 1}\n')
    made[2].path.write_bytes(b'{"sbom": 1}\n')
    return made


WANTED = {"a.zip": ZIP, "a.manifest.json": LAMBDAZIP_MANIFEST, "a.cdx.json": CYCLONEDX}


def _blob_file(root: Path, digest: str) -> Path:
    """Where distribution's filesystem driver keeps a blob's bytes."""
    hexdigest = digest.removeprefix("sha256:")
    return root / "data/docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"


# -- the protocol: a set as an OCI artifact, no engine -------------------------------------------


def test_a_set_goes_in_and_comes_out_byte_for_byte(registry: str, tmp_path: Path) -> None:
    files = _files(tmp_path / "built")
    stored = push_set(f"{registry}/team/cache", KEY, files, {})
    assert stored.reference == f"{registry}/team/cache@{stored.digest}"
    into = tmp_path / "pulled"
    into.mkdir()
    again = pull_set(f"{registry}/team/cache", KEY, WANTED, into, {})
    assert again == stored
    for f in files:
        assert (into / f.name).read_bytes() == f.path.read_bytes()
    # its manifest is an OCI 1.1 artifact that tools like oras list: type, empty config, titles
    import urllib.request

    request = urllib.request.Request(
        f"http://{registry}/v2/team/cache/manifests/{KEY}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request) as response:
        document = json.loads(response.read())
    assert document["artifactType"] == "application/vnd.lambdazip.artifact-set.v1"
    assert document["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert [layer["annotations"]["org.opencontainers.image.title"] for layer in document["layers"]
            ] == ["a.zip", "a.manifest.json", "a.cdx.json"]  # fmt: skip


def test_no_set_under_a_key_is_a_plain_miss(registry: str, tmp_path: Path) -> None:
    with pytest.raises(NotStored):
        pull_set(f"{registry}/team/never-pushed", KEY, WANTED, tmp_path, {})
    push_set(f"{registry}/team/some", KEY, _files(tmp_path / "x"), {})
    with pytest.raises(NotStored):
        pull_set(f"{registry}/team/some", "cd" * 32, WANTED, tmp_path, {})


def test_what_is_not_a_set_of_ours_is_no_set(registry: str, tmp_path: Path) -> None:
    files = _files(tmp_path / "x")
    push_set(f"{registry}/team/other", KEY, files[:2], {})  # a set without its SBOM
    with pytest.raises(NotASet, match=r"it holds a\.manifest\.json, a\.zip"):
        pull_set(f"{registry}/team/other", KEY, WANTED, tmp_path, {})


def test_a_damaged_blob_is_refused_by_its_digest(tmp_path: Path) -> None:
    with running_registry(tmp_path / "registry") as host:
        files = _files(tmp_path / "built", b"PK" + b"z" * 5000)
        push_set(f"{host}/team/cache", KEY, files, {})
        digest = "sha256:" + hashlib.sha256(files[0].path.read_bytes()).hexdigest()
        blob = _blob_file(tmp_path / "registry", digest)
        blob.write_bytes(blob.read_bytes()[:1000])  # truncated where it is stored
        into = tmp_path / "pulled"
        into.mkdir()
        with pytest.raises(DamagedBlob):
            pull_set(f"{host}/team/cache", KEY, WANTED, into, {})
        blob.write_bytes(b"PK" + b"y" * 4999)  # the same size, other bytes
        with pytest.raises(DamagedBlob):
            pull_set(f"{host}/team/cache", KEY, WANTED, into, {})


class _Refusing:
    """A registry (at the edge: Registry.for_reference) whose manifest pushes are refused with
    ``refusals`` in turn, then taken."""

    def __init__(self, refusals: list[RegistryError]) -> None:
        self.refusals = refusals
        self.manifests = 0

    def __enter__(self) -> _Refusing:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def push_blob(self, *_args: object, **_kwargs: object) -> None:
        pass

    def put_manifest(self, *_args: object) -> str:
        self.manifests += 1
        if self.refusals:
            raise self.refusals.pop(0)
        return "sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("refusals", "tries", "pushed"),
    [
        ([RegistryError("blob unknown", status=400, racing=True)], 2, True),
        ([RegistryError("500 reading", status=500, racing=True)] * 3, 4, True),
        ([RegistryError("blob unknown", status=400, racing=True)] * 4, 4, False),
        ([RegistryError("denied", status=403)], 1, False),
        ([RegistryError("500 storing", status=500)], 1, False),  # an upload's: not sent again
    ],
)
def test_a_push_is_tried_again_only_after_a_racing_refusal(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    refusals: list[RegistryError],
    tries: int,
    pushed: bool,
) -> None:
    registry = _Refusing(list(refusals))
    monkeypatch.setattr("lambdazip.oci.registry.Registry.for_reference", lambda *_a: registry)
    monkeypatch.setattr("time.sleep", lambda _s: None)
    files = _files(tmp_path)
    if pushed:
        assert push_set("127.0.0.1:1/team/x", KEY, files, {}).digest == "sha256:" + "0" * 64
    else:
        with pytest.raises(RegistryError) as raised:
            push_set("127.0.0.1:1/team/x", KEY, files, {})
        assert raised.value is refusals[-1]
    assert registry.manifests == tries


def test_the_registry_marks_what_a_racing_push_causes(registry: str, tmp_path: Path) -> None:
    """The real registry's refusal of a manifest whose blob it lacks is marked racing (its
    MANIFEST_BLOB_UNKNOWN code); a refusal of a malformed manifest is not."""
    from lambdazip.oci.media_types import OCI_MANIFEST
    from lambdazip.oci.reference import Reference
    from lambdazip.oci.registry import Registry

    reference = Reference.parse(f"{registry}/team/racing")
    files = _files(tmp_path)
    missing = [(f, "sha256:" + "1" * 64, 1) for f in files]
    manifest = artifact_cache.set_manifest(KEY, missing)
    with Registry.for_reference(reference, {}) as client:
        with pytest.raises(RegistryError) as raised:
            client.put_manifest(reference.repository, KEY, OCI_MANIFEST, manifest)
        assert raised.value.racing, raised.value.message
        with pytest.raises(RegistryError) as raised:
            client.put_manifest(reference.repository, KEY, OCI_MANIFEST, b"{}")
        assert not raised.value.racing, raised.value.message


def _push_into(results: list[Any], i: int, repository: str, files: list[SetFile]) -> None:
    try:
        results[i] = push_set(repository, KEY, files, {})
    except Exception as exc:  # noqa: BLE001 - said by the test's assertion
        results[i] = exc


def test_runners_pushing_one_key_at_once_all_succeed_and_the_set_is_whole(
    registry: str, tmp_path: Path
) -> None:
    """Pushes of one key at once, their manifests differing (as runners' records do): every one
    succeeds, and what the key names then is one of the sets, whole. The registry counts a blob
    absent, or fails reading it, while another push of it is written: without push_set's trying
    again, about one run in three of this test failed here (the rule itself, deterministically:
    test_a_push_is_tried_again_only_after_a_racing_refusal)."""
    for round_ in range(6):
        sets = [_files(tmp_path / f"round{round_}" / f"runner{i}") for i in range(4)]
        for i, files in enumerate(sets):
            files[1].path.write_bytes(b'{"manifest": %d}\n' % i)
        results: list[Any] = [None] * len(sets)
        repository = f"{registry}/team/race{round_}"
        threads = [
            threading.Thread(target=_push_into, args=(results, i, repository, files))
            for i, files in enumerate(sets)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(isinstance(r, artifact_cache.Stored) for r in results), results
        into = tmp_path / f"pulled{round_}"
        into.mkdir()
        pulled = pull_set(repository, KEY, WANTED, into, {})
        assert pulled.digest in {r.digest for r in results}
        manifest = (into / "a.manifest.json").read_bytes()
        assert manifest in {b'{"manifest": %d}\n' % i for i in range(len(sets))}


# -- builds: the engine, the stand-ins, the real lock --------------------------------------------


def _layer(images: dict[tuple[str, str], str], out: Path, *extra: str) -> list[str]:
    return [
        "layer", "--python", "3.11", "--arch", "x86_64", "-o", str(out),
        "--base-image", images["3.11", "x86_64"], "-r", str(REPO / "requirements.txt"), *extra,
    ]  # fmt: skip


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def _empty_the_engine(engine: Engine, base: str, python: str = "3.11") -> None:
    """As a fresh CI runner's for one x86_64 target: no build image on ``base``, no download
    cache volume (the base stays: the stand-ins cannot be pulled here, and a runner pulls the
    official image in either case). Other targets' are kept: rebuilding them (arm64 under
    emulation) would only slow the tests that follow."""
    from lambdazip.build.images import build_image_tag
    from lambdazip.targets import RUNTIMES, Arch, Target

    target = Target(RUNTIMES[python], Arch.X86_64)
    info = engine.image(base)
    assert info is not None
    tag = build_image_tag(info.id, target)
    if engine.image(tag) is not None:
        engine.api.remove_image(tag, force=True)
    assert engine.image(tag) is None
    volumes = engine.api.volumes(filters={"label": CACHE_LABEL}).get("Volumes") or []
    for volume in volumes:
        if volume["Name"] == f"lambdazip-cache-{target}":
            engine.api.remove_volume(volume["Name"], force=True)


@pytest.mark.integration
@pytest.mark.network
def test_a_fresh_runner_takes_the_set_and_starts_no_container(
    registry: str,
    images: dict[tuple[str, str], str],
    engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = f"{registry}/team/layers"
    first = tmp_path / "runner1"
    assert main([*_layer(images, first, "--cache-to", cache)], env=host_env()) == 0
    said = capsys.readouterr().err
    assert f"pushed to {cache}@sha256:" in said, said
    built = first / "layer-python3.11-x86_64.zip"

    _empty_the_engine(engine, images["3.11", "x86_64"])
    second = tmp_path / "runner2"
    since = time.time()
    assert main([*_layer(images, second, "--cache-from", cache, "-v")], env=host_env()) == 0
    said = capsys.readouterr().err
    assert containers_created(engine, since) == 0
    assert f"pulled from the shared cache {cache}@sha256:" in said
    assert "(no container started)" in said
    taken = second / "layer-python3.11-x86_64.zip"
    assert _sha256(taken) == _sha256(built)
    record = json.loads((second / "layer-python3.11-x86_64.manifest.json").read_text())
    assert record["cached_from"].startswith(f"{cache}@sha256:")
    assert record["sha256"] == _sha256(built)
    assert (second / "layer-python3.11-x86_64.cdx.json").read_bytes() == (
        first / "layer-python3.11-x86_64.cdx.json"
    ).read_bytes()
    assert sorted(p.name for p in second.iterdir()) == sorted(p.name for p in first.iterdir())
    # and then it is up to date, with no registry asked
    assert main([*_layer(images, second, "--cache-from", "127.0.0.1:1/none")], env=host_env()) == 0
    assert "up to date, reused" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.network
def test_an_unreachable_registry_is_one_warning_and_the_build_goes_on(
    images: dict[tuple[str, str], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dist"
    argv = _layer(images, out, "--cache", "127.0.0.1:1/team/cache")
    assert main(argv, env=host_env()) == 0
    err = capsys.readouterr().err
    warnings = _warnings(err)
    assert len(warnings) == 1, err
    assert "cannot reach the registry 127.0.0.1:1" in warnings[0]
    assert "built here instead" in warnings[0]
    assert (out / "layer-python3.11-x86_64.zip").is_file()


@pytest.mark.integration
@pytest.mark.network
def test_a_registry_that_wants_a_login_warns_without_one_and_works_with_docker_s(
    images: dict[tuple[str, str], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    login = Login("team", "cache-Pa55word")
    line = htpasswd_line(login)
    if line is None:
        pytest.skip("no bcrypt module and no htpasswd to write the login with")
    with running_registry(tmp_path / "registry", line) as host:
        cache = f"{host}/team/cache"
        out = tmp_path / "dist"
        assert main(_layer(images, out, "--cache", cache, "--force"), env=host_env()) == 0
        warnings = _warnings(capsys.readouterr().err)
        assert len(warnings) == 1, warnings
        assert "a login is needed" in warnings[0]
        config = tmp_path / "docker"
        config.mkdir()
        pair = f"{login.username}:{login.password}".encode()
        import base64

        auths = {"auths": {host: {"auth": base64.b64encode(pair).decode()}}}
        (config / "config.json").write_text(json.dumps(auths))
        env = {**host_env(), "DOCKER_CONFIG": str(config)}
        assert main(_layer(images, out, "--cache", cache, "--force"), env=env) == 0
        err = capsys.readouterr().err
        assert _warnings(err) == [], err
        assert f"pushed to {cache}@sha256:" in err
        assert login.password not in err


@pytest.mark.integration
@pytest.mark.network
def test_a_damaged_set_is_refused_rebuilt_and_never_written(
    images: dict[tuple[str, str], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_registry(tmp_path / "registry") as host:
        cache = f"{host}/team/cache"
        first = tmp_path / "runner1"
        assert main(_layer(images, first, "--cache-to", cache), env=host_env()) == 0
        capsys.readouterr()
        built = first / "layer-python3.11-x86_64.zip"
        blob = _blob_file(tmp_path / "registry", "sha256:" + _sha256(built))
        blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])
        second = tmp_path / "runner2"
        assert main(_layer(images, second, "--cache-from", cache), env=host_env()) == 0
        err = capsys.readouterr().err
        warnings = _warnings(err)
        assert len(warnings) == 1, err
        assert "hash to" in warnings[0]
        assert "built here instead" in warnings[0]
        assert _sha256(second / "layer-python3.11-x86_64.zip") == _sha256(built)
        assert not [p for p in second.iterdir() if p.name.startswith(".")]  # no scratch left
        record = json.loads((second / "layer-python3.11-x86_64.manifest.json").read_text())
        assert record["cached_from"] is None


@pytest.mark.integration
@pytest.mark.network
def test_a_set_whose_manifest_is_not_its_zip_s_is_refused(
    registry: str,
    images: dict[tuple[str, str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A set whose blobs are each whole but that does not hold together (its zip is another
    build's) is refused by the set's own checks, not only by digests."""
    cache = f"{registry}/team/lying"
    first = tmp_path / "runner1"
    assert main(_layer(images, first, "--cache-to", cache), env=host_env()) == 0
    capsys.readouterr()
    name = "layer-python3.11-x86_64"
    record = json.loads((first / f"{name}.manifest.json").read_text())
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(first / f"{name}.zip") as source, zipfile.ZipFile(other, "w") as out:
        for info in source.infolist()[:-1]:
            out.writestr(info, source.read(info))
    shutil.copy(other, first / f"{name}.zip")
    files = [
        SetFile(f"{name}.zip", ZIP, first / f"{name}.zip"),
        SetFile(f"{name}.manifest.json", LAMBDAZIP_MANIFEST, first / f"{name}.manifest.json"),
        SetFile(f"{name}.cdx.json", CYCLONEDX, first / f"{name}.cdx.json"),
    ]
    push_set(cache, record["cache_key"], files, {})
    second = tmp_path / "runner2"
    assert main(_layer(images, second, "--cache-from", cache), env=host_env()) == 0
    warnings = _warnings(capsys.readouterr().err)
    assert len(warnings) == 1, warnings
    assert "the zip's sha256 is" in warnings[0]
    assert _sha256(second / f"{name}.zip") == record["sha256"]


@pytest.mark.integration
@pytest.mark.network
def test_a_project_on_fresh_runners_takes_every_artifact_and_shards_need_no_order(
    registry: str,
    images: dict[tuple[str, str], str],
    engine: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A [tool.lambdazip] project (a layer, two functions on it, one with a smoke event) built
    with `cache = REF`: a second runner, its engine emptied, takes all three and starts no
    container; two shards on two more runners, the second run first, together write the same."""
    from tests.projects import uv_project
    from tests.test_project_build import TOOL

    cache = f"{registry}/team/project"
    project = uv_project(tmp_path / "orders")
    (project / "event.json").write_text('{"id": 1, "items": ["x"]}')
    with (project / "pyproject.toml").open("a") as fh:
        fh.write(TOOL.replace("[tool.lambdazip]\n", f'[tool.lambdazip]\ncache = "{cache}"\n', 1))
    base = ["--base-image", f"3.11/x86_64={images['3.11', 'x86_64']}"]

    def runner(name: str, *extra: str) -> tuple[dict[str, str], str, int]:
        out = tmp_path / name
        since = time.time()
        code = main(["build", "--project", str(project), "-o", str(out), *base, *extra],
                    env=host_env())  # fmt: skip
        captured = capsys.readouterr()
        assert code == 0, captured.err[-3000:]
        table = [line.split() for line in captured.out.splitlines()[1:] if line.strip()]
        built = {p.name: _sha256(p) for p in out.glob("*.zip")}
        statuses = {row[0]: row[3] for row in table}
        assert _warnings(captured.err) == [], captured.err
        return built, json.dumps(statuses), containers_created(engine, since)

    first, statuses, _ = runner("runner1")
    assert json.loads(statuses) == {"deps": "built", "api": "built", "worker": "built"}
    _empty_the_engine(engine, images["3.11", "x86_64"])
    second, statuses, created = runner("runner2")
    assert created == 0
    assert json.loads(statuses) == {"deps": "pulled", "api": "pulled", "worker": "pulled"}
    assert second == first
    for manifest in (tmp_path / "runner2").glob("*.manifest.json"):
        assert json.loads(manifest.read_text())["cached_from"].startswith(f"{cache}@sha256:")
    # two shards on runners of their own, sharing a repository that starts empty, the last one
    # first: each builds (or pulls) what it needs, and together they write the same bytes
    shards, seen = {}, {}
    for index in (2, 1):
        extra = ("--shard", f"{index}/2", "--cache", f"{registry}/team/shards")
        shards[index], statuses, _created = runner(f"shard{index}", *extra)
        seen[index] = json.loads(statuses)
    assert set(seen[2].values()) == {"built"}
    shared = set(seen[1]) & set(seen[2])  # a layer both shards' functions use
    assert all(seen[1][name] == "pulled" for name in shared)
    assert {**shards[1], **shards[2]} == first
