"""The credentials a user already has for a registry: docker's config (``DOCKER_CONFIG`` or
``~/.docker/config.json``), read with the Docker SDK's own code, which also runs the credential
helpers it names (``credsStore``, ``credHelpers``); for an Amazon ECR host that config says nothing
about, a login through boto3 (``ecr:GetAuthorizationToken``). This module reads files and runs
helpers; it never talks to the engine. Secrets stay out of every repr and message.
"""

from __future__ import annotations

import base64
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdazip.errors import RegistryError
from lambdazip.oci.reference import DOCKER_HUB

_ECR_HOST = re.compile(r"\d{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")


@dataclass(frozen=True)
class Credentials:
    """A login for one registry. ``source`` (where it came from) is for messages; the secrets
    are kept out of repr so no log or traceback can show them."""

    source: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)  # an OAuth2 refresh token


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def login_tip(registry: str) -> str:
    """How a user logs in to ``registry`` (as written in a reference)."""
    region = ecr_region(registry)
    if region:
        return (
            f"configure AWS credentials that may use ECR in {region}, or run "
            f"`aws ecr get-login-password --region {region} | docker login --username AWS "
            f"--password-stdin {registry}`"
        )
    return "run `docker login`" if registry == DOCKER_HUB else f"run `docker login {registry}`"


# -- credentials ---------------------------------------------------------------------------------


def docker_config_path(env: Mapping[str, str]) -> Path:
    """docker's config file: $DOCKER_CONFIG/config.json, else ~/.docker/config.json."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]) / "config.json"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".docker" / "config.json"


def docker_credentials(registry: str, env: Mapping[str, str]) -> Credentials | None:
    """What docker's config holds for ``registry`` (an ``auths`` entry, or a credential helper
    it names, run with ``env``), read by the Docker SDK exactly as docker-py would send it."""
    path = docker_config_path(env)
    if not path.is_file():  # the SDK would then look elsewhere, in os.environ: not our env
        return None
    import docker.auth
    import docker.errors

    try:
        with warnings.catch_warnings():  # a helper missing from PATH: its error says it below
            warnings.simplefilter("ignore")
            config = docker.auth.load_config(config_path=str(path), credstore_env=dict(env))
            found = docker.auth.resolve_authconfig(config, registry, credstore_env=dict(env))
    except (docker.errors.DockerException, ValueError, OSError) as exc:
        raise RegistryError(
            f"cannot read the credentials for {registry} from docker's config {path}: "
            f"{one_line(str(exc))}",
            tip=f"check {path} and the credential helper it names, or {login_tip(registry)}",
        ) from None
    if not found:
        return None
    store = config.get_credential_store(registry)
    source = f"docker's credential helper docker-credential-{store}" if store else f"{path}"
    username = found.get("username") or found.get("Username")
    password = found.get("password") or found.get("Password")
    token = found.get("IdentityToken")
    if not (password or token):
        return None
    return Credentials(source, username, password, token)


def ecr_region(registry: str) -> str | None:
    """The AWS region of an Amazon ECR private registry host, None for any other host."""
    match = _ECR_HOST.fullmatch(registry.lower())
    return match.group(1) if match else None


def ecr_credentials(registry: str, region: str, client: Any = None) -> Credentials:
    """A login for an ECR registry from ``ecr:GetAuthorizationToken`` (boto3's usual chain of
    credentials; ``client`` is an ``ecr`` client, made here if not given). The token is
    base64 ``AWS:password`` and lasts twelve hours: longer than any push."""
    import boto3  # imported here: only an ECR login pays for it
    from botocore.exceptions import BotoCoreError, ClientError

    tip = login_tip(registry)
    try:
        if client is None:
            client = boto3.session.Session(region_name=region).client("ecr")
        answer = client.get_authorization_token()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise RegistryError(
            f"AWS refused an ECR login for {registry}: {error.get('Code', 'Error')}: "
            f"{one_line(error.get('Message', ''))}",
            tip=f"the credentials need ecr:GetAuthorizationToken; or {tip}",
        ) from None
    except BotoCoreError as exc:
        raise RegistryError(f"no ECR login for {registry}: {one_line(str(exc))}", tip=tip) from None
    try:
        token = answer["authorizationData"][0]["authorizationToken"]
        username, _, password = base64.b64decode(token).decode().partition(":")
    except (KeyError, IndexError, TypeError, ValueError):
        raise RegistryError(
            f"AWS answered an ECR login for {registry} with no token we can read", tip=tip
        ) from None
    if not password:
        raise RegistryError(f"AWS answered an ECR login for {registry} with an empty token")
    return Credentials(f"an ECR login (boto3, {region})", username, password)


def find_credentials(registry: str, env: Mapping[str, str]) -> Credentials | None:
    """docker's config first (what ``docker push`` would use); then, for ECR, boto3."""
    found = docker_credentials(registry, env)
    if found is None and (region := ecr_region(registry)):
        found = ecr_credentials(registry, region)
    return found


# -- the client ----------------------------------------------------------------------------------
