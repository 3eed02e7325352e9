"""A client of Temporal's HTTP/JSON API (``--http-port`` of both dev servers), standard library only.

The HTTP API is grpc-gateway's mapping of WorkflowService and OperatorService, derived from the
protos' ``google.api.http`` annotations: path parameters and the query string fill the request
message of a GET or DELETE, the JSON body (``body: "*"``) that of a POST; the answer is the
response message as proto JSON (camelCase, enums by name, int64 as strings, payloads in the
"shorthand" form unless ``?noPayloadShorthand``), or on error ``{"code": <gRPC code>,
"message": ..., "details": [{"@type": ...}]}`` with the HTTP status grpc-gateway maps the code
to. :class:`HttpApi` sends one request and returns everything a client could look at
(:class:`Reply`); it never raises on an HTTP error status.

Used by tests/python/test_http_api.py; this is a support module, not a test file.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """One HTTP answer: status, headers (names lower-cased, last value wins), raw body and the
    body parsed as JSON (None when it is not JSON)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""
    json: Any = None

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", errors="replace")


class HttpApi:
    """Requests to one server's HTTP API base (``server.http_url``, e.g. ``http://127.0.0.1:7243``)."""

    def __init__(self, base_url: str, timeout: float = 15.0):
        parsed = urllib.parse.urlsplit(base_url)
        assert parsed.scheme == "http" and parsed.hostname and parsed.port, base_url
        self.host = parsed.hostname
        self.port = parsed.port
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        query: dict[str, Any] | list[tuple[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """``method path`` with `body` as JSON (or `raw` bytes as they are) and `query` as the
        query string (a list of pairs repeats a name; a value of None sends the bare name, as
        in ``?pretty``). A fresh connection per request: nothing carries over between calls."""
        if query:
            pairs = query.items() if isinstance(query, dict) else query
            parts = [
                urllib.parse.quote(str(k), safe="._")
                if v is None
                else f"{urllib.parse.quote(str(k), safe='._')}={urllib.parse.quote(str(v), safe='')}"
                for k, v in pairs
            ]
            path = f"{path}{'&' if '?' in path else '?'}{'&'.join(parts)}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        try:
            all_headers = {"Accept": "application/json"}
            if data is not None:
                all_headers["Content-Type"] = "application/json"
            all_headers.update(headers or {})
            conn.request(method, path, body=data, headers=all_headers)
            response = conn.getresponse()
            payload = response.read()
            reply = Reply(
                status=response.status,
                headers={k.lower(): v for k, v in response.getheaders()},
                raw=payload,
            )
        finally:
            conn.close()
        try:
            reply.json = json.loads(payload) if payload else None
        except ValueError:
            reply.json = None
        return reply

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.request("DELETE", path, **kw)
