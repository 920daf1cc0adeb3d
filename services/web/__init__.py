"""The web pages the server's front door serves (api/web_gateway.py): plain ES modules, styles and
markup under `static/`, shipped in the package so that no page loads anything from elsewhere."""

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
