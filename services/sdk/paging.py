"""Paged list calls: every page, following `next_page_token` until the server gives none."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


def pages(call: Callable[..., Any], request: Callable[[str], Any], **call_options: Any) -> Iterator[Any]:
    """Each response of `call` in turn, `request(token)` making the next request ("" first)."""
    token = ""
    while True:
        page = call(request(token), **call_options)
        yield page
        token = page.next_page_token
        if not token:
            return
