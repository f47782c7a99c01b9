"""The REST half of the SDK: accounts, topics, sessions, materials, goals, progress, reports."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from clients.sdk.errors import ApiError
from clients.sdk.models import (
    ConceptProgress,
    ConnectionDetails,
    Goal,
    HistoryBucket,
    Material,
    Member,
    Metric,
    ReviewSchedule,
    SearchHit,
    Session,
    SessionReport,
    Topic,
    User,
)
from clients.sdk.room import Room
from clients.sdk.upload import MultipartFile, ProgressCallback


class StudyroomClient:
    """An authenticated REST client; ``room()`` opens a session's live room.

    Every method raises :class:`ApiError` for an error status.
    """

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 20.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        # Set by login(): when the access token stops working.
        self.token_expires_at: datetime | None = None
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
            raise _error(response)
        return response.json() if response.content else None

    # accounts

    async def register(self, username: str, password: str, display_name: str | None = None) -> User:
        body = {"username": username, "password": password}
        if display_name:
            body["display_name"] = display_name
        return User.model_validate(await self._call("POST", "/api/users", json=body))

    async def login(self, username: str, password: str) -> str:
        """Get an access token and use it for every later call."""
        answer = await self._call(
            "POST", "/api/auth/token", data={"username": username, "password": password}
        )
        self.token = str(answer["access_token"])
        self.token_expires_at = datetime.now(UTC) + timedelta(seconds=int(answer["expires_in"]))
        return self.token

    async def me(self) -> User:
        """The user the access token belongs to."""
        return User.model_validate(await self._call("GET", "/api/users/me"))

    async def logout(self) -> None:
        """Revoke this client's access token on the server (every process refuses it now)."""
        await self._call("POST", "/api/auth/logout")
        self.token = None

    async def rename(self, display_name: str) -> User:
        """Change the name the others see."""
        answer = await self._call("PATCH", "/api/users/me", json={"display_name": display_name})
        return User.model_validate(answer)

    async def change_password(self, current_password: str, new_password: str) -> User:
        body = {"password": new_password, "current_password": current_password}
        return User.model_validate(await self._call("PATCH", "/api/users/me", json=body))

    async def delete_account(self, password: str) -> None:
        """Delete your account for good: your topics, materials, goals and progress go; what
        you said in other people's sessions stays, shown as a deleted user."""
        await self._call("DELETE", "/api/users/me", json={"password": password})
        self.token = None

    async def export(self) -> dict[str, Any]:
        """Everything the server stores about you, as one JSON document."""
        answer: dict[str, Any] = await self._call("GET", "/api/users/me/export")
        return answer

    # topics and sessions

    async def create_topic(self, title: str, description: str | None = None) -> Topic:
        body: dict[str, Any] = {"title": title}
        if description is not None:
            body["description"] = description
        return Topic.model_validate(await self._call("POST", "/api/topics", json=body))

    async def topics(self) -> list[Topic]:
        return [Topic.model_validate(t) for t in await self._call("GET", "/api/topics")]

    async def topic(self, topic_id: int) -> Topic:
        return Topic.model_validate(await self._call("GET", f"/api/topics/{topic_id}"))

    async def update_topic(
        self, topic_id: int, *, title: str | None = None, description: str | None = None
    ) -> Topic:
        """Rename a topic you own or change its description; its rooms are told."""
        body = {k: v for k, v in (("title", title), ("description", description)) if v is not None}
        answer = await self._call("PATCH", f"/api/topics/{topic_id}", json=body)
        return Topic.model_validate(answer)

    async def delete_topic(self, topic_id: int) -> None:
        """Delete a topic you own, with its materials, goals and progress; its sessions stay."""
        await self._call("DELETE", f"/api/topics/{topic_id}")

    async def sessions(
        self,
        *,
        status: Literal["active", "ended"] | None = None,
        topic_id: int | None = None,
        limit: int | None = None,
        before_id: int | None = None,
    ) -> list[Session]:
        """Your sessions, newest first; page with ``before_id`` = the last id of a page."""
        wanted = {"status": status, "topic_id": topic_id, "limit": limit, "before_id": before_id}
        params = {k: v for k, v in wanted.items() if v is not None}
        rows = await self._call("GET", "/api/sessions", params=params)
        return [Session.model_validate(row) for row in rows]

    async def create_session(self, topic_id: int, title: str | None = None) -> Session:
        body: dict[str, Any] = {"topic_id": topic_id}
        if title is not None:
            body["title"] = title
        return Session.model_validate(await self._call("POST", "/api/sessions", json=body))

    async def join(self, join_code: str) -> Session:
        answer = await self._call("POST", "/api/sessions/join", json={"join_code": join_code})
        return Session.model_validate(answer)

    async def session(self, session_id: int) -> Session:
        """The session; its ``members`` and ``topic`` are kept as extra fields."""
        return Session.model_validate(await self._call("GET", f"/api/sessions/{session_id}"))

    async def current_session(self) -> Session | None:
        """The caller's most recently active session that has not ended, if any."""
        try:
            return Session.model_validate(await self._call("GET", "/api/sessions/current"))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def change_topic(self, session_id: int, topic_id: int) -> Session:
        answer = await self._call(
            "PUT", f"/api/sessions/{session_id}/topic", json={"topic_id": topic_id}
        )
        return Session.model_validate(answer)

    async def update_session(
        self,
        session_id: int,
        *,
        title: str | None = None,
        tutor_mode: Literal["socratic", "explain", "off"] | None = None,
        locked: bool | None = None,
    ) -> Session:
        """Hosts: rename the session, set how the tutor teaches, or lock it against new joins."""
        wanted = {"title": title, "tutor_mode": tutor_mode, "locked": locked}
        body = {k: v for k, v in wanted.items() if v is not None}
        answer = await self._call("PATCH", f"/api/sessions/{session_id}", json=body)
        return Session.model_validate(answer)

    async def members(self, session_id: int) -> list[Member]:
        """The session's members in joining order, with their roles."""
        answer = await self._call("GET", f"/api/sessions/{session_id}")
        return [Member.model_validate(m) for m in answer["members"]]

    async def set_role(
        self, session_id: int, user_id: int, role: Literal["host", "member"]
    ) -> Member:
        """Hosts: make a member a host, or a host a member again."""
        answer = await self._call(
            "PUT", f"/api/sessions/{session_id}/members/{user_id}", json={"role": role}
        )
        return Member.model_validate(answer)

    async def remove_member(self, session_id: int, user_id: int) -> None:
        """Hosts: remove a member, who may not join again; their sockets close with 4403."""
        await self._call("DELETE", f"/api/sessions/{session_id}/members/{user_id}")

    async def leave(self, session_id: int) -> None:
        """Leave a session (you may rejoin with its code)."""
        me = await self.me()
        await self.remove_member(session_id, me.id)

    async def rotate_join_code(self, session_id: int) -> str:
        """Hosts: a new join code; the old one stops working at once."""
        answer = await self._call("POST", f"/api/sessions/{session_id}/join-code")
        return str(answer["join_code"])

    async def end_session(self, session_id: int) -> Session:
        return Session.model_validate(await self._call("POST", f"/api/sessions/{session_id}/end"))

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
            # The server may cap pages below the limit asked for: only an empty page ends it.
            if not page:
                return out
            out.extend(page)
            after_seq = int(page[-1]["seq"])

    # study materials

    async def upload(
        self,
        topic_id: int,
        path: str | Path,
        *,
        filename: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Material:
        """Upload a PDF, Markdown or text file, streamed from disk.

        ``on_progress(sent, total)`` is called as the body is sent. Uploading a file the topic
        already holds answers the existing material.
        """
        part = MultipartFile(Path(path), filename=filename)
        answer = await self._call(
            "POST",
            f"/api/topics/{topic_id}/materials",
            content=part.body(on_progress),
            headers=dict(part.headers),
        )
        return Material.model_validate(answer)

    async def materials(self, topic_id: int) -> list[Material]:
        rows = await self._call("GET", f"/api/topics/{topic_id}/materials")
        return [Material.model_validate(row) for row in rows]

    async def material(self, material_id: int) -> Material:
        return Material.model_validate(await self._call("GET", f"/api/materials/{material_id}"))

    async def delete_material(self, material_id: int) -> None:
        await self._call("DELETE", f"/api/materials/{material_id}")

    async def download(self, material_id: int, path: str | Path) -> int:
        """Save the material's file, as uploaded, to ``path``; returns the bytes written.

        Streamed: the file is never held in memory. A failed download leaves no file behind.
        """
        target = Path(path)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"/api/materials/{material_id}/content"
        async with self.http.stream("GET", url, headers=headers) as response:
            if response.status_code >= 400:
                await response.aread()
                raise _error(response)
            written = 0
            # File work in a thread: a slow disk must not stall the caller's event loop.
            out = await asyncio.to_thread(target.open, "wb")
            try:
                async for chunk in response.aiter_bytes():
                    await asyncio.to_thread(out.write, chunk)
                    written += len(chunk)
            except BaseException:
                await asyncio.to_thread(out.close)
                await asyncio.to_thread(target.unlink, missing_ok=True)
                raise
            await asyncio.to_thread(out.close)
        return written

    async def search(self, topic_id: int, query: str, limit: int = 5) -> list[SearchHit]:
        rows = await self._call(
            "GET", f"/api/topics/{topic_id}/search", params={"q": query, "limit": limit}
        )
        return [SearchHit.model_validate(row) for row in rows]

    # goals and progress

    async def create_goal(
        self,
        topic_id: int,
        title: str,
        metric: Metric,
        target: float,
        due_date: date | None = None,
        since: datetime | None = None,
    ) -> Goal:
        """A goal counting your activity on the topic from ``since`` (default: now) on."""
        body: dict[str, Any] = {
            "topic_id": topic_id,
            "title": title,
            "metric": metric,
            "target": target,
        }
        if due_date is not None:
            body["due_date"] = due_date.isoformat()
        if since is not None:
            body["since"] = since.isoformat()
        return Goal.model_validate(await self._call("POST", "/api/goals", json=body))

    async def goals(self, topic_id: int | None = None) -> list[Goal]:
        params = {} if topic_id is None else {"topic_id": topic_id}
        return [
            Goal.model_validate(g) for g in await self._call("GET", "/api/goals", params=params)
        ]

    async def update_goal(
        self,
        goal_id: int,
        *,
        title: str | None = None,
        target: float | None = None,
        due_date: date | None = None,
        since: datetime | None = None,
    ) -> Goal:
        body: dict[str, Any] = {}
        if title is not None:
            body["title"] = title
        if target is not None:
            body["target"] = target
        if due_date is not None:
            body["due_date"] = due_date.isoformat()
        if since is not None:
            body["since"] = since.isoformat()
        return Goal.model_validate(await self._call("PATCH", f"/api/goals/{goal_id}", json=body))

    async def delete_goal(self, goal_id: int) -> None:
        await self._call("DELETE", f"/api/goals/{goal_id}")

    async def progress(self, topic_id: int | None = None) -> list[ConceptProgress]:
        params = {} if topic_id is None else {"topic_id": topic_id}
        rows = await self._call("GET", "/api/progress", params=params)
        return [ConceptProgress.model_validate(row) for row in rows]

    # reports

    async def review_schedule(self, session_id: int) -> ReviewSchedule:
        """How many of the caller's quiz cards a ``review`` in the room would pose now."""
        answer = await self._call("GET", f"/api/sessions/{session_id}/review")
        return ReviewSchedule.model_validate(answer)

    async def report(self, session_id: int) -> SessionReport:
        answer = await self._call("GET", f"/api/sessions/{session_id}/report")
        return SessionReport.model_validate(answer)

    async def history(
        self,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        bucket: Literal["day", "week"] = "day",
    ) -> list[HistoryBucket]:
        """The caller's study history (default: the last 30 days), one row per bucket."""
        params: dict[str, str] = {"bucket": bucket}
        if start is not None:
            params["from"] = start.isoformat()
        if end is not None:
            params["to"] = end.isoformat()
        rows = await self._call("GET", "/api/metrics/history", params=params)
        return [HistoryBucket.model_validate(row) for row in rows]

    # the live room

    def room(self, session_id: int, **options: Any) -> Room:
        """The session's live room (an async context manager and iterator of deliveries)."""
        return Room(self, session_id, **options)


def _error(response: httpx.Response) -> ApiError:
    """The :class:`ApiError` an error answer stands for (its ``detail`` and ``code``)."""
    code = None
    try:
        body = response.json()
        detail, code = body.get("detail"), body.get("code")
    except ValueError:
        detail = response.text
    return ApiError(response.status_code, detail, code if isinstance(code, str) else None)
