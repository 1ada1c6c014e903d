"""webstack_app: the notes service behind nginx, on MySQL. `create_app()` builds it from the environment.

Importing the package stays light (no Flask, SQLAlchemy or prometheus_client): gunicorn's config
imports it in the master, which must choose the metrics mode before prometheus_client loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from webstack_app.config import Config, ConfigError

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["Config", "ConfigError", "create_app"]


def create_app(config: Config | None = None) -> Flask:
    """Build the app; `config` defaults to the environment. No database connection is made here."""
    from webstack_app.factory import create_app as build

    return build(config)
