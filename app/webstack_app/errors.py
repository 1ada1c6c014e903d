"""Every error answer is JSON {"error": ..., "field": ...}; nothing ever shows a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from webstack_app import metrics

log = logging.getLogger("webstack_app")


class ApiError(Exception):
    """A request the client must change: answered with `status` and the offending field."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.field, self.status = message, field, status


def error_response(message: str, status: int, field: str | None = None) -> tuple[Response, int]:
    return jsonify(error=message, field=field), status


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(exc: ApiError) -> tuple[Response, int]:
        return error_response(exc.message, exc.status, exc.field)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        message = exc.description or exc.name
        if isinstance(exc, RequestEntityTooLarge):
            message = f"request body larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes"
        response, status = error_response(message, exc.code or 500)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response, status

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _db_down(exc: Exception) -> tuple[Response, int]:
        metrics.database_error("unavailable")
        log.warning("database unavailable: %s", exc.__class__.__name__, extra={"detail": str(exc)[:300]})
        response, status = error_response("database unavailable, try again later", 503)
        response.headers["Retry-After"] = "5"
        return response, status

    @app.errorhandler(DBAPIError)
    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        if isinstance(exc, DBAPIError):
            metrics.database_error("query")
        log.exception("unhandled error")
        return error_response("internal server error", 500)
