"""Operations endpoints, request metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

CONTRACT_PATHS = {
    "/api/users": {"post"},
    "/api/users/me": {"get"},
    "/api/auth/token": {"post"},
    "/api/topics": {"get", "post"},
    "/api/topics/current": {"get"},
    "/api/topics/{topic_id}": {"get"},
    "/api/sessions": {"post"},
    "/api/sessions/join": {"post"},
    "/api/sessions/current": {"get"},
    "/api/sessions/{session_id}": {"get"},
    "/api/sessions/{session_id}/topic": {"put"},
    "/api/sessions/{session_id}/end": {"post"},
    "/api/sessions/{session_id}/messages": {"get"},
    "/api/connection-details": {"post"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/metrics": {"get"},
    "/asyncapi.json": {"get"},
}


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}


def _requests(text: str) -> dict[tuple[str, str, str], float]:
    counts: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "studyroom_http_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                labels = sample.labels
                counts[(labels["method"], labels["route"], labels["status"])] = sample.value
    return counts


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/sessions/12345")
    await client.get("/api/sessions/67890")
    await client.get("/no/such/page")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    counts = _requests(r.text)
    # Templates, not paths: ids never become label values.
    assert counts[("GET", "/api/sessions/{session_id}", "401")] >= 2
    assert counts[("GET", "unmatched", "404")] >= 1
    assert not any("12345" in route for _, route, _ in counts)
    assert "studyroom_http_request_seconds_bucket" in r.text


async def test_asyncapi_document(client: httpx.AsyncClient) -> None:
    r = await client.get("/asyncapi.json")
    assert r.status_code == 200
    assert str(r.json()["asyncapi"]).startswith("3.")


async def test_openapi_documents_the_contract(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    paths: dict[str, dict[str, Any]] = r.json()["paths"]
    for path, methods in CONTRACT_PATHS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), path
    detail = paths["/api/sessions/{session_id}"]["get"]["responses"]
    assert {"200", "401", "403", "404"} <= set(detail)
    created = paths["/api/users"]["post"]["responses"]
    assert {"201", "409", "422"} <= set(created)
    # The bearer scheme is documented, so /docs can log in.
    schemes = r.json()["components"]["securitySchemes"]
    assert any(s.get("type") == "oauth2" for s in schemes.values())


async def test_metrics_report_event_loop_lag(client: httpx.AsyncClient) -> None:
    # The monitor samples every 50 ms from the app's start: a scrape after a moment has some.
    await asyncio.sleep(0.2)
    r = await client.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    lag = families["studyroom_event_loop_lag_seconds"]
    count = next(s.value for s in lag.samples if s.name.endswith("_count"))
    assert count >= 1
