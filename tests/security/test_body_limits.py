"""Request bodies are bounded: small JSON and form bodies by ``request_max_bytes``, material
uploads by ``upload_max_bytes`` alone."""

from __future__ import annotations

from typing import Any

import httpx


async def test_an_oversized_json_body_is_refused_with_413(make_server: Any) -> None:
    server = await make_server(request_max_bytes=64 * 1024)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        padding = "x" * (2 * 1024 * 1024)
        body = f'{{"username": "ada", "password": "{padding}"}}'
        answer = await http.post(
            "/api/users", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 413
        assert "detail" in answer.json() and answer.json()["code"] == "too_large"
        # Without a declared length the body is counted as it arrives.

        async def chunks() -> Any:
            for _ in range(64):
                yield b"x" * 4096

        streamed = await http.post(
            "/api/users", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert "larger than" in streamed.json()["detail"]
        assert streamed.json()["code"] == "too_large"
        # Under the limit a body is read and judged on its content.
        small = await http.post("/api/users", json={"username": "ada", "password": "p" * 1000})
        assert small.status_code in (201, 422)


async def test_the_limit_does_not_apply_to_uploads(make_server: Any) -> None:
    server = await make_server(request_max_bytes=64 * 1024)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        await http.post("/api/users", json={"username": "ada", "password": "correct horse"})
        token = (
            await http.post(
                "/api/auth/token", data={"username": "ada", "password": "correct horse"}
            )
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        topic = (await http.post("/api/topics", json={"title": "Big notes"}, headers=auth)).json()
        notes = "# Notes\n\n" + "A line about graphs and their trees.\n" * 20_000  # ~740 KB
        uploaded = await http.post(
            f"/api/topics/{topic['id']}/materials",
            files={"file": ("notes.md", notes.encode(), "text/markdown")},
            headers=auth,
        )
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["size_bytes"] == len(notes.encode())
