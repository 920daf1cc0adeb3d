"""A TCP listener that accepts connections and never says a word: a server that hangs (the
clients' deadline tests)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """Its HOST:PORT, while it listens; every connection it took is closed on the way out."""
    held: list[socket.socket] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        accepting = threading.Thread(target=lambda: held.extend(iter(lambda: listener.accept()[0], None)),
                                     daemon=True)
        accepting.start()
        try:
            yield f"127.0.0.1:{listener.getsockname()[1]}"
        finally:
            for connection in held:
                connection.close()
