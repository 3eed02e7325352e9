"""An in-test OpenTelemetry trace receiver: OTLP over HTTP and over gRPC, on loopback.

:class:`OtlpReceiver` listens on two ephemeral ports of 127.0.0.1:

* OTLP/HTTP: ``POST /v1/traces`` with a protobuf ``ExportTraceServiceRequest``
  (``Content-Type: application/x-protobuf``, optionally gzip-encoded);
  :attr:`OtlpReceiver.http_endpoint` is the base URL an exporter's
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes, :attr:`OtlpReceiver.http_traces_endpoint` the full
  ``…/v1/traces`` URL (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``).
* OTLP/gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` (grpcio);
  :attr:`OtlpReceiver.grpc_endpoint` is ``http://127.0.0.1:PORT``.

Every span received is kept as a :class:`Span` (ids as lowercase hex, attributes as plain
Python values, the resource's ``service.name``), thread-safely; :meth:`OtlpReceiver.wait_for`
polls until a predicate over the spans holds. Needs ``opentelemetry-proto`` and ``grpcio``
(tests/python/requirements.txt).

    with OtlpReceiver() as rx:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": rx.grpc_endpoint}
        ...
        spans = rx.wait_for(lambda spans: any(s.name == "x" for s in spans), timeout=10)
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

#: OTLP span kinds (``Span.SpanKind``) by the name this module uses.
KIND_NAMES = {
    trace_pb2.Span.SPAN_KIND_UNSPECIFIED: "UNSPECIFIED",
    trace_pb2.Span.SPAN_KIND_INTERNAL: "INTERNAL",
    trace_pb2.Span.SPAN_KIND_SERVER: "SERVER",
    trace_pb2.Span.SPAN_KIND_CLIENT: "CLIENT",
    trace_pb2.Span.SPAN_KIND_PRODUCER: "PRODUCER",
    trace_pb2.Span.SPAN_KIND_CONSUMER: "CONSUMER",
}


def any_value(v: common_pb2.AnyValue) -> Any:
    """An OTLP ``AnyValue`` as a plain Python value."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which)


def attributes(kvs: Iterable[common_pb2.KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


@dataclass(frozen=True)
class Span:
    """One span as received. Ids are lowercase hex; ``parent_span_id`` is None for a root."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    attributes: dict[str, Any]
    service_name: str | None
    resource: dict[str, Any] = field(repr=False)
    #: (trace id, span id) of each link.
    links: tuple[tuple[str, str], ...] = ()
    start_ns: int = 0
    end_ns: int = 0
    #: ``http`` or ``grpc``: how it reached the receiver.
    transport: str = ""

    def short(self) -> str:
        parent = self.parent_span_id[:8] if self.parent_span_id else "-"
        return (
            f"{self.service_name}:{self.name} [{self.kind}] trace={self.trace_id[:8]} "
            f"span={self.span_id[:8]} parent={parent}"
        )


def decode(request: trace_service_pb2.ExportTraceServiceRequest, transport: str) -> list[Span]:
    out = []
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        service = resource.get("service.name")
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    Span(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex() or None,
                        name=s.name,
                        kind=KIND_NAMES.get(s.kind, str(s.kind)),
                        attributes=attributes(s.attributes),
                        service_name=service,
                        resource=resource,
                        links=tuple((l.trace_id.hex(), l.span_id.hex()) for l in s.links),
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano,
                        transport=transport,
                    )
                )
    return out


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: "OtlpReceiver"):
        self.receiver = receiver

    def Export(self, request, context):  # noqa: N802 - the gRPC method's name
        self.receiver._add(decode(request, "grpc"), "grpc")
        return trace_service_pb2.ExportTraceServiceResponse()


def _http_handler(receiver: "OtlpReceiver") -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()  # the chunk's CRLF
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self):  # noqa: N802 - the http.server hook's name
            body = self._body()
            try:
                if self.path.rstrip("/") != "/v1/traces":
                    receiver._error(f"HTTP export to {self.path!r}, not /v1/traces")
                    return self._reply(404, b"only /v1/traces")
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                if ctype != "application/x-protobuf":
                    receiver._error(f"HTTP export with Content-Type {ctype!r}")
                    return self._reply(415, b"application/x-protobuf only")
                encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding not in ("", "identity"):
                    receiver._error(f"HTTP export with Content-Encoding {encoding!r}")
                    return self._reply(415, b"unknown content encoding")
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            except Exception as e:  # noqa: BLE001 - a bad export is recorded, not raised
                receiver._error(f"HTTP export not decodable: {e!r}")
                return self._reply(400, b"bad request")
            receiver._add(decode(request, "http"), "http")
            self._reply(
                200,
                trace_service_pb2.ExportTraceServiceResponse().SerializeToString(),
                "application/x-protobuf",
            )

        def _reply(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 - quiet
            pass

    return Handler


class OtlpReceiver:
    """OTLP/HTTP and OTLP/gRPC trace receivers on 127.0.0.1, collecting spans."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._spans: list[Span] = []
        #: How many export requests arrived per transport.
        self.requests = {"http": 0, "grpc": 0}
        #: Exports that could not be taken (bad content type, undecodable body).
        self.errors: list[str] = []
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: grpc.Server | None = None
        self.http_port = 0
        self.grpc_port = 0

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> "OtlpReceiver":
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _http_handler(self))
        self._http.daemon_threads = True
        self.http_port = self._http.server_address[1]
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, name="otlp-http", daemon=True
        )
        self._http_thread.start()
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        return self

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=None)
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> "OtlpReceiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- where exporters send -----------------------------------------------------

    @property
    def http_endpoint(self) -> str:
        """The OTLP/HTTP base URL (exporters append ``/v1/traces``)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def http_traces_endpoint(self) -> str:
        return f"{self.http_endpoint}/v1/traces"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    # -- what arrived ---------------------------------------------------------------

    def _add(self, spans: list[Span], transport: str) -> None:
        with self._lock:
            self.requests[transport] += 1
            self._spans.extend(spans)
            self._lock.notify_all()

    def _error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)
            self._lock.notify_all()

    def spans(self) -> list[Span]:
        """A snapshot of every span received so far, in arrival order."""
        with self._lock:
            return list(self._spans)

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()

    def wait_for(
        self, predicate: Callable[[list[Span]], Any], timeout: float = 10.0, *, fail: bool = True
    ) -> list[Span]:
        """Waits until ``predicate(spans)`` is truthy and returns the spans then. After
        `timeout` seconds: raises ``AssertionError`` listing what did arrive, or with
        ``fail=False`` returns the spans there are (for the caller's own, sharper assertion)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                snapshot = list(self._spans)
                if predicate(snapshot):
                    return snapshot
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(min(left, 0.2))
        if not fail:
            return snapshot
        raise AssertionError(
            f"OTLP receiver: condition not met within {timeout:.1f}s; "
            f"{len(snapshot)} spans arrived ({self.requests}, errors {self.errors}):\n"
            + "\n".join("  " + s.short() for s in snapshot)
        )
