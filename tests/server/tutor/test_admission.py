"""The ask policy as values: a clock the test moves, counters in the memory engine."""

from __future__ import annotations

from protocol.events import UserRef
from protocol.frames import FrameError
from server.config import Settings
from server.live.memory import MemoryTutorLimits
from server.live.ports import SessionAsks, SessionTokens, UserAsks, UserTokens
from server.tutor.admission import AskPolicy, Reservation

ADA, BEA, CY = UserRef(id=1, name="ada"), UserRef(id=2, name="bea"), UserRef(id=3, name="cy")
DAY = 86400.0


class Clock:
    def __init__(self, now: float = 20_000 * DAY + 3600) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def policy(clock: Clock, limits: MemoryTutorLimits | None = None, **values: object) -> AskPolicy:
    chosen: dict[str, object] = {
        "env": "test",
        "tutor_asks_per_minute": 6,  # one every 10 s
        "tutor_session_asks_per_minute": 12,  # one every 5 s
        "tutor_ask_burst": 2,
        "tutor_session_ask_burst": 3,
        "tutor_session_token_budget": 1000,
        "tutor_user_token_budget": 400,
    }
    settings = Settings(**(chosen | values))  # type: ignore[arg-type]
    return AskPolicy(settings, limits or MemoryTutorLimits(), clock)


def code(refusal: FrameError | None) -> str | None:
    return None if refusal is None else f"{refusal.code.value}: {refusal.message}"


async def test_a_user_may_ask_a_burst_then_one_per_interval() -> None:
    clock = Clock()
    asks = policy(clock)
    assert [code(await asks.admit(1, ADA)) for _ in range(3)] == [
        None,
        None,
        "rate_limited: too many questions; wait a little",
    ]
    clock.now += 9.9
    assert await asks.admit(1, ADA) is not None
    clock.now += 0.1
    assert await asks.admit(1, ADA) is None
    assert await asks.admit(2, BEA) is None, "another user has their own rate"


async def test_a_session_is_limited_whoever_asks_and_a_refusal_costs_the_asker_nothing() -> None:
    clock = Clock()
    limits = MemoryTutorLimits()
    asks = policy(clock, limits)
    assert [await asks.admit(1, who) for who in (ADA, BEA, CY)] == [None, None, None]
    refused = await asks.admit(1, ADA)
    assert code(refused) == "rate_limited: this room asks too fast; wait a little"
    # Ada's refused ask gave her token back: she still has one left for another room.
    assert await asks.admit(2, ADA) is None
    assert code(await asks.admit(3, ADA)) == "rate_limited: too many questions; wait a little"
    clock.now += 5
    assert await asks.admit(1, BEA) is None
    assert await limits.take(SessionAsks(1), clock.now, 0.2, 3) is False
    assert await limits.take(UserAsks(CY.id), clock.now, 0.1, 2) is True


async def test_budgets_refuse_asks_once_spent_and_a_users_budget_is_per_day() -> None:
    clock = Clock()
    asks = policy(clock, tutor_ask_burst=50, tutor_session_ask_burst=50)
    await asks.charge(1, ADA.id, 399)
    assert await asks.admit(1, ADA) is None, "under the budget"
    await asks.charge(1, ADA.id, 1)
    assert code(await asks.admit(1, ADA)) == (
        "rate_limited: your tutor budget for today is used up"
    )
    assert await asks.admit(1, BEA) is None, "the session has budget left"
    await asks.charge(1, BEA.id, 600)
    assert code(await asks.admit(1, BEA)) == (
        "rate_limited: this session's tutor budget is used up"
    )
    assert await asks.admit(2, CY) is None, "another session has its own"
    clock.now += DAY
    assert await asks.admit(2, ADA) is None, "a new day, a new user budget"
    assert await asks.admit(1, ADA) is not None, "a session's budget does not renew"


async def test_the_bursts_are_settings() -> None:
    clock = Clock()
    asks = policy(clock, tutor_ask_burst=4, tutor_session_ask_burst=10)
    assert [await asks.admit(1, ADA) is None for _ in range(5)] == [True] * 4 + [False]
    assert Settings(env="test").tutor_ask_burst == 3
    assert Settings(env="test").tutor_session_ask_burst == 5


async def test_a_turn_reserves_its_prompt_and_an_answer_and_settles_with_what_it_spent() -> None:
    clock = Clock()
    limits = MemoryTutorLimits()
    asks = policy(clock, limits)
    first = await asks.reserve(1, ADA.id, prompt_tokens=200, max_tokens=100)
    assert isinstance(first, Reservation) and first.tokens == 300
    assert await limits.spent(UserTokens(ADA.id, first.day)) == 300
    # Ada's budget is 400: a second prompt of 150 would pass it even with no answer at all.
    refused = await asks.reserve(2, ADA.id, prompt_tokens=150, max_tokens=100)
    assert isinstance(refused, FrameError)
    assert code(refused) == "rate_limited: your tutor budget for today is used up"
    assert await limits.spent(SessionTokens(2)) == 0, "the session's share was given back"
    # The first turn spent less than it set aside: the rest is free again.
    await asks.settle(first, 220)
    assert await limits.spent(UserTokens(ADA.id, first.day)) == 220
    assert await limits.spent(SessionTokens(1)) == 220
    second = await asks.reserve(2, ADA.id, prompt_tokens=150, max_tokens=100)
    assert isinstance(second, Reservation)
    # 220 + 150 is within 400: at most one answer (100) past the budget, never more.
    await asks.settle(second, 250)
    assert await limits.spent(UserTokens(ADA.id, first.day)) == 470
    assert code(await asks.admit(3, ADA)) == "rate_limited: your tutor budget for today is used up"
    # The session's budget (1,000) holds for everyone in it: 220 + 450 reserved, 350 more won't.
    assert isinstance(await asks.reserve(1, BEA.id, prompt_tokens=350, max_tokens=100), Reservation)
    assert code(await asks.reserve(1, CY.id, prompt_tokens=350, max_tokens=100)) == (
        "rate_limited: this session's tutor budget is used up"
    )
