"""The gRPC server: our four services behind the guard interceptor, plus the standard health
and reflection services (v1 and v1alpha, with the proto comments: reflection.py; so `grpcurl`
works), a background thread that cuts checkpoints and ledgers the refusal summaries (and flushes
them once more on stop), and one that gets the checkpoints cosigned by the configured witnesses;
and, when asked, the web front door (web_gateway.py), which reaches these same services over a
loopback port of its own."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from consentry.ledger.checkpoint import CheckpointPolicy, NoteSigning
from consentry.services.api import reflection, transport
from consentry.services.api.app import App
from consentry.services.api.audit import AuditServicer
from consentry.services.api.commit_feed import CommitFeed
from consentry.services.api.consent import ConsentServicer
from consentry.services.api.exchange import ExchangeServicer
from consentry.services.api.interceptor import GuardInterceptor
from consentry.services.api.registry import RegistryServicer
from consentry.services.api.rights import RightsServicer
from consentry.services.api.watch import Watches, Watching
from consentry.services.api.web_gateway import WebGateway
from consentry.services.config import channel_options, server_keepalive_options
from consentry.services.identity.auth import Authenticator
from consentry.services.store.witnessing import WitnessEndpoint, Witnessing
from consentry.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    consent_pb2,
    consent_pb2_grpc,
    exchange_pb2,
    exchange_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
    rights_pb2,
    rights_pb2_grpc,
)

CANCELLED_CALLS_END_S = 5.0
log = logging.getLogger("consentry.server")

SERVICE_NAMES = [
    registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name,
    consent_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name,
    exchange_pb2.DESCRIPTOR.services_by_name["ExchangeService"].full_name,
    audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
    rights_pb2.DESCRIPTOR.services_by_name["RightsService"].full_name,
]


class Server:
    """A running Consentry server; `port` is the bound port (useful with port 0)."""

    def __init__(self, app: App, signer: NoteSigning | Callable[[], Sequence[NoteSigning]], listen: str,
                 workers: int = 16, *,
                 listen_without_client_cert: str | None = None, http: str | None = None,
                 shared_port: bool = False, cuts_checkpoints: bool = True) -> None:
        """Listens on `listen` (plaintext, TLS or mTLS, as settings say) and, on an mTLS server,
        on `listen_without_client_cert` for callers without a client certificate (api/transport.py);
        serves the web front door on `http` (HOST:PORT) when given.

        One of several worker processes on one port (cli/workers.py) shares its port with the
        others (`shared_port`); only one of them cuts checkpoints and has them witnessed
        (`cuts_checkpoints`), while every worker ledgers its own refusal summaries."""
        self.app = app
        self.audit = AuditServicer(app, signer)
        authenticator = Authenticator(app.db, app.settings.key_grace_s,
                                      mutual_tls=transport.mode(app.settings) == transport.MTLS)
        self.guard = GuardInterceptor(app.db, authenticator, app.trail, app.settings)
        # A deposit's body may be as large as the service accepts (docs/limits.md, "Bodies"); the
        # keepalive pings as the operator set them (docs/operations.md, "Transport settings").
        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), interceptors=[self.guard],
                                maximum_concurrent_rpcs=workers * 8,
                                options=[*(transport.WORKER_OPTIONS if shared_port else transport.SERVER_OPTIONS),
                                         *channel_options(app.settings.max_body_bytes),
                                         *server_keepalive_options(app.settings)])
        registry_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryServicer(app), self.grpc)
        self.feed = CommitFeed(app.db, app.settings.watch_poll_s)
        watches = Watches(app.settings.watch_per_principal, min(app.settings.watch_max_total, max(1, workers // 2)))
        consent_pb2_grpc.add_ConsentServiceServicer_to_server(ConsentServicer(app, Watching(app, self.feed, watches)),
                                                              self.grpc)
        exchange_pb2_grpc.add_ExchangeServiceServicer_to_server(ExchangeServicer(app), self.grpc)
        audit_pb2_grpc.add_AuditServiceServicer_to_server(self.audit, self.grpc)
        rights_pb2_grpc.add_RightsServiceServicer_to_server(RightsServicer(app), self.grpc)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        reflection.enable(self.grpc, [*SERVICE_NAMES, health.SERVICE_NAME])
        self.listeners = transport.bind(self.grpc, app.settings, listen, listen_without_client_cert,
                                        shared=shared_port)
        self.port = self.listeners[0].port
        self.web = self._web(http)
        self._stop = threading.Event()
        self._stopping = threading.Lock()
        self._upkeep = threading.Thread(target=self._keep_ledger, name="ledger-upkeep", daemon=True)
        self.cuts_checkpoints = cuts_checkpoints
        self.witnessing = self._witnessing() if cuts_checkpoints else None

    def _web(self, http: str | None) -> WebGateway | None:
        """The front door forwards browsers' calls over a plaintext port on 127.0.0.1 that only it
        uses: the call arrives like any other, with no client certificate, so on an mTLS server an
        institution is refused there as on the listener without client certificates. The gateway
        names each browser's address with a secret of this process, so that failed
        authentications are counted per browser, not for the server itself."""
        if http is None:
            return None
        port = self.grpc.add_insecure_port("127.0.0.1:0")
        self.guard.gateway_secret = secrets.token_urlsafe(32)
        return WebGateway(self.app.settings, http, f"127.0.0.1:{port}", self.guard.gateway_secret)

    def _witnessing(self) -> Witnessing | None:
        """Submits new checkpoints to the configured witnesses (CONSENTRY_WITNESSES), if any."""
        settings = self.app.settings
        if not settings.witnesses:
            return None
        witnesses = [WitnessEndpoint.parse(url, vkey) for url, vkey in settings.witnesses]
        return Witnessing(self.app.db, witnesses, min(5.0, settings.checkpoint_every_seconds))

    def start(self) -> Server:
        self.feed.start()
        self.grpc.start()
        for name in ["", *SERVICE_NAMES]:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._upkeep.start()
        if self.web is not None:
            self.web.start()
        if self.witnessing is not None:
            self.witnessing.start()
        return self

    def stop(self, grace: float | None = None) -> None:
        """Drains, then stops (docs/operations.md, "Drain"): health says NOT_SERVING and new calls
        are refused UNAVAILABLE; the watches end at once (UNAVAILABLE: reconnect elsewhere); the
        calls under way get up to `grace` seconds (default: the settings' drain_grace_s) to
        finish, and what is left then is cancelled. Once only: a second stop (a second SIGTERM)
        while the first drains returns at once."""
        if not self._stopping.acquire(blocking=False):
            return
        grace = self.app.settings.drain_grace_s if grace is None else grace
        started = time.monotonic()
        self.health.enter_graceful_shutdown()
        under_way = self.guard.drain.begin(grace)
        self._stop.set()
        self.feed.stop()  # the live streams end first, so the drain waits for none of them
        if self.web is not None:
            self.web.stop()
        cut = self.guard.drain.wait(grace)
        # A stream whose handler has yielded its last message may still have messages in flight
        # to a slow reader: gRPC's own grace lets them go out; only calls the grace cut are cut.
        left = 0.0 if cut else max(0.0, grace - (time.monotonic() - started))
        self.grpc.stop(left).wait()
        # A cancelled call's handler runs on until it notices: let it end its own transaction
        # before the pool closes (a test then drops its database; an operator's restart follows).
        self.guard.drain.wait(CANCELLED_CALLS_END_S)
        self.guard.drain.end(under_way, cut, started)
        if self._upkeep.is_alive():
            self._upkeep.join()
        if self.witnessing is not None:
            self.witnessing.stop()
        try:
            self.flush_refusals(everything=True)
        except Exception:  # the database may be what is failing; stopping must not
            log.exception("could not ledger the last refusal summaries")
        self.app.db.dispose()

    def flush_refusals(self, *, everything: bool = False) -> int:
        """Ledgers the refusal summaries of the windows that ended (every window, with
        `everything`); the upkeep thread does this on its own, and `stop` once more."""
        return self.guard.summaries.flush(self.app.db, self.app.trail, everything=everything)

    def wait(self) -> None:
        self.grpc.wait_for_termination()

    def _keep_ledger(self) -> None:
        """Cuts checkpoints when due and ledgers the refusal summaries of ended windows."""
        settings = self.app.settings
        policy = CheckpointPolicy(every_entries=settings.checkpoint_every_entries,
                                  every_seconds=settings.checkpoint_every_seconds)
        interval = min(5.0, settings.checkpoint_every_seconds, settings.rate_window_s / 2)
        while not self._stop.wait(interval):
            try:
                self.flush_refusals()
            except Exception:  # kept for the next round
                log.exception("could not ledger refusal summaries")
            if not self.cuts_checkpoints:
                continue
            try:
                self.audit.cut(policy)
            except Exception:  # the next round retries; a missed cut loses nothing
                log.exception("could not cut a checkpoint")
            if self.witnessing is not None:
                self.witnessing.kick()
