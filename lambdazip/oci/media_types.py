"""The media types of images, one table for every module that reads or writes them: what each
names, and, for a layer, the compression its blob has. Lambda takes one image manifest (Docker v2
schema 2 or OCI), never an index; its layers tar or tar+gzip."""

from __future__ import annotations

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"

INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
IMAGE_MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)  # the single-platform ones Lambda takes
ALL_MANIFEST_TYPES = INDEX_TYPES + IMAGE_MANIFEST_TYPES
CONFIG_TYPES = (DOCKER_CONFIG, OCI_CONFIG)
# the layers Lambda takes, and the compression each says its blob has
LAYER_TYPES = {
    DOCKER_LAYER_GZIP: "gzip",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_TAR: "tar",
    DOCKER_LAYER_TAR: "tar",
}
GZIP_LAYERS = (DOCKER_LAYER_GZIP, OCI_LAYER_GZIP)

# the shared artifact cache's sets (oci/artifact_cache.py): an OCI 1.1 artifact whose layers are
# the set's files, with the empty config the spec names for artifacts
ARTIFACT_SET = "application/vnd.lambdazip.artifact-set.v1"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
ZIP = "application/zip"
LAMBDAZIP_MANIFEST = "application/vnd.lambdazip.manifest.v1+json"
CYCLONEDX = "application/vnd.cyclonedx+json"
