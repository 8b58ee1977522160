"""A small client of the OCI distribution API (registry v2): manifests and blobs, in and out.

The API is a handful of calls, so we speak it ourselves over ``requests`` rather than through the
engine: an image can be read, checked and pushed on a machine whose engine is remote, or absent.
Everything read is verified against its sha256 before anyone uses it, and everything written is
checked against the digest the registry reports.

Credentials are the ones the user already has: docker's config (``DOCKER_CONFIG`` or
``~/.docker/config.json``), read with the Docker SDK's own code, which also runs the credential
helpers it names; for an Amazon ECR host that config says nothing about, a login through boto3
(``ecr:GetAuthorizationToken``). They are looked up at the first 401, so an anonymous pull never
runs a helper, and they never appear in a message. A loopback registry is spoken to in plain
http (as docker does); any other in https.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit

from lambdazip.errors import DamagedBlob, RegistryError
from lambdazip.oci.credentials import Credentials, find_credentials, login_tip, one_line
from lambdazip.oci.reference import DIGEST, Reference
from lambdazip.oci.source import Fetched as Fetched  # the type every image source returns
from lambdazip.oci.source import media_type_of, sha256_digest

if TYPE_CHECKING:
    import requests

from lambdazip.oci.media_types import (
    ALL_MANIFEST_TYPES,
)

CHUNK = 1024 * 1024
MANIFEST_MAX = 4 * 1024 * 1024  # what distribution itself accepts; more is not a manifest
TIMEOUT = (15.0, 300.0)  # (connect, between two reads): a big layer may take long, never silent
SPOOL_IN_MEMORY = 16 * 1024 * 1024  # a blob() bigger than this is spooled to a temporary file
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="..."`` as ("bearer", {"realm": ..., ...})."""
    scheme, _, rest = header.strip().partition(" ")
    found = _CHALLENGE_PARAM.finditer(rest)
    return scheme.lower(), {m[1].lower(): m[2] or m[3] or "" for m in found}


def _registry_errors(response: requests.Response) -> str:
    """The status and the registry's JSON error body (``{"errors": [{"code", "message"}]}``)."""
    try:
        errors = json.loads(response.content)["errors"]
        text = "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}".strip() for e in errors)
    except (ValueError, KeyError, TypeError, AttributeError):
        text = ""
    return one_line(f"{response.status_code} {text or response.reason or ''}".strip())


def _error_codes(response: requests.Response) -> set[str]:
    """The codes of the registry's JSON error body."""
    try:
        return {str(e["code"]) for e in json.loads(response.content)["errors"]}
    except (ValueError, KeyError, TypeError):
        return set()


def _reason(exc: Exception) -> str:
    """A network failure's cause without its URL (an upload's URL may carry a signature)."""
    for pattern in (r"\[Errno -?\d+\] ([^'\")\]]+)", r"\[SSL: [A-Z_]+\] ([^(']+)"):
        match = re.search(pattern, str(exc))
        if match:
            return one_line(match[1].strip().rstrip("."))
    return type(exc).__name__


def _loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1")


class _Body:
    """An upload body of exactly ``size`` bytes (requests sends it with that Content-Length,
    unchunked), hashed on the way: a refused digest is then said to be the caller's data."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream, self.size, self.sent = stream, size, 0
        self.hasher = hashlib.sha256()

    def __len__(self) -> int:
        return self.size

    def read(self, amount: int = -1) -> bytes:
        left = self.size - self.sent
        chunk = self.stream.read(left if amount < 0 else min(amount, left)) if left else b""
        if left and not chunk:  # else the registry would wait for the rest until it timed out
            raise RegistryError(f"the blob to push ended after {self.sent} of {self.size} bytes")
        self.sent += len(chunk)
        self.hasher.update(chunk)
        return chunk


Scopes = tuple[str, ...]


class Registry:
    """One registry host: a session, the tokens it granted (per scope), and the API's calls.

    Each call names the scopes it needs (``repository:NAME:pull``, or ``pull,push``). A 401 is
    met once per request with what its challenge asks: ``Basic``, the login; ``Bearer``, a token
    from the realm it names (anonymous without a login), kept for the next call in those scopes
    and fetched again when the registry stops taking it.
    """

    def __init__(
        self,
        registry: str,
        *,
        host: str | None = None,
        insecure: bool = False,
        credentials: Callable[[], Credentials | None] = lambda: None,
    ) -> None:
        import requests  # imported here, as the engine's SDK is: only registry work pays for it

        self.registry = registry  # as the user writes it, for messages
        self.host = host or registry
        self.base = f"{'http' if insecure else 'https'}://{self.host}"
        self._find_credentials = credentials
        self._credentials: Credentials | None = None
        self._looked_up = False
        self._basic = False
        self._tokens: dict[Scopes, str] = {}
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "lambdazip"

    @classmethod
    def for_reference(cls, ref: Reference, env: Mapping[str, str]) -> Registry:
        """The registry ``ref`` lives in, with the login docker (or, for ECR, boto3) has."""
        return cls(
            ref.registry,
            host=ref.api_host,
            insecure=ref.insecure,
            credentials=lambda: find_credentials(ref.registry, env),
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the auth dance --------------------------------------------------------------------------

    def credentials(self) -> Credentials | None:
        """The login, looked up once, when a registry first asks for one."""
        if not self._looked_up:
            self._credentials, self._looked_up = self._find_credentials(), True
        return self._credentials

    def _basic_auth(self) -> str | None:
        login = self.credentials()
        if login is None or login.password is None:
            return None
        pair = f"{login.username or ''}:{login.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def _send(
        self,
        method: str,
        url: str,
        scopes: Scopes,
        what: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Callable[[], object] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One request, with the auth dance at most once (``body`` makes the data anew)."""
        url = urljoin(self.base + "/", url)

        def attempt() -> requests.Response:
            sent = dict(headers or {})
            token = self._tokens.get(scopes)
            authorization = self._basic_auth() if self._basic else token and f"Bearer {token}"
            if authorization and urlsplit(url).netloc == self.host:  # never to another host
                sent["Authorization"] = authorization
            data = body() if body else None
            return self._call(method, url, what, headers=sent, data=data, stream=stream)

        response = attempt()
        if response.status_code != 401:
            return response
        scheme, params = _challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic" and not self._basic and self._basic_auth() is not None:
            self._basic = True
        elif scheme == "bearer" and params.get("realm"):
            self._tokens[scopes] = self._token(params, scopes, what)
        else:
            return response  # no login, or it was refused: the caller says so
        response.close()
        return attempt()

    def _call(self, method: str, url: str, what: str, **options: Any) -> requests.Response:
        """A request whose network failure is one RegistryError line."""
        import requests

        try:
            return self.session.request(method, url, timeout=TIMEOUT, **options)
        except requests.exceptions.SSLError as exc:
            raise RegistryError(
                f"{what}: the TLS connection to {self.host} failed: {_reason(exc)}",
                tip="check the registry's name and the CA bundle (REQUESTS_CA_BUNDLE)",
                status=0,
            ) from None
        except requests.exceptions.Timeout as exc:
            raise RegistryError(
                f"{what}: {self.host} did not answer in time ({_reason(exc)})",
                tip="check the network and try again",
                status=0,
            ) from None
        except requests.exceptions.RequestException as exc:
            raise RegistryError(
                f"{what}: cannot reach the registry {self.host}: {_reason(exc)}",
                tip="check the registry's name, that it is running, and the network",
                status=0,
            ) from None

    def _token(self, challenge: Mapping[str, str], scopes: Scopes, what: str) -> str:
        """A bearer token for ``scopes`` from the challenge's realm: with the login if there is
        one (docker's OAuth2 refresh for an identity token), else anonymous."""
        realm = challenge["realm"]
        login = self.credentials()
        if (
            login
            and urlsplit(realm).scheme != "https"
            and not _loopback(urlsplit(realm).hostname or "")
        ):
            raise RegistryError(
                f"{what}: {self.registry} asks for its login to be sent without TLS "
                f"(to {urlsplit(realm).hostname}); not sent",
                tip="use the registry over https",
            )
        service = {"service": challenge["service"]} if challenge.get("service") else {}
        if login and login.identity_token:
            form = {**service, "scope": " ".join(scopes), "grant_type": "refresh_token",
                    "client_id": "lambdazip", "refresh_token": login.identity_token}  # fmt: skip
            response = self._call("POST", realm, what, data=form)
        else:
            query = urlencode({**service, "scope": list(scopes)}, doseq=True)
            auth = (login.username or "", login.password) if login and login.password else None
            url = realm + ("&" if urlsplit(realm).query else "?") + query
            response = self._call("GET", url, what, auth=auth)
        if response.status_code in (401, 403):
            said = f"the login from {login.source}" if login else "an anonymous token"
            raise RegistryError(
                f"{what}: {self.registry} refused {said} ({_registry_errors(response)})",
                tip=login_tip(self.registry),
            )
        token = None
        with contextlib.suppress(ValueError, AttributeError):
            answer = response.json()
            token = answer.get("token") or answer.get("access_token")
        if not response.ok or not isinstance(token, str) or not token:
            raise RegistryError(
                f"{what}: the token service of {self.registry} gave no token "
                f"({_registry_errors(response)})",
                tip="try again later",
            )
        return token

    def _failed(
        self, response: requests.Response, what: str, racing: bool = False
    ) -> RegistryError:
        """A refusal as one line: what failed, where, the registry's words, and what to do."""
        status = response.status_code
        detail = _registry_errors(response)
        if status == 401:
            login = self.credentials()
            said = f"the login from {login.source} was refused" if login else "a login is needed"
            tip = f"{login_tip(self.registry)}, and check the repository's name"
            return RegistryError(f"{what}: {said} ({detail})", tip=tip, status=status)
        tip, said = {
            403: ("check the repository's name and that your login may use it", "access denied"),
            404: ("check the repository's name and the tag or digest", "not found"),
            429: (f"wait, or {login_tip(self.registry)} for a higher limit", "too many requests"),
        }.get(status, ("try again later" if status >= 500 else "check the request", "failed"))
        return RegistryError(f"{what}: {said} ({detail})", tip=tip, status=status, racing=racing)

    def _chunks(self, response: requests.Response, what: str) -> Iterator[bytes]:
        import requests

        try:
            yield from response.iter_content(CHUNK)
        except requests.exceptions.RequestException as exc:
            raise RegistryError(
                f"{what}: the download from {self.registry} broke: {_reason(exc)}",
                tip="try again",
            ) from None

    @staticmethod
    def _mismatch(what: str, found: str, expected: str) -> RegistryError:
        return DamagedBlob(
            f"{what}: the bytes received hash to {found}, not {expected}",
            tip="the registry, or something between it and us, changed them; try again",
        )

    # -- the API ---------------------------------------------------------------------------------

    @staticmethod
    def _pull(repository: str) -> Scopes:
        return (f"repository:{repository}:pull",)

    @staticmethod
    def _push(repository: str) -> Scopes:
        return (f"repository:{repository}:pull,push",)

    def get_manifest(
        self, repository: str, reference: str, accept: Sequence[str] = ALL_MANIFEST_TYPES
    ) -> Fetched:
        """The manifest (or index) ``reference`` (a tag or a digest) names, verified: its digest
        is the sha256 of its bytes, and is the reference's, or what the registry says it is."""
        at = "@" if DIGEST.fullmatch(reference) else ":"
        what = f"reading the manifest {self.registry}/{repository}{at}{reference}"
        response = self._send(
            "GET", f"/v2/{repository}/manifests/{reference}", self._pull(repository), what,
            headers={"Accept": ", ".join(accept)}, stream=True,
        )  # fmt: skip
        data = bytearray()
        with response:
            if not response.ok:
                raise self._failed(response, what)
            for chunk in self._chunks(response, what):
                data += chunk
                if len(data) > MANIFEST_MAX:
                    raise RegistryError(f"{what}: larger than {MANIFEST_MAX} bytes")
        digest = sha256_digest(bytes(data))
        claimed = response.headers.get("Docker-Content-Digest")
        expected = reference if DIGEST.fullmatch(reference) else claimed
        if expected and expected != digest:
            raise self._mismatch(what, digest, expected)
        said = response.headers.get("Content-Type", "").partition(";")[0].strip()
        # a registry may say application/json, or nothing: then the document says, or its shape
        media_type = media_type_of(Fetched(said, bytes(data), digest))
        if media_type not in accept:
            raise RegistryError(
                f"{what}: a manifest of type {media_type or '(none)'}, not one of "
                f"{', '.join(accept)}",
                tip="the image is in a format we do not read (Docker schema 1?): push it anew",
            )
        return Fetched(media_type, bytes(data), digest)

    def blob_exists(self, repository: str, digest: str, *, push: bool = False) -> bool:
        """Whether the repository has the blob (HEAD). ``push`` asks in the push scope, whose
        token the push that follows then uses."""
        what = f"looking for the blob {digest} in {self.registry}/{repository}"
        scopes = self._push(repository) if push else self._pull(repository)
        with self._send("HEAD", f"/v2/{repository}/blobs/{digest}", scopes, what) as response:
            if response.status_code == 404:
                return False
            if not response.ok:  # a 5xx: CNCF distribution's, while another push writes it
                raise self._failed(response, what, racing=response.status_code >= 500)
            return True

    def get_blob(
        self, repository: str, digest: str, into: BinaryIO, size: int | None = None
    ) -> int:
        """Stream the blob into ``into``; its size. On a digest mismatch, or more bytes than
        ``size`` (its descriptor's), a DamagedBlob (and what went into ``into`` is garbage:
        write to a temporary file)."""
        what = f"reading the blob {digest} from {self.registry}/{repository}"
        response = self._send(
            "GET", f"/v2/{repository}/blobs/{digest}", self._pull(repository), what,
            headers={"Accept-Encoding": "identity"}, stream=True,  # the stored bytes, unchanged
        )  # fmt: skip
        hasher, received = hashlib.sha256(), 0
        with response:
            if not response.ok:
                raise self._failed(response, what)
            for chunk in self._chunks(response, what):
                hasher.update(chunk)
                into.write(chunk)
                received += len(chunk)
                if size is not None and received > size:
                    raise DamagedBlob(f"{what}: more than the {size} bytes it has")
        if "sha256:" + hasher.hexdigest() != digest:
            raise self._mismatch(what, "sha256:" + hasher.hexdigest(), digest)
        return received

    def open_blob(self, repository: str, digest: str) -> BinaryIO:
        """The verified blob as a stream at its start, for the caller to close: spooled in
        memory while small, then in a temporary file that goes with the stream."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned
        try:
            self.get_blob(repository, digest, spool)  # type: ignore[arg-type]
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool  # type: ignore[return-value]

    def push_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        open: Callable[[], BinaryIO],
        mount_from: str | None = None,
    ) -> None:
        """Make the repository hold the blob: nothing to do if it has it; else a cross-repository
        mount from ``mount_from`` (on this registry) if the registry does it; else one monolithic
        upload streamed from ``open()`` (called again if the upload must be sent again), which
        the registry verifies against ``digest``."""
        what = f"pushing the blob {digest} to {self.registry}/{repository}"
        if not DIGEST.fullmatch(digest):
            raise RegistryError(f"{what}: not a sha256 digest")
        if self.blob_exists(repository, digest, push=True):
            return
        scopes, query = self._push(repository), ""
        if mount_from and mount_from != repository:
            scopes += self._pull(mount_from)
            query = "?" + urlencode({"mount": digest, "from": mount_from})
        uploads = f"/v2/{repository}/blobs/uploads/{query}"
        with self._send("POST", uploads, scopes, what) as response:
            if response.status_code == 201:  # mounted
                return
            location = response.headers.get("Location")
            if response.status_code != 202 or not location:
                raise self._failed(response, what)
        location = urljoin(self.base + "/", location)  # relative, or absolute elsewhere
        location += ("&" if urlsplit(location).query else "?") + urlencode({"digest": digest})
        bodies: list[_Body] = []

        def body() -> _Body:
            if bodies:
                bodies[-1].stream.close()
            bodies.append(_Body(open(), size))
            return bodies[-1]

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        try:
            response = self._send("PUT", location, scopes, what, headers=headers, body=body)
        finally:
            if bodies:
                bodies[-1].stream.close()
        with response:
            sent = "sha256:" + bodies[-1].hasher.hexdigest() if bodies else digest
            if response.status_code != 201 and sent != digest:
                raise RegistryError(
                    f"{what}: the data given for it hashes to {sent}; the registry refused "
                    f"it ({_registry_errors(response)})",
                    tip="the local copy of the blob is not what its digest names: build again",
                )
            if response.status_code != 201:
                raise self._failed(response, what)
            claimed = response.headers.get("Docker-Content-Digest")
        if claimed and claimed != digest:
            raise self._mismatch(what, claimed, digest)

    def put_manifest(self, repository: str, reference: str, media_type: str, data: bytes) -> str:
        """Store a manifest (or index) under ``reference`` (a tag, or its digest); its digest,
        which the registry must report as the sha256 of ``data`` (it may not rewrite it)."""
        at = "@" if DIGEST.fullmatch(reference) else ":"
        what = f"pushing the manifest {self.registry}/{repository}{at}{reference}"
        digest = sha256_digest(data)
        if DIGEST.fullmatch(reference) and reference != digest:
            raise RegistryError(f"{what}: the manifest's digest is {digest}")
        url = f"/v2/{repository}/manifests/{reference}"
        headers = {"Content-Type": media_type}
        with self._send(
            "PUT", url, self._push(repository), what, headers=headers, body=lambda: data
        ) as response:
            if response.status_code != 201:  # a blob another push is writing counts as absent
                unknown = "MANIFEST_BLOB_UNKNOWN" in _error_codes(response)
                raise self._failed(response, what, racing=unknown)
            claimed = response.headers.get("Docker-Content-Digest") or digest
        if claimed != digest:
            raise RegistryError(
                f"{what}: the registry stored it as {claimed}, not {digest}",
                tip="the registry rewrote the manifest: push it in a media type it keeps as is",
            )
        return claimed


class RegistrySource:
    """An image in a registry, read as the image checker reads any image (source.ImageSource):
    the reference's manifest (maybe an index), other manifests by digest, and verified blobs."""

    def __init__(self, registry: Registry, reference: Reference) -> None:
        self.registry, self.reference = registry, reference

    @classmethod
    def open(cls, reference: Reference, env: Mapping[str, str]) -> RegistrySource:
        return cls(Registry.for_reference(reference, env), reference)

    def manifest(self) -> Fetched:
        ref = self.reference
        return self.registry.get_manifest(ref.repository, ref.manifest_reference)

    def fetch_manifest(self, digest: str) -> Fetched:
        return self.registry.get_manifest(self.reference.repository, digest)

    def blob(self, digest: str) -> BinaryIO:
        return self.registry.open_blob(self.reference.repository, digest)

    def close(self) -> None:
        self.registry.close()
