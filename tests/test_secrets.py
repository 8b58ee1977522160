"""An index URL with credentials works inside the container, and the token appears nowhere we
leave things: not in the logs (redacted), the manifest, the artifact, or the build image's layers.

The index is the real one, reached with credentials in its URL (it ignores them); its address is
taken from pip at run time."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from pip._internal.models.index import PyPI

from lambdazip.build.engine import Engine
from lambdazip.cli import main
from tests.conftest import host_env
from tests.wheels import REPO

pytestmark = [pytest.mark.integration, pytest.mark.network]
TOKEN = "lz-token-5f1e0c9a7b2d4e6f"


def _contains(chunks: object, needle: bytes) -> bool:
    tail = b""
    for chunk in chunks:  # type: ignore[attr-defined]
        if needle in tail + chunk:
            return True
        tail = chunk[-len(needle) :]
    return False


def test_an_index_token_is_used_and_kept_nowhere(
    tmp_path: Path,
    engine: Engine,
    images: dict[tuple[str, str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    index = PyPI.simple_url.replace("https://", f"https://lambdazip:{TOKEN}@", 1)
    argv = ["layer", "--arch", "x86_64", "--python", "3.11", "-o", str(tmp_path), "-v"]
    argv += ["-r", str(REPO / "requirements.txt"), "--base-image", images[("3.11", "x86_64")]]
    code = main([*argv, "--no-cache"], env={**host_env(), "PIP_INDEX_URL": index})
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Resolved" in captured.err  # the installer's own output was shown (-v)...
    assert TOKEN not in captured.out + captured.err  # ...with the token redacted

    built = tmp_path / "layer-python3.11-x86_64.zip"
    assert TOKEN not in built.with_suffix(".manifest.json").read_text()
    raw = built.read_bytes()
    assert TOKEN.encode() not in raw
    with zipfile.ZipFile(built) as archive:
        for name in archive.namelist():
            assert TOKEN.encode() not in archive.read(name), name

    build_images = engine.client.images.list(name="lambdazip-build")
    assert build_images
    for image in build_images:
        assert not _contains(image.save(), TOKEN.encode()), image.tags
