"""Decisions from an OPA server (the production sidecar) through ``opa-python-client``.

One POST per batch: ``/v1/data/consentry/authz/decisions`` with ``{"input": {"batch": [...]}}``
(``decide``) or the shared shape ``{"input": {..., "resources": [...]}}`` (``decide_batch``).
An undefined result (``{}``: OPA has no such rule, or the policy was never loaded) raises, and
FailClosed turns that into a deny.

Timeouts and retries are set deliberately: urllib3 retries a POST only when the connection
could not be made (never after the request was sent), ``retries`` times with a 0.3 s backoff,
so the worst case before an error is about ``timeout_s * (retries + 1) + backoff``. FailClosed's
own deadline bounds it anyway; keep both below the gRPC deadline of the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from opa_client import OpaClient
from opa_client.errors import PolicyNotFoundError

from .bundle import DATA_ROOT, PACKAGE, Bundle, load_bundle
from .engine import Decision, MalformedDecision, PolicyError, batch_document

DEFAULT_URL = "http://127.0.0.1:8181"
_REVISION_PATH = f"{DATA_ROOT}/revision"


class OpaEngine:
    """PolicyEngine over an OPA server's Data API. One HTTP session per thread.

    With ``upload=True`` the local bundle (policies, data, and its revision at
    data.consentry.revision) is pushed at construction; with ``upload=False`` the server must
    already hold it, and its data.consentry.revision.sha256 is what ``revision`` reports.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout_s: float = 0.2,
        retries: int = 1,
        upload: bool = True,
        token: str | None = None,
        bundle: Bundle | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OPA url must be http(s)://host[:port], got {url!r}")
        self._client_args = {
            "host": parts.hostname,
            "port": parts.port or (443 if parts.scheme == "https" else 8181),
            "ssl": parts.scheme == "https",
            "token": token,
            "retries": retries,
            "timeout": timeout_s,
        }
        self._local = threading.local()
        self._bundle = bundle or load_bundle()
        if upload:
            self._upload()
            self._revision = self._bundle.revision
        else:
            self._revision = self._remote_revision()

    @property
    def revision(self) -> str:
        return self._revision

    def decide(self, inputs: Sequence[Mapping[str, Any]]) -> list[Decision]:
        return self._decisions({"batch": list(inputs)})

    def decide_batch(self, shared: Mapping[str, Any], resources: Sequence[Mapping[str, Any]]) -> list[Decision]:
        return self._decisions(batch_document(shared, resources))

    def _decisions(self, document: Mapping[str, Any]) -> list[Decision]:
        answer = self._client().query_rule(document, PACKAGE, "decisions")
        if not isinstance(answer, dict) or "result" not in answer:
            raise PolicyError(f"OPA returned no result for {PACKAGE}.decisions (undefined)")
        results = answer["result"]
        if not isinstance(results, list):
            raise MalformedDecision(f"{PACKAGE}.decisions is not a list")
        return [Decision.from_result(r) for r in results]

    def _client(self) -> OpaClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = OpaClient(**self._client_args)
        return client

    def _upload(self) -> None:
        client = self._client()
        for name, source in self._bundle.modules:
            # rego_compat=False: a rejected policy must fail here, not be rewritten and retried.
            client.update_policy_from_string(source, f"{DATA_ROOT}/{name}", rego_compat=False)
        for stem, document in self._bundle.data.items():
            client.update_or_create_data(document, f"{DATA_ROOT}/{stem}")
        client.update_or_create_data({"sha256": self._bundle.revision}, _REVISION_PATH)

    def _remote_revision(self) -> str:
        try:
            answer = self._client().get_data(_REVISION_PATH)
        except PolicyNotFoundError:
            answer = None
        revision = answer.get("result", {}).get("sha256") if isinstance(answer, dict) else None
        if not isinstance(revision, str):
            raise PolicyError(f"OPA holds no data.{_REVISION_PATH.replace('/', '.')}.sha256")
        return revision
