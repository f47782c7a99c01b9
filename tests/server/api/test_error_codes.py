"""Every REST error answer is ``{"detail", "code"}``, with ``code`` from the error catalogue.

One case per family of refusal a client meets, each caused the way a client would cause it;
``detail`` keeps the text it always had. The 503s are in test_errors.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from protocol.errors import REST_ERROR_CODES, ErrorCode
from server.api.routes.users import USERNAME_TAKEN

if TYPE_CHECKING:
    from tests.server.api.conftest import Api


def refused(answer: httpx.Response, status: int, code: ErrorCode) -> Any:
    """The answer's ``detail``, once it is ``status`` with exactly ``detail`` and ``code``."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"detail", "code"} and body["code"] == code.value, body
    return body["detail"]


async def test_401_unauthenticated(api: Api) -> None:
    client = api.client
    assert refused(await client.get("/api/topics"), 401, ErrorCode.UNAUTHENTICATED) == (
        "Not authenticated"
    )
    forged = await client.get("/api/topics", headers={"Authorization": "Bearer forged"})
    assert refused(forged, 401, ErrorCode.UNAUTHENTICATED) == "Could not validate credentials"
    login = await client.post("/api/auth/token", data={"username": "nobody", "password": "x"})
    assert refused(login, 401, ErrorCode.UNAUTHENTICATED) == "Incorrect username or password"
    assert login.headers["www-authenticate"] == "Bearer"


async def test_403_forbidden(api: Api) -> None:
    owner, stranger = await api.signup("owner"), await api.signup("stranger")
    session = await api.session(owner, (await api.topic(owner))["id"])
    read = await api.client.get(f"/api/sessions/{session['id']}", headers=stranger.headers)
    assert refused(read, 403, ErrorCode.FORBIDDEN) == "not a member of this session"
    await api.join(stranger, session["join_code"])
    end = await api.client.post(f"/api/sessions/{session['id']}/end", headers=stranger.headers)
    assert refused(end, 403, ErrorCode.FORBIDDEN) == "only the session's owner can end it"


async def test_404_not_found(api: Api) -> None:
    who = await api.signup()
    missing = await api.client.get("/api/topics/999999999", headers=who.headers)
    assert refused(missing, 404, ErrorCode.NOT_FOUND) == "topic not found"
    code = await api.client.post(
        "/api/sessions/join", json={"join_code": "NOPE2345"}, headers=who.headers
    )
    assert refused(code, 404, ErrorCode.NOT_FOUND) == "unknown join code"
    # A path no route has: the router's own 404 gets the same shape.
    assert refused(await api.client.get("/api/no-such-thing"), 404, ErrorCode.NOT_FOUND)


async def test_405_method_not_allowed(api: Api) -> None:
    answer = await api.client.delete("/api/topics")
    assert refused(answer, 405, ErrorCode.METHOD_NOT_ALLOWED)
    assert answer.headers["allow"] == "GET, POST"
    # A literal path is not read as an id of the template beside it (PATCH /api/topics/{id}).
    who = await api.signup("who")
    for method in ("PATCH", "DELETE"):
        current = await api.client.request(method, "/api/topics/current", headers=who.headers)
        assert refused(current, 405, ErrorCode.METHOD_NOT_ALLOWED)
        assert current.headers["allow"] == "GET"


async def test_409_session_ended_and_username_taken(api: Api) -> None:
    owner, late = await api.signup("owner"), await api.signup("late")
    session = await api.session(owner, (await api.topic(owner))["id"])
    ended = await api.client.post(f"/api/sessions/{session['id']}/end", headers=owner.headers)
    assert ended.status_code == 200
    join = await api.client.post(
        "/api/sessions/join", json={"join_code": session["join_code"]}, headers=late.headers
    )
    assert refused(join, 409, ErrorCode.SESSION_ENDED) == "session has ended"
    details = await api.client.post(
        "/api/connection-details", json={"session_id": session["id"]}, headers=owner.headers
    )
    assert refused(details, 409, ErrorCode.SESSION_ENDED) == "session has ended"
    again = await api.client.post(
        "/api/users", json={"username": owner.username, "password": owner.password}
    )
    assert refused(again, 409, ErrorCode.USERNAME_TAKEN) == USERNAME_TAKEN


async def test_413_too_large(api: Api) -> None:
    who = await api.signup()
    body = b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    answer = await api.client.post(
        "/api/topics",
        content=body,
        headers={**who.headers, "content-type": "application/json"},
    )
    assert "larger than" in refused(answer, 413, ErrorCode.TOO_LARGE)


async def test_415_unsupported_media_type(api: Api) -> None:
    who = await api.signup()
    topic = await api.topic(who)
    not_a_form = await api.client.post(
        f"/api/topics/{topic['id']}/materials", json={"file": "notes"}, headers=who.headers
    )
    assert "multipart/form-data" in refused(not_a_form, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    unreadable = await api.client.post(
        f"/api/topics/{topic['id']}/materials",
        files={"file": ("diagram.md", b"\x89PNG\r\n\x1a\n" + bytes(64), "text/markdown")},
        headers=who.headers,
    )
    assert refused(unreadable, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE)


async def test_422_validation_failed_keeps_the_list_of_problems(api: Api) -> None:
    who = await api.signup()
    answer = await api.client.post("/api/topics", json={}, headers=who.headers)
    detail = refused(answer, 422, ErrorCode.VALIDATION_FAILED)
    assert isinstance(detail, list) and detail[0]["loc"] == ["body", "title"]
    assert {"loc", "msg", "type"} <= set(detail[0])
    query = await api.client.get("/api/topics/0", headers=who.headers)
    assert refused(query, 422, ErrorCode.VALIDATION_FAILED)[0]["loc"] == ["path", "topic_id"]


async def test_the_openapi_document_lists_the_codes(api: Api) -> None:
    schemas = (await api.client.get("/openapi.json")).json()["components"]["schemas"]
    rest_codes = [code.value for code in REST_ERROR_CODES]
    assert schemas["ErrorDetail"]["properties"]["code"]["enum"] == rest_codes
    assert "code" in schemas["ErrorDetail"]["required"]
    validation = schemas["HTTPValidationError"]
    assert validation["properties"]["code"]["const"] == ErrorCode.VALIDATION_FAILED.value
    assert set(validation["required"]) == {"detail", "code"}


async def test_400_malformed_request(api: Api) -> None:
    who = await api.signup()
    topic = await api.topic(who)
    answer = await api.client.post(
        f"/api/topics/{topic['id']}/materials",
        content=b"--x\r\n",
        headers={**who.headers, "content-type": "multipart/form-data"},
    )
    assert refused(answer, 400, ErrorCode.MALFORMED_REQUEST) == "multipart body without a boundary"
