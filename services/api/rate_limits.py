"""How often a caller may call (docs/limits.md).

An authenticated principal draws one token per call from its own bucket (refilled at
`rate_calls_per_s`, holding at most `rate_burst`). A network source that failed to authenticate
`rate_auth_failures` times in the current window is refused outright until the window ends,
before its next token is even parsed: a flood of junk costs the server almost nothing.

A source is the transport peer's address as gRPC reports it, never anything the caller wrote: an
IPv4 address, an IPv6 /64 (a subscriber is usually given a whole /64, so a single address would
be no limit at all), or the kind of a socket without an address. A call the web front door
forwards comes from the server itself; the gateway names the browser's address in
FORWARDED_PEER, which counts only beside FORWARDED_BY holding the secret the server gave its
own gateway, so no caller can choose its source by writing that header.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
from collections.abc import Iterable

from consentry.services import clock

# At most this many sources (and idle principals' buckets) are remembered; past it new sources
# share one count, so an attacker with more addresses than that cannot make the server forget.
MAX_TRACKED = 10_000
OTHER_SOURCES = "other"
# Metadata the web front door adds to the calls it forwards (api/web_gateway.py).
FORWARDED_PEER = "consentry-forwarded-peer"
FORWARDED_BY = "consentry-forwarded-by"


def forwarded_peer(peer: str, metadata: Iterable[tuple[str, str | bytes]], gateway_secret: str | None) -> str:
    """The peer a call's source is judged by: the browser's address when the server's own web
    gateway forwarded the call (and proves it with `gateway_secret`), else the transport peer."""
    if gateway_secret is None:
        return peer
    found = dict(metadata)
    vouched, by = found.get(FORWARDED_PEER), found.get(FORWARDED_BY)
    if isinstance(vouched, str) and isinstance(by, str) and hmac.compare_digest(by, gateway_secret):
        return vouched
    return peer


def source_of(peer: str) -> str:
    """The rate-limited source of a call from gRPC's peer string ("ipv4:10.0.0.7:51234",
    "ipv6:[2001:db8::1]:51234", "unix:...")."""
    kind, _, address = peer.partition(":")
    host = address.rsplit(":", 1)[0].strip("[]").split("%", 1)[0]
    try:
        if kind == "ipv4":
            return f"ipv4:{ipaddress.IPv4Address(host)}"
        if kind == "ipv6":
            return f"ipv6:{ipaddress.IPv6Network(f'{host}/64', strict=False)}"
    except ValueError:
        return "unknown"
    return "unix" if kind == "unix" else "unknown"


class SourceLimits:
    """Failed authentications per source in fixed windows of the service's clock."""

    def __init__(self, failures: int, window_s: float) -> None:
        if failures < 1 or window_s <= 0:
            raise ValueError("the auth failure limit needs at least 1 failure in a positive window")
        self._limit = failures
        self._window_ns = int(window_s * 1_000_000_000)
        self._window = -1
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def blocked_for(self, source: str) -> float:
        """Seconds until `source` may try again; 0 when it may now."""
        now = clock.now_ns()
        with self._lock:
            self._roll(now)
            if self._failures.get(self._key(source), 0) < self._limit:
                return 0.0
        return ((self._window + 1) * self._window_ns - now) / 1_000_000_000

    def failed(self, source: str) -> None:
        with self._lock:
            self._roll(clock.now_ns())
            key = self._key(source)
            self._failures[key] = self._failures.get(key, 0) + 1

    def _key(self, source: str) -> str:
        if source in self._failures or len(self._failures) < MAX_TRACKED:
            return source
        return OTHER_SOURCES

    def _roll(self, now_ns: int) -> None:
        window = now_ns // self._window_ns
        if window != self._window:
            self._window, self._failures = window, {}


class PrincipalLimits:
    """A token bucket per authenticated principal."""

    def __init__(self, per_second: float, burst: int) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("the call rate must be positive and the burst at least 1")
        self._rate = per_second
        self._burst = float(burst)
        self._buckets: dict[str, tuple[float, int]] = {}  # principal -> (tokens, at nanoseconds)
        self._lock = threading.Lock()

    def wait_for(self, principal: str) -> float:
        """Takes a token for one call and returns 0, or, with none left, the seconds until one is."""
        now = clock.now_ns()
        with self._lock:
            tokens = self._tokens(principal, now)
            if tokens < 1:
                self._buckets[principal] = (tokens, now)
                return (1 - tokens) / self._rate
            if len(self._buckets) >= MAX_TRACKED and principal not in self._buckets:
                self._forget_idle(now)
            self._buckets[principal] = (tokens - 1, now)
        return 0.0

    def _tokens(self, principal: str, now_ns: int) -> float:
        tokens, at_ns = self._buckets.get(principal, (self._burst, now_ns))
        return min(self._burst, tokens + (now_ns - at_ns) * self._rate / 1_000_000_000)

    def _forget_idle(self, now_ns: int) -> None:
        """Drops the buckets that have refilled: forgetting them changes nothing."""
        for principal in [p for p in self._buckets if self._tokens(p, now_ns) >= self._burst]:
            del self._buckets[principal]
