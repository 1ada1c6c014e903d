"""The notes JSON API through Flask's test client, on a real MariaDB database."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.app, pytest.mark.usefixtures("empty_notes")]

NOTE_KEYS = {"id", "title", "body", "created_at", "updated_at", "revision"}


def create(client, title="t", body="b"):
    res = client.post("/api/notes", json={"title": title, "body": body})
    assert res.status_code == 201, res.get_json()
    return res.get_json()


def test_crud_round_trip(client):
    note = create(client, "first", "hello")
    assert set(note) == NOTE_KEYS
    assert note["revision"] == 1 and note["created_at"] == note["updated_at"]
    assert note["created_at"].endswith("Z")

    got = client.get(f"/api/notes/{note['id']}")
    assert got.status_code == 200 and got.get_json() == note

    upd = client.put(f"/api/notes/{note['id']}", json={"body": "changed"})
    assert upd.status_code == 200
    updated = upd.get_json()
    assert (updated["title"], updated["body"], updated["revision"]) == ("first", "changed", 2)
    assert updated["updated_at"] > note["updated_at"] and updated["created_at"] == note["created_at"]

    listed = client.get("/api/notes").get_json()
    assert listed["total"] == 1 and listed["notes"] == [updated]

    assert client.delete(f"/api/notes/{note['id']}").status_code == 204
    gone = client.get(f"/api/notes/{note['id']}")
    assert gone.status_code == 404
    assert gone.get_json() == {"error": f"note {note['id']} not found", "field": "id"}
    assert client.get("/api/notes").get_json()["total"] == 0


def test_create_answers_location_and_body_defaults_to_empty(client):
    res = client.post("/api/notes", json={"title": "only a title"})
    assert res.status_code == 201
    assert res.headers["Location"] == f"/api/notes/{res.get_json()['id']}"
    assert res.get_json()["body"] == ""


def test_pagination_edges(client):
    ids = [create(client, f"n{i}")["id"] for i in range(5)]
    newest_first = list(reversed(ids))

    def page(query):
        res = client.get(f"/api/notes{query}")
        assert res.status_code == 200, res.get_json()
        return res.get_json()

    first = page("?limit=2")
    assert [n["id"] for n in first["notes"]] == newest_first[:2]
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert [n["id"] for n in page("?limit=2&offset=2")["notes"]] == newest_first[2:4]
    assert [n["id"] for n in page("?limit=2&offset=4")["notes"]] == newest_first[4:]
    assert page("?limit=2&offset=5")["notes"] == []
    assert page("?offset=1000")["notes"] == []
    assert [n["id"] for n in page("?limit=1")["notes"]] == newest_first[:1]
    assert len(page("?limit=100")["notes"]) == 5
    assert page("")["limit"] == 20


@pytest.mark.parametrize(("query", "field"), [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=-1", "limit"), ("limit=abc", "limit"),
    ("limit=", "limit"), ("limit=1.5", "limit"), ("offset=-1", "offset"), ("offset=x", "offset"),
])
def test_pagination_rejects_bad_parameters(client, query, field):
    res = client.get(f"/api/notes?{query}")
    assert res.status_code == 400
    body = res.get_json()
    assert body["field"] == field and field in body["error"]


@pytest.mark.parametrize(("payload", "field", "message"), [
    ({}, "title", "required"),
    ({"body": "no title"}, "title", "required"),
    ({"title": ""}, "title", "empty"),
    ({"title": "   "}, "title", "empty"),
    ({"title": None}, "title", "string"),
    ({"title": 5}, "title", "string"),
    ({"title": ["a"]}, "title", "string"),
    ({"title": "x" * 201}, "title", "at most 200"),
    ({"title": "ok", "body": 3}, "body", "string"),
    ({"title": "ok", "body": "x" * 10_001}, "body", "at most 10000"),
    ({"title": "nul\x00byte"}, "title", "NUL"),
    ({"title": "ok", "colour": "red"}, "colour", "unknown field"),
    (["title"], None, "JSON object"),
    ("just a string", None, "JSON object"),
])
def test_create_validation_errors_name_the_field(client, payload, field, message):
    res = client.post("/api/notes", json=payload)
    assert res.status_code == 400
    body = res.get_json()
    assert body["field"] == field and message in body["error"]
    assert client.get("/api/notes").get_json()["total"] == 0  # nothing half-written


def test_boundaries_are_accepted(client):
    note = create(client, "x" * 200, "y" * 10_000)
    assert len(note["title"]) == 200 and len(note["body"]) == 10_000


def test_update_validation_and_unknown_ids(client):
    note = create(client)
    for payload, field in [({}, None), ({"title": ""}, "title"), ({"id": 7}, "id"), ({"body": 1}, "body")]:
        res = client.put(f"/api/notes/{note['id']}", json=payload)
        assert res.status_code == 400 and res.get_json()["field"] == field, payload
    assert client.get(f"/api/notes/{note['id']}").get_json() == note  # unchanged
    for method in ("get", "delete"):
        assert getattr(client, method)("/api/notes/999999").status_code == 404
    assert client.put("/api/notes/999999", json={"title": "x"}).status_code == 404
    assert client.get("/api/notes/99999999999999999999999").status_code == 404
    assert client.get("/api/notes/abc").get_json()["error"]  # routing 404 is JSON too


def test_malformed_and_non_json_bodies(client):
    res = client.post("/api/notes", data="{not json", content_type="application/json")
    assert res.status_code == 400 and "not valid JSON" in res.get_json()["error"]
    res = client.post("/api/notes", data="title=x", content_type="application/x-www-form-urlencoded")
    assert res.status_code == 415 and res.get_json()["field"] is None


def test_oversized_body_is_413_json(app_with):
    client = app_with(MAX_CONTENT_LENGTH="2048").test_client()
    res = client.post("/api/notes", json={"title": "big", "body": "x" * 4000})
    assert res.status_code == 413
    assert res.get_json() == {"error": "request body larger than 2048 bytes", "field": None}
    assert client.post("/api/notes", json={"title": "small"}).status_code == 201


def test_unicode_round_trips(client):
    title = "Zürich 東京 🚀 مرحبا"
    # ZWJ emoji sequence, combining accent, right-to-left mark, astral-plane letters, zero-width space.
    body = ("emoji \U0001F469\u200d\U0001F469\u200d\U0001F467 e\u0301 "
            "\u200f\u05e9\u05dc\u05d5\u05dd \U0001D518\U0001D52B x\u200by")
    note = create(client, title, body)
    assert (note["title"], note["body"]) == (title, body)
    assert client.get(f"/api/notes/{note['id']}").get_json()["body"] == body
    raw = client.get(f"/api/notes/{note['id']}").get_data(as_text=True)
    assert "🚀" in raw  # served as UTF-8, not \u escapes


@pytest.mark.parametrize("text", [
    "'; DROP TABLE notes; --",
    "\" OR 1=1 --",
    "Robert'); DELETE FROM notes WHERE ('1'='1",
    "\\'; SELECT SLEEP(5); --",
    "%_%' UNION SELECT version_num FROM alembic_version --",
])
def test_sql_injection_strings_are_stored_literally(client, mariadb_server, database, text):
    keep = create(client, "keep me")
    note = create(client, text, text)
    assert client.get(f"/api/notes/{note['id']}").get_json()["title"] == text
    assert client.put(f"/api/notes/{note['id']}", json={"body": text + "!"}).get_json()["body"] == text + "!"
    assert client.get("/api/notes").get_json()["total"] == 2
    assert client.get(f"/api/notes/{keep['id']}").status_code == 200
    assert mariadb_server.sql("SELECT version_num FROM alembic_version", database=database).strip()


def test_method_not_allowed_is_json(client):
    res = client.patch("/api/notes")
    assert res.status_code == 405 and res.is_json
    assert "GET" in res.headers["Allow"]


def test_database_errors_never_leak_a_trace(client, mariadb_server, database):
    mariadb_server.sql("RENAME TABLE notes TO notes_away", database=database)
    try:
        res = client.get("/api/notes")
    finally:
        mariadb_server.sql("RENAME TABLE notes_away TO notes", database=database)
    assert res.status_code == 500
    assert res.get_json() == {"error": "internal server error", "field": None}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1,
                     max_size=200).filter(str.strip),
       body=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=300))
def test_any_text_round_trips_exactly(client, title, body):
    note = create(client, title, body)
    got = client.get(f"/api/notes/{note['id']}").get_json()
    assert (got["title"], got["body"]) == (title, body)
    client.delete(f"/api/notes/{note['id']}")
