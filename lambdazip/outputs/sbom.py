"""The SBOM beside every artifact: CycloneDX 1.6 JSON, made by cyclonedx-python-lib from the
manifest alone (a pure function: the same manifest, the same bytes).

What it lists: the artifact (its sha256) as the subject; every distribution in it (name, version,
purl, the sha256 of the wheel file it was installed from, the license its metadata states); the
base image as a container component (its ID and registry digest); lambdazip and the installer as
the tools. The serial number is derived from the artifact's sha256 and the timestamp is the
build's SOURCE_DATE_EPOCH, so a rebuild that reproduces the zip reproduces its SBOM.
"""

from __future__ import annotations

import datetime as dt
import uuid
import warnings
from typing import TYPE_CHECKING

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from lambdazip.targets import Kind

if TYPE_CHECKING:
    from lambdazip.outputs.report import Manifest

_NAMESPACE = uuid.UUID("6f1e7c7e-0d6a-4c5e-9a53-2a4f1c1f7a10")  # lambdazip's, for uuid5


def _sha256(hexdigest: str) -> HashType:
    return HashType(alg=HashAlgorithm.SHA_256, content=hexdigest.removeprefix("sha256:"))


def _tool(text: str) -> Component:
    """ "uv 0.13.9" or "pip 25.1" as a tool component."""
    name, _, version = text.partition(" ")
    return Component(type=ComponentType.APPLICATION, name=name, version=version or None)


def sbom_json(manifest: Manifest) -> str:
    """The CycloneDX 1.6 document of ``manifest``'s artifact, as JSON text."""
    epoch = manifest.inputs.epoch if manifest.inputs is not None else 315532800
    bom = Bom(serial_number=uuid.uuid5(_NAMESPACE, manifest.sha256))
    bom.metadata.timestamp = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)
    bom.metadata.tools.components.add(_tool(manifest.tool))
    bom.metadata.tools.components.add(_tool(manifest.installer))
    subject = Component(
        type=ComponentType.APPLICATION if manifest.kind is Kind.FUNCTION else ComponentType.LIBRARY,
        name=manifest.artifact,
        bom_ref=f"artifact:{manifest.artifact}",
        hashes=[_sha256(manifest.sha256)],
        description=f"AWS Lambda {manifest.kind.value} for {manifest.target.runtime} on "
        f"{manifest.target.arch}",
        properties=[
            Property(name="lambdazip:runtime", value=manifest.target.runtime),
            Property(name="lambdazip:architecture", value=manifest.target.arch),
            Property(name="lambdazip:unzipped-size", value=str(manifest.unzipped_size)),
        ],
    )
    bom.metadata.component = subject
    image = manifest.base_image
    digest = next((d.split("@", 1)[1] for d in image.repo_digests if "@" in d), None)
    repository = image.reference.split("@", 1)[0].rsplit(":", 1)[0] if image.reference else ""
    base = Component(
        type=ComponentType.CONTAINER,
        name=image.reference or image.id,
        version=digest or image.id,
        bom_ref=f"image:{image.id}",
        hashes=[_sha256(image.id)],
        purl=PackageURL(
            type="oci",
            name=repository.rsplit("/", 1)[-1] or "image",
            version=digest or image.id,
            qualifiers={"repository_url": repository} if "/" in repository else None,
        ),
        description="the image the artifact was built, compiled and probed in",
        properties=[Property(name="lambdazip:architecture", value=image.architecture)],
    )
    bom.components.add(base)
    licenses = LicenseFactory()
    installed = []
    for dist in manifest.distributions:
        qualifiers = {"file_name": dist.wheel} if dist.wheel else None
        component = Component(
            type=ComponentType.LIBRARY,
            name=dist.name,
            version=dist.version,
            bom_ref=f"pypi:{dist.name}@{dist.version}",
            purl=PackageURL(
                type="pypi", name=dist.name, version=dist.version, qualifiers=qualifiers
            ),
            hashes=[_sha256(dist.wheel_sha256)] if dist.wheel_sha256 else [],
            licenses=[licenses.make_from_string(dist.license)] if dist.license else [],
            properties=[Property(name="lambdazip:location", value=dist.location or "/")],
        )
        bom.components.add(component)
        installed.append(component)
    bom.register_dependency(subject, installed)
    with warnings.catch_warnings():
        # code alone (every dependency in its layers) has no dependencies: the graph is complete
        warnings.filterwarnings("ignore", "The Component this BOM is describing", UserWarning)
        return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"
