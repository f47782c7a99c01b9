"""The REST half of the SDK: accounts, topics, sessions, connection details, the transcript."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx
from pydantic import BaseModel, ConfigDict

from clients.sdk.errors import ApiError


class Topic(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    title: str
    description: str | None = None
    owner_id: int


class Session(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    title: str
    topic_id: int | None
    status: str
    join_code: str
    owner_id: int


class ConnectionDetails(BaseModel):
    model_config = ConfigDict(extra="allow")

    server_url: str
    session_id: int
    participant_name: str
    participant_token: str
    expires_at: str


class StudyroomClient:
    """An authenticated REST client; ``room()`` opens a session's live room.

    Every method raises :class:`ApiError` for an error status.
    """

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 20.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = await self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            raise ApiError(response.status_code, detail)
        return response.json() if response.content else None

    # accounts

    async def register(
        self, username: str, password: str, display_name: str | None = None
    ) -> dict[str, Any]:
        body = {"username": username, "password": password}
        if display_name:
            body["display_name"] = display_name
        created: dict[str, Any] = await self._call("POST", "/api/users", json=body)
        return created

    async def login(self, username: str, password: str) -> str:
        """Get an access token and use it for every later call."""
        answer = await self._call(
            "POST", "/api/auth/token", data={"username": username, "password": password}
        )
        self.token = str(answer["access_token"])
        return self.token

    # topics and sessions

    async def create_topic(self, title: str, description: str | None = None) -> Topic:
        body: dict[str, Any] = {"title": title}
        if description is not None:
            body["description"] = description
        return Topic.model_validate(await self._call("POST", "/api/topics", json=body))

    async def topics(self) -> list[Topic]:
        return [Topic.model_validate(t) for t in await self._call("GET", "/api/topics")]

    async def create_session(self, topic_id: int, title: str | None = None) -> Session:
        body: dict[str, Any] = {"topic_id": topic_id}
        if title is not None:
            body["title"] = title
        return Session.model_validate(await self._call("POST", "/api/sessions", json=body))

    async def join(self, join_code: str) -> Session:
        answer = await self._call("POST", "/api/sessions/join", json={"join_code": join_code})
        return Session.model_validate(answer)

    async def session(self, session_id: int) -> dict[str, Any]:
        found: dict[str, Any] = await self._call("GET", f"/api/sessions/{session_id}")
        return found

    async def connection_details(self, session_id: int) -> ConnectionDetails:
        answer = await self._call(
            "POST", "/api/connection-details", json={"session_id": session_id}
        )
        return ConnectionDetails.model_validate(answer)

    async def messages(self, session_id: int, after_seq: int = 0) -> list[dict[str, Any]]:
        """The persisted transcript after ``after_seq``, all pages, in seq order."""
        out: list[dict[str, Any]] = []
        while True:
            page = await self._call(
                "GET",
                f"/api/sessions/{session_id}/messages",
                params={"after_seq": after_seq, "limit": 500},
            )
            out.extend(page)
            if len(page) < 500:
                return out
            after_seq = int(page[-1]["seq"])

    def room(self, session_id: int, **options: Any) -> Any:
        """The session's live room (an async context manager and iterator of deliveries)."""
        from clients.sdk.room import Room

        return Room(self, session_id, **options)
