"""Rate limits on the service's clock: a principal's token bucket, a source's failure count per
window, and what counts as one source."""

from __future__ import annotations

import pytest

from consentry.services import clock
from consentry.services.api.rate_limits import PrincipalLimits, SourceLimits, source_of

SECOND = 1_000_000_000


@pytest.fixture
def frozen():
    """The service clock, held still until a test moves it (now[0], in nanoseconds)."""
    now = [1_800_000_000 * SECOND]
    previous = clock.set_source(lambda: now[0])
    try:
        yield now
    finally:
        clock.set_source(previous)


@pytest.mark.parametrize(("peer", "source"), [
    ("ipv4:10.1.2.3:51234", "ipv4:10.1.2.3"),
    ("ipv6:[2001:db8:1:2:aaaa::1]:51234", "ipv6:2001:db8:1:2::/64"),
    ("ipv6:[2001:db8:1:2:bbbb::7]:40000", "ipv6:2001:db8:1:2::/64"),  # the same subscriber
    ("ipv6:[fe80::1%eth0]:5", "ipv6:fe80::/64"),
    ("unix:/run/consentry.sock", "unix"),
    ("ipv4:not-an-address:1", "unknown"),
    ("something-else", "unknown"),
])
def test_a_source_is_the_peer_address_never_the_port(peer, source):
    assert source_of(peer) == source


def test_a_principal_gets_its_burst_then_its_rate(frozen):
    limits = PrincipalLimits(per_second=10, burst=5)
    assert [limits.wait_for("org:a") for _ in range(5)] == [0.0] * 5
    assert limits.wait_for("org:a") == pytest.approx(0.1)
    assert limits.wait_for("org:b") == 0.0  # buckets are per principal
    frozen[0] += SECOND // 10
    assert limits.wait_for("org:a") == 0.0
    assert limits.wait_for("org:a") > 0


def test_a_source_is_refused_from_its_nth_failure_until_the_window_ends(frozen):
    limits = SourceLimits(failures=3, window_s=60)
    frozen[0] -= frozen[0] % (60 * SECOND)  # the start of a window
    for _ in range(3):
        assert limits.blocked_for("ipv4:10.0.0.1") == 0.0
        limits.failed("ipv4:10.0.0.1")
    frozen[0] += 20 * SECOND
    assert limits.blocked_for("ipv4:10.0.0.1") == pytest.approx(40)
    assert limits.blocked_for("ipv4:10.0.0.2") == 0.0
    frozen[0] += 40 * SECOND
    assert limits.blocked_for("ipv4:10.0.0.1") == 0.0
