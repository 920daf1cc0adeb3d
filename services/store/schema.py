"""Brings a database to the current schema with the Alembic migrations shipped in the package."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from consentry.services.store.db import Database

SCRIPT_LOCATION = "consentry.services.store:migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(db: Database) -> None:
    config = alembic_config(db.url)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
