"""The catalogue of bad inputs: each one a command, the exit code it gives and the one error line
it prints. tests/test_bad_inputs.py runs every row; docs/errors.md is generated from it:

    python -m tests.bad_inputs > docs/errors.md

Arguments use placeholders filled in by the test: {w} the workspace of files made by make_workspace,
{lock} the project's requirements.txt, {x86}/{arm64}/{x86_313} the stand-in images of python3.11
on x86_64 and arm64 and python3.13 on x86_64 ({x86} is what the official image's tag would be in
real use).
"""

from __future__ import annotations

import io
import os
import subprocess
import zipfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

from lambdazip.errors import exit_code_table
from lambdazip.judge.rules import rules_table

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    id: str
    what: str  # the bad input, in words
    argv: tuple[str, ...]
    code: int
    error: str  # what the one `error:` line says (a part of it)
    engine: bool = False  # needs the Docker engine (and the stand-ins)
    env: dict[str, str] = field(default_factory=dict)
    context: str | None = None  # the name of a context manager below that sets the scene


T = ("--arch", "x86_64", "--python", "3.11")
LAYER = ("layer", *T, "-o", "{w}/dist")

CASES: list[Case] = [
    Case("unknown-arch", "an unknown architecture",
         ("check", "{w}/layer.zip", "--arch", "sparc", "--python", "3.13"), 2,
         "unknown architecture 'sparc'; use one of: x86_64 (or amd64), arm64 (or aarch64)"),
    Case("unknown-python", "an unknown Python",
         ("check", "{w}/layer.zip", "--arch", "arm64", "--python", "2.7"), 2,
         "unknown Lambda Python runtime '2.7'; use one of: 3.10, 3.11, 3.12, 3.13, 3.14, 3.15"),
    Case("retired-python", "a retired runtime (python3.9)",
         ("check", "{w}/layer.zip", "--arch", "arm64", "--python", "3.9"), 2,
         "python3.9 was deprecated by AWS Lambda on 2025-12-15 and is no longer a build target"),
    Case("unknown-command", "an unknown command", ("frobnicate",), 2, "invalid choice"),
    Case("cache-tag", "a shared cache named with a tag",
         (*LAYER, "-r", "{lock}", "--cache", "127.0.0.1:5000/team/cache:v1"), 2,
         "the cache '127.0.0.1:5000/team/cache:v1' names a tag or digest; name a repository"),
    Case("cache-not-a-name", "a shared cache that is no image name",
         (*LAYER, "-r", "{lock}", "--cache-from", "Team Cache"), 2,
         "the cache 'Team Cache' is not a repository's name"),
    Case("shard-out-of-range", "a shard beyond the count", ("build", "--shard", "5/4"), 2,
         "--shard '5/4' is not I/N with 1 <= I <= N <= 256; e.g. --shard 2/4"),
    Case("watch-and-list", "--watch with --list, which builds nothing",
         ("build", "--watch", "--list"), 2,
         "--watch builds: it takes no --list; drop --list or --watch"),
    Case("missing-option", "a required option left out", ("layer", "-o", "{w}/dist"), 2,
         "the following arguments are required: --arch, --python"),
    Case("check-no-target", "check with no --arch/--python and no manifest",
         ("check", "{w}/layer.zip"), 2,
         "no --arch/--python, and no readable manifest {w}/layer.manifest.json"),
    Case("check-nothing", "check with neither a path nor --function/--layer-arn",
         ("check", *T), 2, "check takes one of: a path, --function NAME_OR_ARN, --layer-arn ARN"),
    Case("check-two-sources", "check with a path and --function",
         ("check", "{w}/layer.zip", "--function", "f", *T), 2, "check takes one of"),
    Case("layer-arn-malformed", "a layer ARN without its version",
         ("check", "--layer-arn", "arn:aws:lambda:us-east-1:123456789012:layer:deps",
          "--region", "us-east-1"), 2, "is not a layer version ARN"),
    Case("timeout-out-of-bounds", "an invoke timeout Lambda does not allow",
         ("invoke", "{w}/function.zip", "--handler", "app.handler", "--event", "{w}/event.json",
          *T, "--timeout", "901"), 2,
         "--timeout 901 is outside what Lambda allows: 1-900 whole seconds"),
    Case("memory-out-of-bounds", "an invoke memory size Lambda does not allow",
         ("invoke", "{w}/function.zip", "--handler", "app.handler", "--event", "{w}/event.json",
          *T, "--memory", "64"), 2, "--memory 64 is outside what Lambda allows: 128-10240 MB"),
    Case("env-not-pair", "--env without =",
         ("function", *T, "--src", "{w}/src", "-r", "{w}/empty.txt", "-o", "{w}/dist",
          "--env", "s3cr3t-token"), 2, "an --env is not NAME=VALUE (it has no =)"),
    Case("env-reserved", "--env of a variable Lambda sets itself",
         ("function", *T, "--src", "{w}/src", "-r", "{w}/empty.txt", "-o", "{w}/dist",
          "--env", "AWS_REGION=eu-west-1"), 2,
         "AWS_REGION is set by Lambda itself: a function's configuration may not set it"),
    Case("env-bad-name", "--env of a name Lambda refuses",
         ("invoke", "{w}/function.zip", "--handler", "app.handler", "--event", "{w}/event.json",
          *T, "--env", "1ST=x"), 2,
         "'1ST' is not a name Lambda accepts for an environment variable"),
    Case("env-over-4kb", "environment variables over Lambda's 4 KB",
         ("function", *T, "--src", "{w}/src", "-r", "{w}/empty.txt", "-o", "{w}/dist",
          "--env-file", "{w}/big.env"), 2,
         "the function's environment variables take 4,111 bytes, over the 4,096 bytes Lambda "
         "allows (the largest: BLOB)"),
    Case("env-file-missing", "an --env-file that does not exist",
         ("probe", "{w}/function.zip", *T, "--env-file", "{w}/none.env"), 2,
         "--env-file {w}/none.env is not a file"),
    Case("env-file-bare-name", "an --env-file line with a name and no value",
         ("function", *T, "--src", "{w}/src", "-r", "{w}/empty.txt", "-o", "{w}/dist",
          "--env-file", "{w}/bare.env"), 2, "--env-file {w}/bare.env: line 2 has no ="),
    Case("env-file-unreadable-line", "an --env-file line that is not NAME=VALUE",
         ("invoke", "{w}/function.zip", "--handler", "app.handler", "--event", "{w}/event.json",
          *T, "--env-file", "{w}/broken.env"), 2,
         "--env-file {w}/broken.env: line 3 is not NAME=VALUE"),
    Case("event-too-large", "an event over Lambda's 6 MB synchronous payload",
         ("invoke", "{w}/function.zip", "--handler", "app.handler", "--event", "{w}/big.json",
          *T), 2, "RequestEntityTooLarge: the event {w}/big.json is 7,340,044 bytes"),
    Case("storage-out-of-bounds", "invoke ephemeral storage Lambda does not allow",
         ("invoke", "{w}/function.zip", "--handler", "app.handler", "--event", "{w}/event.json",
          *T, "--ephemeral-storage", "256"), 2,
         "--ephemeral-storage 256 is outside what Lambda allows: 512-10240 MB"),
    Case("six-layers", "a function with more layers than Lambda allows",
         ("function", *T, "--src", "{w}/src", "-r", "{w}/empty.txt", "-o", "{w}/dist",
          *(a for n in range(6) for a in ("--layer", f"{{w}}/layer{n}.zip"))), 2,
         "6 layers: a Lambda function may use at most 5"),
    Case("layer-twice", "a function with the same layer twice",
         ("function", *T, "--src", "{w}/src", "-r", "{w}/empty.txt", "-o", "{w}/dist",
          "--layer", "{w}/layer.zip", "--layer", "{w}/layer0.zip"), 2,
         "--layer {w}/layer0.zip is the same layer as {w}/layer.zip"),
    Case("layer-not-a-layer", "a function zip given as --layer",
         ("function", *T, "--src", "{w}/src", "-r", "{w}/empty.txt", "-o", "{w}/dist",
          "--layer", "{w}/function.zip"), 2,
         "--layer {w}/function.zip is not a layer (its files are not under python/, lib/ or "
         "bin/)"),
    Case("layer-other-python", "a layer built for another Python",
         ("function", *T, "--src", "{w}/src", "-r", "{w}/empty.txt", "-o", "{w}/dist",
          "--layer", "{w}/elf313.zip"), 2,
         "--layer {w}/elf313.zip does not fit python3.11-x86_64: error: "
         "python/_m.cpython-313-x86_64-linux-gnu.so"),
    Case("src-secrets", "--src holding a .env file",
         ("function", *T, "--src", "{w}/secrets", "-r", "{lock}", "-o", "{w}/dist"), 2,
         "--src {w}/secrets holds files that typically hold secrets: .env"),
    Case("src-link-out", "--src with a link out of it",
         ("function", *T, "--src", "{w}/linked", "-r", "{lock}", "-o", "{w}/dist"), 2,
         "is a link to {w}/src, outside --src"),
    Case("src-root", "--src /",
         ("function", *T, "--src", "/", "-r", "{lock}", "-o", "{w}/dist"), 2,
         "--src / is the whole file system"),
    Case("name-too-long", "an output name too long for a file name",
         ("layer", *T, "-o", "{w}/dist", "-r", "{lock}", "--name", "n" * 250), 2,
         "is too long for a file name"),
    Case("missing-requirements", "requirements that do not exist",
         (*LAYER, "-r", "{w}/nope.txt"), 2, "requirements file {w}/nope.txt does not exist"),
    Case("empty-requirements", "empty requirements (comments only)",
         (*LAYER, "-r", "{w}/empty.txt"), 2, "lists nothing to install"),
    Case("requirements-directory", "requirements that are a directory",
         (*LAYER, "-r", "{w}/src"), 2, "is a directory"),
    Case("requirements-binary", "requirements that are not text",
         (*LAYER, "-r", "{w}/binary.txt"), 2, "is not UTF-8 text"),
    Case("malformed-requirement", "a malformed requirement line",
         (*LAYER, "-r", "{w}/malformed.txt"), 2,
         "{w}/malformed.txt:2: 'pydantic=>2' is not a valid requirement"),
    Case("requirement-option", "an option line in the requirements",
         (*LAYER, "-r", "{w}/option.txt"), 2, "the option '--index-url' is not supported here"),
    Case("unhashed", "requirements without hashes",
         (*LAYER, "-r", "{w}/unhashed.txt"), 2,
         "1 requirement(s) without --hash (pydantic==2.14.3): unverified downloads are refused"),
    Case("src-missing", "--src that does not exist",
         ("function", *T, "--src", "{w}/nowhere", "-r", "{lock}"), 2,
         "--src {w}/nowhere is not a directory"),
    Case("handler-module-missing", "--src without the handler's module",
         ("function", *T, "--src", "{w}/src", "--handler", "main.handler", "-r", "{lock}"), 2,
         "--src {w}/src has no module 'main' for --handler main.handler"),
    Case("handler-malformed", "a handler that is not MODULE.FUNCTION",
         ("function", *T, "--src", "{w}/src", "--handler", "app", "-r", "{lock}"), 2,
         "--handler 'app' is not MODULE.FUNCTION"),
    Case("smoke-without-handler", "--smoke-event without --handler",
         ("function", *T, "--src", "{w}/src", "--smoke-event", "{w}/event.json", "-r", "{lock}"),
         2, "--smoke-event needs --handler"),
    Case("event-not-json", "an event that is not JSON",
         ("invoke", "{w}/function.zip", "--handler", "app.handler", "--event", "{w}/bad.json",
          *T), 2, "the event {w}/bad.json is not JSON"),
    Case("verify-zip-missing", "verify with a zip that does not exist",
         ("verify", "{w}/none.zip"), 2, "{w}/none.zip does not exist"),
    Case("verify-no-manifest", "verify of a zip without its manifest",
         ("verify", "{w}/layer.zip"), 2, "no readable manifest {w}/layer.manifest.json"),
    Case("invoke-zip-missing", "invoke with a zip that does not exist",
         ("invoke", "{w}/none.zip", "--handler", "app.handler", "--event", "{w}/event.json", *T),
         2, "{w}/none.zip does not exist"),
    Case("invoke-no-target", "invoke with no target and no manifest",
         ("invoke", "{w}/function.zip", "--handler", "app.handler", "--event", "{w}/event.json"),
         2, "no --arch/--python, and no readable manifest"),
    Case("bad-name", "an output name that is a path", (*LAYER, "-r", "{lock}", "--name", "../x"),
         2, "--name '../x' is not a plain file name"),
    Case("bad-epoch", "SOURCE_DATE_EPOCH that is not a number", (*LAYER, "-r", "{lock}"), 2,
         "SOURCE_DATE_EPOCH='yesterday' is not a whole number of seconds",
         env={"SOURCE_DATE_EPOCH": "yesterday"}),
    Case("bad-tmpfs", "LAMBDAZIP_TMPFS_MB that is not a number of megabytes",
         (*LAYER, "-r", "{lock}"), 2, "LAMBDAZIP_TMPFS_MB='-1' is not a whole number of megabytes",
         env={"LAMBDAZIP_TMPFS_MB": "-1"}),
    Case("ca-bundle-missing", "a CA bundle that does not exist",
         (*LAYER, "-r", "{lock}", "--ca-bundle", "{w}/none.pem"), 2,
         "--ca-bundle {w}/none.pem is not a file"),
    Case("matrix-base-image", "a matrix base image without its target",
         ("matrix", "-r", "{lock}", "--base-image", "someimage"), 2,
         "--base-image 'someimage' is not PY/ARCH=IMAGE"),
    Case("output-is-a-file", "an output directory under a file",
         ("layer", *T, "-r", "{lock}", "-o", "{w}/event.json/dist"), 5,
         "cannot create the output directory {w}/event.json/dist: {w}/event.json is not a "
         "directory"),
    Case("check-missing", "check: a path that does not exist",
         ("check", "{w}/none.zip", *T), 4, "{w}/none.zip does not exist"),
    Case("check-not-zip", "check: a file that is not a zip",
         ("check", "{w}/event.json", *T), 3, "1 error(s)"),
    Case("check-truncated", "check: a truncated zip", ("check", "{w}/truncated.zip", *T), 3,
         "1 error(s)"),
    Case("check-encrypted", "check: an encrypted member", ("check", "{w}/encrypted.zip", *T), 3,
         "1 error(s)"),
    Case("check-truncated-elf", "check: a truncated ELF", ("check", "{w}/elf.zip", *T), 3,
         "1 error(s)"),
    Case("check-over-limits", "check: an artifact over Lambda's unzipped limit",
         ("check", "{w}/big.zip", *T), 3, "1 error(s)"),
    Case("publish-no-manifest", "publish: a zip without its manifest",
         ("publish", "{w}/layer.zip", "--layer-name", "x"), 2, "no manifest layer.manifest.json"),
    Case("aws-answers-html", "an AWS endpoint that answers a page of HTML (a broken proxy)",
         ("check", "--function", "orders"), 15,
         "AWS refused to show function orders: 502: Bad Gateway", context="html_endpoint"),
    Case("aws-answers-html-200", "an AWS endpoint that answers a page of HTML with 200",
         ("check", "--function", "orders"), 15,
         "the answer for function orders has no Configuration: it is not AWS Lambda's",
         context="html_ok_endpoint"),
    Case("image-bad-push", "image: a malformed --push reference",
         ("image", *T, "-o", "{w}/dist", "-r", "{lock}", "--src", "{w}/src", "--handler",
          "app.handler", "--push", "Registry.example/UPPER:tag"), 2,
         "invalid image reference 'Registry.example/UPPER:tag': a repository name must be "
         "lowercase"),
    Case("image-with-layer", "image: --layer (an image has no layers)",
         ("image", *T, "-o", "{w}/dist", "-r", "{lock}", "--src", "{w}/src", "--handler",
          "app.handler", "--layer", "{w}/layer.zip"), 2,
         "an image has no layers: --layer goes with `function`"),
    Case("image-no-handler", "image without --handler", ("image", *T, "--src", "{w}/src"), 2,
         "the following arguments are required: --handler"),
    Case("invoke-zip-and-image", "invoke: a zip and --image",
         ("invoke", "{w}/layer.zip", "--image", "x:1", "--event", "{w}/event.json"), 2,
         "invoke runs a function zip or an --image, one of the two"),
    Case("check-image-and-path", "check: a path and --image",
         ("check", "{w}/layer.zip", "--image", "x:1"), 2,
         "check takes one of: a path, --function, --layer-arn, --image"),
    Case("check-image-no-layout", "check --image of an OCI layout that is not one",
         ("check", "--image", "oci-archive:{w}/event.json"), 4,
         "is not a directory or a tar of an OCI image layout"),
    Case("verify-image-no-record", "verify: an image record that is not one",
         ("verify", "{w}/broken.image.json"), 2, "is not a readable image record"),
    Case("engine-unreachable", "an unreachable engine", (*LAYER, "-r", "{lock}"), 6,
         "cannot reach the Docker engine at DOCKER_HOST=tcp://127.0.0.1:9",
         env={"DOCKER_HOST": "tcp://127.0.0.1:9"}, engine=True),
    Case("engine-too-old", "an engine too old (API 1.30)", (*LAYER, "-r", "{lock}"), 6,
         "the Docker engine speaks API 1.30, older than 1.41", engine=True, context="old_engine"),
    Case("base-image-absent", "a base image that is absent and cannot be pulled",
         (*LAYER, "-r", "{lock}", "--base-image", "lambdazip-absent.invalid/x:1"), 7,
         "lambdazip-absent.invalid/x:1 is not on this engine and cannot be pulled", engine=True),
    Case("base-image-wrong-arch", "a base image of the wrong architecture",
         ("layer", "--arch", "arm64", "--python", "3.11", "-o", "{w}/dist", "-r", "{lock}",
          "--base-image", "{x86}"), 7, "{x86} is an image for linux/amd64", engine=True),
    Case("no-emulation", "arm64 with no emulation on an x86_64 engine",
         ("layer", "--arch", "arm64", "--python", "3.11", "-o", "{w}/dist", "-r", "{lock}",
          "--base-image", "{arm64}", "--force"), 6,
         "the Docker engine cannot run linux/arm64 containers", engine=True,
         context="no_emulation"),
    Case("no-such-package", "a package that does not exist",
         (*LAYER, "-r", "{w}/nonexistent.txt", "--allow-unhashed", "--base-image", "{x86}"), 9,
         "no package lambdazip-no-such-package on the index", engine=True),
    Case("sdist-only", "a package with only an sdist",
         (*LAYER, "-r", "{w}/sdist.txt", "--allow-unhashed", "--base-image", "{x86}"), 9,
         "no wheel of docopt==0.6.2 for python3.11 on x86_64", engine=True),
    Case("index-unreachable", "an index that cannot be reached",
         (*LAYER, "-r", "{lock}", "--base-image", "{x86}", "--no-cache"), 9,
         "could not reach 127.0.0.1: Connection refused", engine=True,
         env={"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0"}),
    Case("hash-mismatch", "a hash mismatch",
         (*LAYER, "-r", "{w}/mismatch.txt", "--base-image", "{x86}"), 9,
         "a downloaded file does not match the hash in the requirements", engine=True),
    Case("handler-import-error", "a handler that does not import",
         ("invoke", "{w}/broken.zip", "--handler", "broken.handler", "--event", "{w}/event.json",
          *T, "--base-image", "{x86}"), 10,
         "broken.handler failed: Runtime.ImportModuleError: Unable to import module 'broken'",
         engine=True),
    Case("invoke-image-other-python", "invoke --image of an image of another Python",
         ("invoke", "--image", "{x86}", "--handler", "app.handler", "--event", "{w}/event.json",
          "--python", "3.13"), 2, "{x86} runs python3.11, not --python 3.13", engine=True),
    Case("cache-file-directory", "a cache file to import that is a directory",
         ("cache", "import", "{w}/src", *T, "--base-image", "{x86}"), 4,
         "{w}/src is not a file", engine=True),
    Case("full-disk", "a full disk under the output directory",
         ("layer", *T, "-o", "{w}/full", "-r", "{lock}", "--base-image", "{x86}", "--force"), 5,
         "No space left on device", engine=True, context="full_disk"),
]  # fmt: skip


def make_workspace(w: Path) -> None:
    """Every file the cases name, made small and on the spot."""
    (w / "src").mkdir(parents=True)
    (w / "src" / "app.py").write_text("def handler(event, context):\n    return event\n")
    (w / "broken.image.json").write_text('{"tag": "x"}')
    (w / "event.json").write_text('{"ok": true}\n')
    (w / "secrets").mkdir()
    (w / "secrets" / "app.py").write_text("def handler(event, context):\n    return event\n")
    (w / "secrets" / ".env").write_text("API_KEY=x\n")
    (w / "linked").mkdir()
    (w / "linked" / "app.py").write_text("")
    (w / "linked" / "shared").symlink_to(w / "src", target_is_directory=True)
    (w / "bad.json").write_text("{not json\n")
    (w / "empty.txt").write_text("# nothing yet\n\n")
    (w / "binary.txt").write_bytes(b"\xff\xfe\x00pydantic")
    (w / "malformed.txt").write_text("# pinned\npydantic=>2\n")
    (w / "option.txt").write_text("--index-url https://index.invalid/simple\npydantic\n")
    (w / "unhashed.txt").write_text("pydantic==2.14.3\n")
    (w / "nonexistent.txt").write_text("lambdazip-no-such-package==1.0\n")
    (w / "sdist.txt").write_text("docopt==0.6.2\n")
    (w / "mismatch.txt").write_text(f"typing-extensions==4.16.0 --hash=sha256:{'0' * 64}\n")
    with zipfile.ZipFile(w / "layer.zip", "w") as archive:
        archive.writestr("python/mod.py", "X = 1\n")
    with zipfile.ZipFile(w / "function.zip", "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    with zipfile.ZipFile(w / "broken.zip", "w") as archive:
        archive.writestr("broken.py", "import not_installed_anywhere\n")
    data = (w / "function.zip").read_bytes()
    (w / "truncated.zip").write_bytes(data[: len(data) // 2])
    encrypted = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        encrypted[encrypted.find(signature) + offset] |= 0x01
    (w / "encrypted.zip").write_bytes(bytes(encrypted))
    with zipfile.ZipFile(w / "elf.zip", "w") as archive:
        archive.writestr(
            "python/_m.cpython-311-x86_64-linux-gnu.so", b"\x7fELF\x02\x01\x01" + bytes(40)
        )
    blob = zipfile.ZipInfo("python/blob.bin")
    blob.compress_type = zipfile.ZIP_DEFLATED
    with (
        zipfile.ZipFile(w / "big.zip", "w") as archive,
        archive.open(blob, "w", force_zip64=True) as out,
    ):
        chunk = bytes(1024 * 1024)
        for _ in range(251):
            out.write(chunk)
    (w / "full").mkdir()
    (w / "big.env").write_text("# 4 KB at most\nBLOB=" + "x" * 4100 + "\n")
    (w / "bare.env").write_text("export TABLE_NAME='orders'\nDEBUG\n")
    (w / "broken.env").write_text("# ok\nA=1\nthe s3cr3t = token = x\n")
    (w / "big.json").write_text('{"blob": "' + "x" * (7 * 1024 * 1024) + '"}')
    (w / "layer0.zip").write_bytes((w / "layer.zip").read_bytes())
    for n in range(1, 6):
        with zipfile.ZipFile(w / f"layer{n}.zip", "w") as archive:
            archive.writestr("python/mod.py", f"X = {n}\n")
    with zipfile.ZipFile(w / "elf313.zip", "w") as archive:
        archive.writestr(
            "python/_m.cpython-313-x86_64-linux-gnu.so", b"\x7fELF\x02\x01\x01" + bytes(40)
        )


# -- scenes -----------------------------------------------------------------------------------


@contextmanager
def old_engine(w: Path) -> Iterator[dict[str, str]]:
    """An HTTP endpoint on loopback that answers like a Docker Engine of API 1.30."""

    class Old(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the http.server interface
            body = b'{"ApiVersion": "1.30", "Version": "17.06.0-ce", "Os": "linux"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Old)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {"DOCKER_HOST": f"tcp://127.0.0.1:{server.server_address[1]}"}
    finally:
        server.shutdown()
        server.server_close()


def html_endpoint(w: Path) -> AbstractContextManager[dict[str, str]]:
    """An AWS endpoint on loopback that answers every call as a broken proxy does: 502 and a page
    of HTML over many lines (AWS_ENDPOINT_URL; no retries)."""
    return _page_endpoint(502)


def html_ok_endpoint(w: Path) -> AbstractContextManager[dict[str, str]]:
    """The same page with 200 (a captive portal, a misconfigured endpoint): boto3 parses it as
    an answer without any of the fields asked for."""
    return _page_endpoint(200)


@contextmanager
def _page_endpoint(status: int) -> Iterator[dict[str, str]]:

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            body = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center>"
            body += (
                b"<h1>502 Bad Gateway</h1></center>\n<hr><center>proxy</center>\n</body>\n</html>\n"
            )
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = answer  # the http.server interface

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    scene = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard",
    }  # fmt: skip
    saved = {k: os.environ.get(k) for k in scene}
    os.environ.update(scene)  # (boto3 reads the process's environment, not the one main() gets)
    try:
        yield scene
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.shutdown()
        server.server_close()


@contextmanager
def no_emulation(w: Path) -> Iterator[dict[str, str]]:
    """qemu-aarch64 switched off in binfmt_misc for the time of the case (root, x86_64 only)."""
    entry = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if os.uname().machine == "aarch64" or not entry.exists():
        raise RuntimeError("needs an x86_64 host with qemu-aarch64 registered (tests/setup.sh)")
    entry.write_text("0")
    try:
        yield {}
    finally:
        entry.write_text("1")


@contextmanager
def full_disk(w: Path) -> Iterator[dict[str, str]]:
    """A 64 KiB tmpfs as the output directory (root)."""
    target = w / "full"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(target)], check=True)
    try:
        yield {}
    finally:
        subprocess.run(["umount", str(target)], check=True)


SCENES = {"old_engine": old_engine, "no_emulation": no_emulation, "full_disk": full_disk,
          "html_endpoint": html_endpoint, "html_ok_endpoint": html_ok_endpoint}  # fmt: skip


def markdown() -> str:
    out = io.StringIO()
    out.write("# Bad inputs and what they say\n\n")
    out.write("Every row is a test (tests/test_bad_inputs.py): the command exits with the code\n")
    out.write(
        "shown and prints one `error:` line, which says what failed and what to do; never a\n"
    )
    out.write("traceback. Generated by `python -m tests.bad_inputs` (from this catalogue and\n")
    out.write("`lambdazip/errors.py`; `python -m tests.docs` writes every generated page).\n\n")
    out.write("## Exit codes\n\n")
    out.write(exit_code_table())
    out.write("\n## Bad inputs\n\n")
    out.write("| # | bad input | command | exit | the error line says |\n|---|---|---|---|---|\n")
    for number, case in enumerate(CASES, 1):
        command = " ".join(("build.py", *case.argv)).replace("|", "\\|")
        env = " ".join(f"{k}={v}" for k, v in case.env.items())
        command = f"{env} {command}" if env else command
        out.write(f"| {number} | {case.what} | `{command}` | {case.code} | {case.error} |\n")
    return out.getvalue()


RULES_START = "<!-- rules: generated from lambdazip/judge/rules.py -->\n"
RULES_END = "<!-- end of rules -->\n"


def replace_block(text: str, start_marker: str, end_marker: str, block: str) -> str:
    before, start, rest = text.partition(start_marker)
    _old, end, after = rest.partition(end_marker)
    assert start, f"no marker {start_marker.strip()}"
    assert end, f"no marker {end_marker.strip()}"
    return before + start + block + end + after


def check_page_with_rules(page: str) -> str:
    """docs/check.md with its rules table replaced by the one rules.py gives."""
    return replace_block(page, RULES_START, RULES_END, rules_table())


if __name__ == "__main__":
    from tests.docs import write_generated

    write_generated()
