"""The notes JSON API: /api/notes (list with ?limit=&offset=, create) and /api/notes/<id>."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy.engine import Engine

from webstack_app import db
from webstack_app.errors import ApiError

bp = Blueprint("api", __name__, url_prefix="/api")

TITLE_MAX = 200
BODY_MAX = 10_000
LIMIT_DEFAULT, LIMIT_MAX = 20, 100
FIELDS = ("title", "body")


def engine() -> Engine:
    return current_app.extensions["webstack_engine"]


def query_int(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not minimum <= int(raw) <= maximum:
        raise ApiError(f"{name} must be an integer from {minimum} to {maximum}", name)
    return int(raw)


def check_text(name: str, value: Any, maximum: int, required: bool) -> str:
    if not isinstance(value, str):
        raise ApiError(f"{name} must be a string", name)
    if required and not value.strip():
        raise ApiError(f"{name} must not be empty", name)
    if len(value) > maximum:
        raise ApiError(f"{name} must be at most {maximum} characters", name)
    if "\x00" in value:
        raise ApiError(f"{name} must not contain NUL characters", name)
    return value


def validate_note(data: Any, partial: bool) -> dict[str, str]:
    """The fields of a note from a JSON body; PUT (partial) takes any non-empty subset."""
    if not isinstance(data, dict):
        raise ApiError("the request body must be a JSON object", None)
    for key in data:
        if key not in FIELDS:
            raise ApiError(f"unknown field; allowed fields are {', '.join(FIELDS)}", str(key))
    if not partial and "title" not in data:
        raise ApiError("title is required", "title")
    if partial and not data:
        raise ApiError("give at least one of title, body", None)
    out: dict[str, str] = {}
    if "title" in data:
        out["title"] = check_text("title", data["title"], TITLE_MAX, required=True)
    if "body" in data:
        out["body"] = check_text("body", data["body"], BODY_MAX, required=False)
    elif not partial:
        out["body"] = ""
    return out


def json_body() -> Any:
    if not request.is_json:
        raise ApiError("the request body must be JSON (Content-Type: application/json)", None, 415)
    data = request.get_json(silent=True)  # 413 for oversized bodies is raised before parsing
    if data is None:
        raise ApiError("the request body is not valid JSON", None)
    return data


@bp.get("/notes")
def list_notes() -> Response:
    limit = query_int("limit", LIMIT_DEFAULT, 1, LIMIT_MAX)
    offset = query_int("offset", 0, 0, 10**9)
    with engine().connect() as conn:
        items, total = db.list_notes(conn, limit, offset)
    return jsonify(notes=items, total=total, limit=limit, offset=offset)


@bp.post("/notes")
def create_note() -> tuple[Response, int, dict[str, str]]:
    fields = validate_note(json_body(), partial=False)
    with engine().begin() as conn:
        note = db.create_note(conn, fields["title"], fields["body"])
    return jsonify(note), 201, {"Location": url_for("api.get_note", note_id=note["id"])}


@bp.get("/notes/<int:note_id>")
def get_note(note_id: int) -> Response:
    with engine().connect() as conn:
        note = db.get_note(conn, note_id)
    if note is None:
        raise ApiError(f"note {note_id} not found", "id", 404)
    return jsonify(note)


@bp.put("/notes/<int:note_id>")
def update_note(note_id: int) -> Response:
    changes = validate_note(json_body(), partial=True)
    with engine().begin() as conn:
        note = db.update_note(conn, note_id, changes)
    if note is None:
        raise ApiError(f"note {note_id} not found", "id", 404)
    return jsonify(note)


@bp.delete("/notes/<int:note_id>")
def delete_note(note_id: int) -> tuple[str, int]:
    with engine().begin() as conn:
        found = db.delete_note(conn, note_id)
    if not found:
        raise ApiError(f"note {note_id} not found", "id", 404)
    return "", 204
