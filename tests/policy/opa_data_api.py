"""An OPA Data API endpoint on 127.0.0.1:0, evaluating with OPA's own evaluator (the OPA 1.20
library of `opa-golib-python-bindings`, opa_reference.py): the calls OpaEngine makes.

Policies PUT to /v1/policies/<id> and data PUT to /v1/data/<path> are kept; POST
/v1/data/<path> evaluates data.<path> with OPA over what was uploaded. Only the HTTP layer is
ours; the answers are OPA's. `mode` injects failures: "ok", "error500", "slow", "undefined",
"malformed".
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opa_bindings import OpaEngine, OpaError, OpaUndefinedError


class OpaDataApi:
    def __init__(self) -> None:
        self.policies: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, parsed body)
        self.mode = "ok"
        self.slow_s = 1.0
        self._opa: OpaEngine | None = None  # built from the uploads on the first query after them
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> OpaDataApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def put_data(self, path: str, value: Any) -> None:
        node = self.data
        *parents, leaf = path.strip("/").split("/")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    def uploaded(self) -> None:
        """A policy or data upload: the next query compiles what is there now, as OPA does."""
        with self._lock:
            self._opa = None

    def evaluate(self, path: str, input_doc: Any) -> Any:
        """data.<path> for `input_doc`; None when undefined. Raises OpaError on an evaluation error."""
        with self._lock:
            if self._opa is None:
                self._opa = OpaEngine()
                for pid, source in self.policies.items():
                    self._opa.add_policy(pid, source)
                self._opa.add_data(self.data)
            opa = self._opa
        try:
            return opa.eval_document(path.strip("/").replace("/", "."), input_doc)
        except OpaUndefinedError:
            return None


def _handler(opa: OpaDataApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))

        def _reply(self, status: int, body: Any = None) -> None:
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_PUT(self) -> None:
            raw = self._body()
            if self.path.startswith("/v1/policies/"):
                opa.policies[self.path.removeprefix("/v1/policies/")] = raw.decode()
                opa.requests.append(("PUT", self.path, raw.decode()))
                opa.uploaded()
                self._reply(200, {})
            elif self.path.startswith("/v1/data/"):
                value = json.loads(raw)
                opa.requests.append(("PUT", self.path, value))
                opa.put_data(self.path.removeprefix("/v1/data/"), value)
                opa.uploaded()
                self._reply(204)
            else:
                self._reply(404, {"code": "not_found", "message": self.path})

        def do_GET(self) -> None:
            node: Any = opa.data
            for key in self.path.removeprefix("/v1/data/").strip("/").split("/"):
                node = node.get(key) if isinstance(node, dict) else None
            self._reply(200, {} if node is None else {"result": node})

        def do_POST(self) -> None:
            body = json.loads(self._body())
            opa.requests.append(("POST", self.path, body))
            if opa.mode == "error500":
                return self._reply(500, {"code": "internal_error", "message": "boom"})
            if opa.mode == "slow":
                time.sleep(opa.slow_s)
            if opa.mode == "undefined":
                return self._reply(200, {})
            if opa.mode == "malformed":
                return self._reply(200, {"result": [{"allow": "true", "reasons": []}]})
            try:
                result = opa.evaluate(self.path.removeprefix("/v1/data/"), body["input"])
            except OpaError as e:  # as OPA's server answers an evaluation error
                return self._reply(500, {"code": "internal_error", "message": e.message})
            self._reply(200, {} if result is None else {"result": result})

    return Handler
