"""The small server-rendered page at /: lists notes and adds one, autoescaped by Jinja."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from webstack_app import db
from webstack_app.api import check_text
from webstack_app.errors import ApiError

bp = Blueprint("web", __name__)
PAGE_SIZE = 50


def page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    with current_app.extensions["webstack_engine"].connect() as conn:
        items, total = db.list_notes(conn, PAGE_SIZE, 0)
    return render_template("index.html", notes=items, total=total, error=error,
                           version=current_app.config["APP_VERSION"]), status


@bp.get("/")
def index() -> tuple[str, int]:
    return page()


@bp.post("/")
def add() -> Response | tuple[str, int]:
    try:
        title = check_text("title", request.form.get("title", ""), 200, required=True)
        body = check_text("body", request.form.get("body", ""), 10_000, required=False)
    except ApiError as exc:
        return page(exc.message, 400)
    with current_app.extensions["webstack_engine"].begin() as conn:
        db.create_note(conn, title, body)
    # Post/redirect/get: reloading the page does not add the note twice.
    return redirect(url_for("web.index"), code=303)
