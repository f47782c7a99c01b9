"""Access and participant tokens: what is accepted, and every way a forged one is refused."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from server.auth.passwords import hash_password, verify_password
from server.auth.tokens import (
    InvalidToken,
    ParticipantClaims,
    decode_access_token,
    decode_participant_token,
    issue_access_token,
    issue_participant_token,
)
from server.config import Settings

KEY = "unit-test-signing-key-long-enough-for-hs256-and-hs512-signatures-too"


@pytest.fixture
def settings() -> Settings:
    return Settings(env="test", secret_key=KEY, access_token_ttl_s=600)


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned_token(claims: dict[str, Any]) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "7", "typ": "access", "iat": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_access_token_round_trip(settings: Settings) -> None:
    token, expires_in = issue_access_token(settings, 42)
    assert expires_in == 600
    claims = decode_access_token(settings, token)
    assert claims.user_id == 42 and claims.token_id
    assert (
        decode_access_token(settings, issue_access_token(settings, 42)[0]).token_id
        != claims.token_id
    )


def test_participant_token_round_trip(settings: Settings) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    token, expires_at = issue_participant_token(settings, user_id=3, session_id=9, name="Ada")
    assert decode_participant_token(settings, token) == ParticipantClaims(3, 9, "Ada")
    assert expires_at.tzinfo is not None
    assert (expires_at - before).total_seconds() >= settings.participant_token_ttl_s
    assert jwt.decode(token, options={"verify_signature": False})["exp"] == int(
        expires_at.timestamp()
    )


def test_token_kinds_are_not_interchangeable(settings: Settings) -> None:
    participant, _ = issue_participant_token(settings, user_id=3, session_id=9, name="Ada")
    access, _ = issue_access_token(settings, 3)
    with pytest.raises(InvalidToken):
        decode_access_token(settings, participant)
    with pytest.raises(InvalidToken):
        decode_participant_token(settings, access)


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(lambda: unsigned_token(claims()), id="alg-none"),
        pytest.param(
            lambda: jwt.encode(claims(), "another-key-that-is-also-long-enough-32b", "HS256"),
            id="wrong-key",
        ),
        pytest.param(
            lambda: jwt.encode(claims(iat=1, exp=int(time.time()) - 60), KEY, "HS256"),
            id="expired",
        ),
        pytest.param(lambda: jwt.encode(claims(exp=None), KEY, "HS256"), id="no-exp"),
        pytest.param(lambda: jwt.encode(claims(iat=None), KEY, "HS256"), id="no-iat"),
        pytest.param(lambda: jwt.encode(claims(typ=None), KEY, "HS256"), id="no-typ"),
        pytest.param(lambda: jwt.encode(claims(sub=None), KEY, "HS256"), id="no-sub"),
        pytest.param(lambda: jwt.encode(claims(sub="x"), KEY, "HS256"), id="bad-sub"),
        pytest.param(lambda: jwt.encode(claims(), KEY, "HS512"), id="other-alg"),
        pytest.param(lambda: "not.a.token", id="garbage"),
    ],
)
def test_forged_access_tokens_are_refused(settings: Settings, forged: Any) -> None:
    with pytest.raises(InvalidToken):
        decode_access_token(settings, forged())


def test_tampered_payload_is_refused(settings: Settings) -> None:
    token, _ = issue_access_token(settings, 1)
    header, _, signature = token.split(".")
    payload = _b64(claims(sub="2"))
    with pytest.raises(InvalidToken):
        decode_access_token(settings, f"{header}.{payload}.{signature}")


def test_participant_token_needs_its_claims(settings: Settings) -> None:
    token = jwt.encode(claims(typ="participant", name="Ada"), KEY, "HS256")  # no sid
    with pytest.raises(InvalidToken):
        decode_participant_token(settings, token)


async def test_password_hashing() -> None:
    hashed = await hash_password("s3cret-enough")
    assert hashed.startswith("$argon2id$")
    assert "s3cret-enough" not in hashed
    assert await verify_password("s3cret-enough", hashed)
    assert not await verify_password("s3cret-enougH", hashed)
    # An unknown user is checked against a dummy hash and never matches.
    assert not await verify_password("s3cret-enough", None)
    assert not await verify_password("s3cret-enough", "not-a-hash")
