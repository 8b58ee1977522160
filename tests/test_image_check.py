"""`check --image`, the pure part: images written by hand as OCI image layouts (JSON and gzip'd
tars from the standard library), gathered and judged. No engine, no network."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from lambdazip.errors import ImageError
from lambdazip.judge.findings import Finding, Severity
from lambdazip.judge.image import (
    ImageFacts,
    IndexEntry,
    check_image,
    check_image_contents,
    gather_image,
)
from lambdazip.oci.media_types import OCI_INDEX, OCI_MANIFEST
from lambdazip.oci.source import OciLayoutSource
from lambdazip.targets import RUNTIMES, Arch, Target

X86_312 = Target(RUNTIMES["3.12"], Arch.X86_64)
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAMBDA_ENV = ["LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime", "LANG=en_US.UTF-8"]
HANDLER = b"def handler(event, context):\n    return event\n"

Member = tuple[tarfile.TarInfo, bytes]


# -- images by hand -----------------------------------------------------------------------------


def file(name: str, data: bytes = b"", mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 1_700_000_000
    return info, data


def directory(name: str, mode: int = 0o755) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    return info, b""


def link(name: str, target: str, hard: bool = False) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = (tarfile.LNKTYPE if hard else tarfile.SYMTYPE), target
    return info, b""


def tar(*members: Member) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return out.getvalue()


def elf_x86_64() -> bytes:
    """The smallest ELF header pyelftools reads: a 64-bit x86-64 shared object."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0)


BASE = tar(
    file("lambda-entrypoint.sh", b"#!/bin/sh\nexec /var/runtime/bootstrap\n", 0o755),
    directory("var/lang/lib/python3.12"),
    file("var/lang/lib/python3.12/os.py", b"# os\n"),
    file("var/lang/bin/python3.12", b"\x7fELF", 0o755),
    file("var/runtime/bootstrap.py", b"# awslambdaric\n"),
    directory("var/task"),
)


class Layout:
    """An OCI image layout in a directory: blobs by digest, and an index.json."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def blob(self, data: bytes, media_type: str, **extra: object) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / "sha256" / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data), **extra}

    def image(
        self,
        *layers: bytes,
        arch: str = "amd64",
        cmd: list[str] | None = None,
        entrypoint: list[str] | None = None,
        layer_type: str = GZIP_LAYER,
        compress: bool = True,
    ) -> dict[str, object]:
        """A single-platform manifest: the fake Lambda base, then ``layers`` (tars)."""
        config = {
            "architecture": arch,
            "os": "linux",
            "config": {
                "Entrypoint": ["/lambda-entrypoint.sh"] if entrypoint is None else entrypoint,
                "Cmd": cmd if cmd is not None else ["app.handler"],
                "Env": LAMBDA_ENV,
                "WorkingDir": "/var/task",
            },
            "rootfs": {"type": "layers", "diff_ids": []},
        }
        blobs = [
            self.blob(gzip.compress(t, mtime=0) if compress else t, layer_type)
            for t in (BASE, *layers)
        ]
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blob(json.dumps(config).encode(), CONFIG),
            "layers": blobs,
        }
        platform = {"architecture": arch, "os": "linux"}
        return self.blob(json.dumps(manifest).encode(), OCI_MANIFEST, platform=platform)

    def attestation(self, subject: str) -> dict[str, object]:
        """BuildKit's provenance attestation manifest for the image ``subject``."""
        statement = {"_type": "https://in-toto.io/Statement/v0.1", "predicate": {}}
        layer = self.blob(json.dumps(statement).encode(), "application/vnd.in-toto+json")
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blob(b"{}", CONFIG),
            "layers": [layer],
        }
        return self.blob(
            json.dumps(manifest).encode(),
            OCI_MANIFEST,
            platform={"architecture": "unknown", "os": "unknown"},
            annotations={
                "vnd.docker.reference.type": "attestation-manifest",
                "vnd.docker.reference.digest": subject,
            },
        )

    def index(self, *entries: dict[str, object]) -> None:
        (self.root / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(entries)})
        )


def gathered(tmp_path: Path, layout: Layout, arch: Arch | None = Arch.X86_64) -> ImageFacts:
    work = Path(tempfile.mkdtemp(prefix="work-", dir=tmp_path))
    with OciLayoutSource(layout.root) as source:
        return gather_image(source, "example.invalid/app:1", arch, work)


def single(
    tmp_path: Path,
    *layers: bytes,
    arch: str = "amd64",
    cmd: list[str] | None = None,
    entrypoint: list[str] | None = None,
) -> ImageFacts:
    layout = Layout(tmp_path / "layout")
    layout.index(layout.image(*layers, arch=arch, cmd=cmd, entrypoint=entrypoint))
    return gathered(tmp_path, layout)


def codes(findings: Iterable[Finding]) -> list[str]:
    return [f.code for f in findings]


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR]


APP = tar(file("var/task/app.py", HANDLER))


# -- (a) a good image ---------------------------------------------------------------------------


def test_a_good_image_has_no_findings(tmp_path: Path) -> None:
    facts = single(tmp_path, APP)
    assert facts.index == ()
    assert facts.manifest_media_type == OCI_MANIFEST
    assert facts.platform == "linux/amd64"
    assert facts.runtime_python == "3.12"
    assert facts.cmd == ("app.handler",)
    assert facts.env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert facts.layer_compressions == ("gzip", "gzip")
    assert facts.uncompressed_size == len(BASE) + len(APP)
    assert facts.task_root is not None
    assert (facts.task_root / "app.py").read_bytes() == HANDLER
    assert "/lambda-entrypoint.sh" in facts.runtime_files
    assert check_image(facts, Arch.X86_64) == []
    assert check_image(facts, None) == []
    assert check_image_contents(facts, X86_312) == []


def test_an_uncompressed_layout_in_a_tar_reads_the_same(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    layout.index(
        layout.image(APP, compress=False, layer_type="application/vnd.oci.image.layer.v1.tar")
    )
    packed = tmp_path / "image.tar"
    with tarfile.open(packed, "w") as archive:
        archive.add(layout.root, arcname=".")
    work = tmp_path / "work"
    work.mkdir()
    with OciLayoutSource(packed) as source:
        facts = gather_image(source, str(packed), Arch.X86_64, work)
    assert facts.layer_compressions == ("tar", "tar")
    assert check_image(facts, Arch.X86_64) == []


# -- (b) BuildKit's index with a provenance attestation ----------------------------------------


def test_buildkit_index_with_an_attestation_is_one_error_naming_the_remedy(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    image = layout.image(APP)
    inner = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [image, layout.attestation(str(image["digest"]))],
    }
    # what `docker buildx build --output type=oci` writes: index.json names the image's index
    layout.index(layout.blob(json.dumps(inner).encode(), OCI_INDEX))
    facts = gathered(tmp_path, layout)
    assert facts.media_type == OCI_INDEX
    assert facts.index == (
        IndexEntry(OCI_MANIFEST, str(image["digest"]), "linux/amd64", False),
        IndexEntry(OCI_MANIFEST, facts.index[1].digest, "unknown/unknown", True),
    )
    assert facts.manifest_digest == image["digest"]
    findings = check_image(facts, Arch.X86_64)
    assert codes(findings) == ["image-index"]
    line = findings[0].line()
    assert line.startswith("error: example.invalid/app:1: expected one image manifest")
    assert "unknown/unknown (an attestation)" in line
    assert "docker buildx build --provenance=false --sbom=false --platform linux/amd64" in line
    assert f"example.invalid/app@{image['digest']}" in line
    assert "lambdazip image" in line
    # the image in the index is still judged: its code is fine
    assert check_image_contents(facts, X86_312) == []


def test_an_index_without_the_arch_asked_for_cannot_be_judged(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    layout.index(layout.image(APP, arch="arm64"), layout.image(APP, arch="amd64"))
    with pytest.raises(ImageError, match="2 images"):
        gathered(tmp_path, layout, arch=None)
    layout = Layout(tmp_path / "other")
    layout.index(layout.image(APP, arch="arm64"), layout.attestation("sha256:" + "0" * 64))
    with pytest.raises(ImageError, match="no manifest for linux/amd64"):
        gathered(tmp_path, layout)


# -- (c) platform, (d) CMD, (g) media types ----------------------------------------------------


def test_an_arm64_image_for_an_x86_64_function_is_one_platform_error(tmp_path: Path) -> None:
    facts = single(tmp_path, APP, arch="arm64")
    [found] = check_image(facts, Arch.X86_64)
    assert found.code == "image-platform"
    assert found.found == "linux/arm64"
    assert "--platform linux/amd64" in found.remedy
    assert check_image(facts, None) == []  # without --arch, arm64 is a platform Lambda runs


@pytest.mark.parametrize(
    ("cmd", "found"),
    [
        (["missing.handler"], "no missing.py, package or extension module"),
        (["app.nothing"], "no nothing in /var/task/app.py"),
        (["app.handler", "extra"], '["app.handler", "extra"], 2 elements'),
        (["/bin/sh", "-c", "app.handler"], "(the shell form of CMD)"),
        (["handler"], 'CMD ["handler"]'),
        ([], "no CMD"),
    ],
)
def test_a_cmd_lambda_cannot_run_is_an_error(tmp_path: Path, cmd: list[str], found: str) -> None:
    [wrong] = check_image(single(tmp_path, APP, cmd=cmd), Arch.X86_64)
    assert wrong.code == "image-cmd"
    assert found in wrong.found


@pytest.mark.parametrize(
    ("cmd", "layer"),
    [
        (
            "pkg.handlers.main",
            tar(
                file("var/task/pkg/__init__.py"),
                file("var/task/pkg/handlers.py", b"from pkg.impl import run as main\n"),
                file("var/task/pkg/impl.py", b"def run(e, c):\n    return e\n"),
            ),
        ),
        ("pkg/handlers.main", tar(file("var/task/pkg/handlers.py", b"main = print\n"))),
        ("fast.handler", tar(file("var/task/fast.cpython-312-x86_64-linux-gnu.so", elf_x86_64()))),
        ("dep.handler", tar(file("opt/python/dep.py", HANDLER))),
        ("bootstrap.handler", tar()),  # in /var/runtime: odd, but Lambda finds it
    ],
)
def test_a_cmd_found_where_lambda_looks_is_fine(tmp_path: Path, cmd: str, layer: bytes) -> None:
    assert check_image(single(tmp_path, layer, cmd=[cmd]), Arch.X86_64) == []


def test_a_replaced_entrypoint_is_a_warning_and_no_python_an_error(tmp_path: Path) -> None:
    facts = single(tmp_path, APP, entrypoint=["/usr/bin/python3", "-m", "awslambdaric"])
    assert [(f.code, f.severity) for f in check_image(facts, Arch.X86_64)] == [
        ("image-base-changed", Severity.WARNING)
    ]
    [cmd, changed] = check_image(single(tmp_path / "none", APP, entrypoint=[]), Arch.X86_64)
    assert (cmd.code, changed.code) == ("image-cmd", "image-base-changed")
    assert "runs CMD" in cmd.found
    layout = Layout(tmp_path / "bare")
    bare = tar(file("var/lang/lib/python3.12/os.py"))  # whited out below
    whiteout = tar(file("var/lang/lib/.wh.python3.12"))
    layout.index(layout.image(bare, whiteout, APP))
    facts = gathered(tmp_path, layout)
    assert facts.runtime_python is None
    assert codes(check_image(facts, Arch.X86_64)) == ["image-base"]


def test_a_zstd_layer_is_a_media_type_error(tmp_path: Path) -> None:
    zstd_blob = b"\x28\xb5\x2f\xfd" + bytes(16)  # a zstd frame's magic: not read, only hashed
    layout = Layout(tmp_path / "layout")
    image = layout.image(APP)
    manifest = json.loads(
        (layout.root / "blobs" / str(image["digest"]).replace(":", "/")).read_bytes()
    )
    manifest["layers"].append(layout.blob(zstd_blob, ZSTD_LAYER))
    layout.index(layout.blob(json.dumps(manifest).encode(), OCI_MANIFEST))
    facts = gathered(tmp_path, layout)
    assert facts.layer_compressions == ("gzip", "gzip", "zstd")
    [found] = check_image(facts, Arch.X86_64)
    assert found.code == "image-media-type"
    assert found.path == "example.invalid/app:1 layer 3 of 3"
    assert "we believe it refuses it" in found.found
    assert "compression=gzip,force-compression=true" in found.remedy


def test_a_layer_that_does_not_match_its_digest_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "layout")
    image = layout.image(APP)
    manifest = json.loads(
        (layout.root / "blobs" / str(image["digest"]).replace(":", "/")).read_bytes()
    )
    code = manifest["layers"][1]["digest"].replace(":", "/")
    (layout.root / "blobs" / code).write_bytes(gzip.compress(tar(file("var/task/evil.py"))))
    layout.index(image)
    with pytest.raises(ImageError, match="does not match its digest"):
        gathered(tmp_path, layout)


# -- (e) whiteouts, (f) the zip checks on the image's code, (h) hostile members ----------------


def test_whiteouts_remove_what_lower_layers_put_there(tmp_path: Path) -> None:
    lower = tar(
        file("var/task/app.py", HANDLER),
        file("var/task/old.py"),
        file("var/task/lib/stale.py"),
        file("opt/python/gone.py"),
    )
    upper = tar(
        file("var/task/.wh.old.py"),
        file("var/task/lib/.wh..wh..opq"),
        file("var/task/lib/new.py"),
        file("opt/.wh.python"),
    )
    facts = single(tmp_path, lower, upper)
    assert facts.task_root is not None
    assert sorted(
        p.relative_to(facts.task_root).as_posix() for p in facts.task_root.rglob("*")
    ) == [
        "app.py",
        "lib",
        "lib/new.py",
    ]
    assert facts.opt is not None
    assert list(facts.opt.iterdir()) == []
    assert check_image(facts, Arch.X86_64) == []


def test_a_wrong_python_extension_in_the_image_is_found_at_its_image_path(tmp_path: Path) -> None:
    layer = tar(
        file("var/task/app.py", b"import _speedups\n" + HANDLER),
        file("var/task/_speedups.cpython-311-x86_64-linux-gnu.so", elf_x86_64()),
        file("opt/python/secret.py", b"X = 1\n", mode=0o600),
    )
    facts = single(tmp_path, layer)
    assert check_image(facts, Arch.X86_64) == []
    findings = check_image_contents(facts, X86_312)
    assert [(f.code, f.path) for f in errors(findings)] == [
        ("file-mode", "/opt/python/secret.py"),
        ("ext-suffix", "/var/task/_speedups.cpython-311-x86_64-linux-gnu.so"),
    ]
    mode = next(f for f in findings if f.code == "file-mode")
    assert "Dockerfile" in mode.remedy  # not the zip's remedy
    suffix = next(f for f in findings if f.code == "ext-suffix")
    assert "build.py image --handler MODULE.FUNCTION --arch x86_64" in suffix.remedy
    assert "build.py function" not in suffix.remedy


def test_members_that_would_leave_the_tree_are_not_extracted(tmp_path: Path) -> None:
    hostile = tar(
        file("../escape.py", b"x"),
        file("/abs.py", b"x"),
        file("var/task/../../../../up.py", b"x"),
        link("var/task/etc", "/etc"),
        link("var/task/up", "../../../.."),
        file("var/task/etc/written.py", b"x"),  # a directory of its own: the link was not made
        link("var/task/passwd", "etc/passwd", hard=True),
        link("var/task/inside", "/var/task/app.py"),
        file("var/task/app.py", HANDLER),
    )
    facts = single(tmp_path, hostile)
    assert set(facts.skipped) >= {
        "../escape.py",
        "/abs.py",
        "var/task/../../../../up.py",
        "var/task/etc",
        "var/task/up",
        "var/task/passwd",
    }
    names = {p.name for p in tmp_path.rglob("*")}
    assert not names & {"escape.py", "abs.py", "up.py"}
    assert facts.task_root is not None
    assert (facts.task_root / "etc" / "written.py").is_file()
    assert not (facts.task_root / "etc").is_symlink()
    inside = facts.task_root / "inside"  # a link inside the tree: a copy of what it names
    assert not inside.is_symlink()
    assert inside.read_bytes() == HANDLER
    assert not [p for p in tmp_path.rglob("*") if p.is_symlink()]
    assert check_image(facts, Arch.X86_64) == []
    assert errors(check_image_contents(facts, X86_312)) == []


def test_links_inside_the_tree_are_followed_then_become_copies(tmp_path: Path) -> None:
    lower = tar(
        directory("var/task/real"),
        link("var/task/alias", "real"),
        link("var/task/app.py", "/var/task/real/main.py"),
        link("var/task/loop", "loop2"),
        link("var/task/loop2", "loop"),
    )
    upper = tar(file("var/task/alias/main.py", HANDLER))  # written through the link, into real/
    facts = single(tmp_path, lower, upper, cmd=["alias.main.handler"])
    assert facts.task_root is not None
    assert (facts.task_root / "real" / "main.py").read_bytes() == HANDLER
    assert (facts.task_root / "alias" / "main.py").read_bytes() == HANDLER
    assert (facts.task_root / "app.py").read_bytes() == HANDLER
    assert {"var/task/loop", "var/task/loop2"} <= set(facts.skipped)
    assert not [p for p in tmp_path.rglob("*") if p.is_symlink()]
    assert check_image(facts, Arch.X86_64) == []
