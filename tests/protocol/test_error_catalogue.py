"""The error catalogue is complete and consistent, and docs/protocol.md says what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol.errors import (
    AGENT_ERROR_CODES,
    CLOSE_CODES,
    ERROR_CODES,
    FINAL_CLOSE_CODES,
    FRAME_ERROR_CODES,
    REFUSED_STATUS_CLOSE_CODES,
    REST_ERROR_CODES,
    RETRY_AFTER_MAX_MS,
    RETRY_HINT_KEY,
    RETRY_HINT_PATTERN,
    STATUS_ERROR_CODES,
    AgentErrorCode,
    CloseCode,
    ErrorCode,
    Reconnect,
    Surface,
    error_code_for_status,
    retry_after_ms,
    with_retry_hint,
)

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()


def section(title: str) -> str:
    """The text of the docs section (any level) headed ``title``, up to the next heading."""
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", DOC, re.S | re.M)
    assert match, f"docs/protocol.md has no section {title!r}"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the markdown tables in ``text``, as cells without backticks."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| ---"):
            continue
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        rows.append(cells)
    return [row for row in rows if row[0] != "code"]


def test_every_code_has_an_entry() -> None:
    assert set(ERROR_CODES) == set(ErrorCode)
    assert set(AGENT_ERROR_CODES) == set(AgentErrorCode)
    assert set(CLOSE_CODES) == set(CloseCode)
    for spec in (*ERROR_CODES.values(), *AGENT_ERROR_CODES.values(), *CLOSE_CODES.values()):
        assert spec.meaning and spec.action


def test_rest_codes_have_a_4xx_or_503_status_and_the_others_none() -> None:
    for code, spec in ERROR_CODES.items():
        assert spec.surfaces and spec.surfaces <= {Surface.FRAME, Surface.REST}
        if Surface.REST in spec.surfaces:
            assert spec.status is not None
            assert 400 <= spec.status < 500 or spec.status == 503, code
        else:
            assert spec.status is None, code


def test_each_status_defaults_to_a_rest_code_of_that_status() -> None:
    for status, code in STATUS_ERROR_CODES.items():
        assert code in REST_ERROR_CODES and ERROR_CODES[code].status == status
    assert {ERROR_CODES[code].status for code in REST_ERROR_CODES} == set(STATUS_ERROR_CODES)
    assert error_code_for_status(418) is ErrorCode.MALFORMED_REQUEST
    assert error_code_for_status(500) is ErrorCode.INTERNAL


def test_reconnect_policies() -> None:
    assert CLOSE_CODES[CloseCode.UNAUTHORIZED].reconnect is Reconnect.WITH_NEW_DETAILS
    for code in (CloseCode.FORBIDDEN, CloseCode.SESSION_ENDED):
        assert CLOSE_CODES[code].reconnect is Reconnect.NEVER
    for code in (CloseCode.SERVICE_RESTART, CloseCode.SLOW_CONSUMER, CloseCode.TRY_AGAIN_LATER):
        assert CLOSE_CODES[code].reconnect is Reconnect.WITH_BACKOFF
    never = {code for code, spec in CLOSE_CODES.items() if spec.reconnect is Reconnect.NEVER}
    assert never == FINAL_CLOSE_CODES
    assert CloseCode.UNAUTHORIZED not in FINAL_CLOSE_CODES
    # Ours are in 4000-4999; the others are standard codes.
    assert all(code >= 4000 or code < 1100 for code in CloseCode)


def test_a_refused_connection_request_stands_for_a_close_code() -> None:
    assert REFUSED_STATUS_CLOSE_CODES[401] is CloseCode.UNAUTHORIZED
    assert REFUSED_STATUS_CLOSE_CODES[403] is CloseCode.FORBIDDEN
    assert REFUSED_STATUS_CLOSE_CODES[404] is CloseCode.FORBIDDEN
    assert REFUSED_STATUS_CLOSE_CODES[409] is CloseCode.SESSION_ENDED


def test_agent_codes_are_the_tutors_strings() -> None:
    assert {code.value for code in AgentErrorCode} == {
        "timeout",
        "rate_limited",
        "unavailable",
        "auth",
        "bad_request",
        "model_error",
        "interrupted",
    }


@pytest.mark.parametrize(
    ("title", "codes"),
    [
        ("`error` frames", [code.value for code in FRAME_ERROR_CODES]),
        ("REST error bodies", [code.value for code in REST_ERROR_CODES]),
        ("`agent.error` codes", [code.value for code in AgentErrorCode]),
    ],
)
def test_the_docs_list_exactly_the_catalogues_error_codes(title: str, codes: list[str]) -> None:
    documented = [row[0] for row in table_rows(section(title))]
    assert sorted(documented) == sorted(codes)


def test_the_docs_give_each_rest_code_its_status() -> None:
    for code, status, *_ in table_rows(section("REST error bodies")):
        assert ERROR_CODES[ErrorCode(code)].status == int(status), code


def test_the_docs_give_each_close_code_its_policy() -> None:
    rows = table_rows(section("Close codes"))
    documented = {int(row[0]): row[1] for row in rows}
    assert documented == {code.value: spec.reconnect.value for code, spec in CLOSE_CODES.items()}


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (1013, "busy; retry_after_ms=250", 250),
        (1013, "retry_after_ms=0", 0),
        (1013, "busy; retry_after_ms=7 ; region=eu", 7),
        (1013, "busy;retry_after_ms=12", 12),
        (1013, "busy; retry_after_ms=999999999", RETRY_AFTER_MAX_MS),
        (1013, "live state is unavailable", None),
        (1013, "", None),
        (1013, "busy; retry_after_ms=", None),
        (1013, "busy; retry_after_ms=-5", None),
        (1013, "busy; retry_after_ms=2.5", None),
        (1013, "busy; retry_after_ms=1234567890", None),
        (1013, "busy; xretry_after_ms=250", None),
        (1012, "busy; retry_after_ms=250", None),
        (4008, "retry_after_ms=250", None),
        (1006, "retry_after_ms=250", None),
        (3999, "retry_after_ms=250", None),
    ],
)
def test_the_retry_hint_is_read_only_where_the_catalogue_allows_it(
    code: int, reason: str, expected: int | None
) -> None:
    assert retry_after_ms(code, reason) == expected


def test_a_reason_with_a_hint_reads_back_as_that_hint() -> None:
    for ms in (0, 1, 250, 5000, RETRY_AFTER_MAX_MS):
        reason = with_retry_hint("busy", ms)
        assert retry_after_ms(CloseCode.TRY_AGAIN_LATER, reason) == ms
        assert len(reason.encode()) <= 123  # what a close frame's reason can hold
    assert with_retry_hint("busy", 250) == "busy; retry_after_ms=250"
    assert with_retry_hint("", 250) == "retry_after_ms=250"
    with pytest.raises(ValueError):
        with_retry_hint("busy", -1)


def test_only_try_again_later_carries_a_hint() -> None:
    hinted = {code for code, spec in CLOSE_CODES.items() if spec.retry_hint}
    assert hinted == {CloseCode.TRY_AGAIN_LATER}
    assert RETRY_HINT_KEY in RETRY_HINT_PATTERN
    assert "retry_after_ms=<int>" in section("Close codes")
