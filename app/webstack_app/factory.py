"""The application factory: routes, request ids, metrics hooks and error handlers on one Flask app."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from webstack_app import api, db, errors, health, logs, metrics, web
from webstack_app import config as config_mod
from webstack_app.config import Config

log = logging.getLogger("webstack_app")


def create_app(config: Config | None = None) -> Flask:
    """Build the app; `config` defaults to the environment. No database connection is made here."""
    config = config or config_mod.from_env()
    logs.configure(config.log_level)
    app = Flask("webstack_app")
    app.config.update(
        APP_VERSION=config.app_version,
        MAX_CONTENT_LENGTH=config.max_content_length,
        MAX_FORM_MEMORY_SIZE=config.max_content_length,
        WEBSTACK_CONFIG=config,
    )
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    engine = db.make_engine(config)
    app.extensions["webstack_engine"] = engine
    metrics.watch_engine(engine)
    metrics.INFO.labels(config.app_version).set(1)

    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    errors.register(app)

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        g.request_id = logs.valid_request_id(request.headers.get("X-Request-ID")) or logs.new_request_id()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id") or logs.new_request_id()
        # The route template, never the raw path: unknown paths must not explode label cardinality.
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.observe(request.method, route, response.status_code, elapsed)
        metrics.update_pool(engine)
        if response.status_code >= 500:
            log.warning("request failed", extra={"method": request.method, "path": request.path,
                                                  "status": response.status_code})
        return response

    log.debug("app created", extra={"app_version": config.app_version, "db_host": config.db_host,
                                    "db_name": config.db_name})
    return app
