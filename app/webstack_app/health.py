"""Probes and introspection: /healthz (no database), /readyz, /version, /metrics."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from webstack_app import db, metrics

bp = Blueprint("health", __name__)
log = logging.getLogger("webstack_app.health")


@bp.get("/healthz")
def healthz() -> Response:
    # Liveness: the process answers. Never touches the database, so a DB outage restarts nothing.
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    try:
        db.ping(current_app.extensions["webstack_engine"])
    except SQLAlchemyError as exc:
        log.warning("readiness check failed: database unreachable", extra={"detail": str(exc)[:300]})
        metrics.database_reached(False)
        return jsonify(status="unavailable", error="database unreachable", field=None), 503
    metrics.database_reached(True)
    return jsonify(status="ok"), 200


@bp.get("/version")
def version() -> Response:
    schema = None
    try:
        with current_app.extensions["webstack_engine"].connect() as conn:
            schema = db.schema_version(conn)
    except SQLAlchemyError:  # the app version is still worth answering while the DB is away
        log.warning("schema version unavailable: database unreachable")
    return jsonify(app_version=current_app.config["APP_VERSION"], schema_version=schema)


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    metrics.update_pool(current_app.extensions["webstack_engine"])
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)
