#!/usr/bin/env python3
"""Development server for Endure's built-in Web UI (stdlib only).

Serves crates/endure-server/ui/ the way endure-server does (static files,
SPA fallback to index.html for any path whose last segment has no '.'),
answers GET /api/v1/settings itself, and proxies every other /api/v1/...
request (method, query, body, status and body back) to a Temporal HTTP API
base URL (a real Temporal dev server, or Endure itself).

    python3 scripts/ui-dev-proxy.py --api http://127.0.0.1:7243 --port 8088
    python3 scripts/ui-dev-proxy.py --api http://127.0.0.1:7243 \
        --codec-endpoint http://127.0.0.1:8089 --disable-write-actions
"""

import argparse
import json
import mimetypes
import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_UI_DIR = os.path.join(ROOT, "crates", "endure-server", "ui")

MIME = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# Request headers forwarded to the API (everything else is dropped).
FORWARD_HEADERS = ("content-type", "accept", "authorization", "x-namespace")


def settings_payload(args):
    return {
        "Auth": {"Enabled": False, "Options": None, "RedirectToProvider": False},
        "DefaultNamespace": args.default_namespace,
        "ShowTemporalSystemNamespace": False,
        "NavCollapsedByDefault": False,
        "FeedbackURL": "",
        "DisableNewsFetch": True,
        "Codec": {
            "Endpoint": args.codec_endpoint,
            "PassAccessToken": False,
            "IncludeCredentials": False,
            "DefaultErrorMessage": "",
            "DefaultErrorLink": "",
        },
        "Version": "endure-ui-dev",
        "DisableWriteActions": args.disable_write_actions,
        "WorkflowTerminateDisabled": False,
        "WorkflowCancelDisabled": False,
        "WorkflowSignalDisabled": False,
        "WorkflowUpdateDisabled": False,
        "WorkflowResetDisabled": False,
        "WorkflowPauseDisabled": False,
        "BatchActionsDisabled": False,
        "StartWorkflowDisabled": False,
        "HideWorkflowQueryErrors": False,
        "RefreshWorkflowCountsDisabled": False,
        "ActivityCommandsDisabled": False,
    }


def make_handler(args):
    ui_dir = os.path.realpath(args.ui_dir)
    api_base = args.api.rstrip("/")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quieter than the default
            if not args.quiet:
                sys.stderr.write("%s %s\n" % (self.command, fmt % a))

        def _send(self, status, body, ctype, extra=None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _read_body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n > 0 else None

        def _handle(self):
            parts = urlsplit(self.path)
            path = parts.path
            if path == "/api/v1/settings":
                body = json.dumps(settings_payload(args)).encode()
                return self._send(200, body, "application/json")
            if path.startswith("/api/"):
                return self._proxy()
            if self.command not in ("GET", "HEAD"):
                return self._send(405, b"method not allowed", "text/plain")
            return self._static(path)

        def _proxy(self):
            body = self._read_body()
            req = urllib.request.Request(api_base + self.path, data=body, method=self.command)
            for k, v in self.headers.items():
                if k.lower() in FORWARD_HEADERS:
                    req.add_header(k, v)
            try:
                with urllib.request.urlopen(req, timeout=args.timeout) as resp:
                    status, data = resp.status, resp.read()
                    ctype = resp.headers.get("Content-Type", "application/json")
            except urllib.error.HTTPError as e:
                status, data = e.code, e.read()
                ctype = e.headers.get("Content-Type", "application/json")
            except Exception as e:  # upstream down, timeout...
                status = 502
                data = json.dumps({"code": 14, "message": "ui-dev-proxy: upstream error: %s" % e, "details": []}).encode()
                ctype = "application/json"
            self._send(status, data, ctype)

        def _static(self, path):
            rel = unquote(path).lstrip("/")
            last = rel.rsplit("/", 1)[-1]
            if rel == "" or "." not in last:
                rel = "index.html"
            full = os.path.realpath(os.path.join(ui_dir, rel))
            if not (full == ui_dir or full.startswith(ui_dir + os.sep)) or not os.path.isfile(full):
                return self._send(404, b"not found", "text/plain")
            with open(full, "rb") as f:
                data = f.read()
            ext = os.path.splitext(full)[1].lower()
            ctype = MIME.get(ext) or mimetypes.guess_type(full)[0] or "application/octet-stream"
            self._send(200, data, ctype)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--api", default="http://127.0.0.1:7243", help="HTTP API base URL to proxy /api/v1/... to")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8088)
    p.add_argument("--ui-dir", default=DEFAULT_UI_DIR)
    p.add_argument("--codec-endpoint", default="", help="Codec.Endpoint in /api/v1/settings")
    p.add_argument("--default-namespace", default="default")
    p.add_argument("--disable-write-actions", action="store_true")
    p.add_argument("--timeout", type=float, default=70.0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    srv = ThreadingHTTPServer((args.host, args.port), make_handler(args))
    srv.daemon_threads = True
    sys.stderr.write("ui-dev-proxy: http://%s:%d  ui=%s  api=%s\n" % (args.host, args.port, args.ui_dir, args.api))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
