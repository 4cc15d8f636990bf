"""A real S3 HTTP server on 127.0.0.1 (moto's), standing in for Backblaze B2.

Every request's method, path and headers are recorded, so tests can assert what
DVC sent. The server can be told to go down after N uploads (a network failure
in the middle of a push) and started again on the same port; the stored objects
survive, as they would on B2.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

StartResponse = Callable[..., Any]


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

    def client(self, region: str, key_id: str, key: str) -> Any:
        """A plain S3 client of this server, for a test's own look at the buckets."""
        import botocore.session

        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=key_id,
            aws_secret_access_key=key,
        )

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
        return self._app(environ, start_response)  # type: ignore[no-any-return]
