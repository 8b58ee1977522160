"""The manifest written beside a function image (`lambdazip image`): what the image is (its ID,
its manifest digest, every layer's digest), what it was made from (the base by ID and where its
layers came from, the checked function zip and its own manifest: distributions, inputs, the probe
in the base image) and what the probe in the image itself found. Equal cache keys, equal image."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from lambdazip.judge.findings import Finding
from lambdazip.judge.probe import ProbeFacts
from lambdazip.outputs.report import BaseImageModel, Manifest, SourceModel, TargetModel


class LayerModel(BaseModel):
    model_config = ConfigDict(frozen=True)

    media_type: str
    digest: str  # of the compressed blob: what the manifest names
    size: int
    diff_id: str | None = None  # of the uncompressed tar: what the config names (ours, known)


class AddedLayerModel(LayerModel):
    """A layer the build put over the base: the dependencies' or the function's own code."""

    what: str  # what made it: the history entry's created_by
    diff_id: str
    tar_size: int
    files: int


class ImageRecord(BaseModel):
    """Written beside every image as NAME-python3.X-ARCH.image.json."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    tool: str
    kind: Literal["image"] = "image"
    tag: str  # the engine's name for it
    target: TargetModel
    platform: str  # linux/amd64, linux/arm64
    image_id: str  # the config's digest: the engine's image ID
    manifest_digest: str  # what a registry names it by, the same from every host
    manifest_media_type: str
    cmd: list[str]
    uncompressed_size: int  # the base's layers and the function's, unpacked (Lambda: 10 GB)
    cache_key: str
    base_image: BaseImageModel
    base_layers: list[LayerModel]
    base_layers_from: str  # "registry REGISTRY/REPOSITORY@DIGEST" or "compressed here"
    layers: list[AddedLayerModel]  # over the base's: the dependencies', then the code's
    epoch: int  # SOURCE_DATE_EPOCH: every time in the layers and the config
    dependencies: Manifest | None  # the manifest of the dependencies' zip (None: there are none)
    src: str | None = None  # the --src they were selected from, as given
    code: list[SourceModel]  # the function's own files at /var/task
    probe: ProbeFacts  # the probe in the image, as Lambda's user on a read-only root
    findings: list[Finding]  # the image's: the code's static check and the probe's
