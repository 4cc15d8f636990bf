"""A real S3 HTTP server on 127.0.0.1 (moto's), standing in for Backblaze B2.

Every request's method, path and headers are recorded, so tests can assert what
DVC sent. The server can be told to go down after N uploads (a network failure
in the middle of a push) and started again on the same port; the stored objects
survive, as they would on B2. Told a key id (`key_id`), it refuses requests signed
with any other, as B2 refuses a key it does not know (moto alone takes any key).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

StartResponse = Callable[..., Any]
# B2's answer to a key it does not know (its S3 API speaks S3's error format).
UNKNOWN_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidAccessKeyId</Code>'
    b"<Message>Malformed Access Key Id</Message></Error>"
)
# The bucket of the session's `server` fixture (tests/conftest.py), and a made-up key.
BUCKET = "lab-results-2026"
REGION = "eu-central-003"
KEY_ID = "0041f6e5d4c3b2a0000000007"
KEY = "K004Zq8Lm2Rt5Vw9Xy3Bn6Cd1Fg4Hj7Kp0"  # pragma: allowlist secret


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class S3Server:
    """moto's S3 app behind a recording WSGI layer, on a free loopback port."""

    requests: list[Request] = field(default_factory=list)
    fail_after_puts: int | None = None
    key_id: str | None = None
    port: int = 0
    _app: Any = None
    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        """The endpoint URL to give the DVC remote."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve on 127.0.0.1 (on the same port as before after a stop)."""
        if self._app is None:
            self._app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", self.port, self._record, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; connections are refused until `start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def client(self, region: str = REGION, key_id: str = KEY_ID, key: str = KEY) -> Any:
        """A plain S3 client of this server, for a test's own look at the buckets.

        It sends no checksum headers, so that every one the server sees came from the project.
        """
        import botocore.session
        from botocore.config import Config

        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=key_id,
            aws_secret_access_key=key,
            config=Config(
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def objects(self, prefix: str, bucket: str = BUCKET) -> dict[str, bytes]:
        """Every object stored under a prefix, with its bytes."""
        s3 = self.client()
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}

    def puts(self) -> list[Request]:
        """The uploads received so far."""
        return [r for r in self.requests if r.method == "PUT"]

    def _record(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        request = Request(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), headers)
        with self._lock:
            self.requests.append(request)
            uploads = len(self.puts())
        if self.fail_after_puts is not None and uploads > self.fail_after_puts:
            # The network goes away mid-push: refuse this upload and stop serving.
            self.fail_after_puts = None
            threading.Thread(target=self.stop, daemon=True).start()
            start_response("503 Service Unavailable", [("Content-Length", "0")])
            return [b""]
        signed = headers.get("authorization", "").partition("Credential=")[2].split("/")[0]
        if self.key_id is not None and signed != self.key_id:
            length = str(len(UNKNOWN_KEY))
            start_response(
                "403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", length)]
            )
            return [UNKNOWN_KEY]
        return self._app(environ, start_response)  # type: ignore[no-any-return]
