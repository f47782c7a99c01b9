"""Every Redis key and channel name the live state uses, derived from one prefix.

On one Redis a session's keys carry its id as a hash tag (``studyroom:room:{42}:log``) and the
outbox is one stream for the whole deployment, read by the ``transcript`` consumer group.

On a Redis Cluster (``partitions`` > 0) the scripts that append to a room log also queue the
event in the outbox, so the outbox is cut into ``partitions`` streams and a session's keys
carry its partition's tag instead (``studyroom:room:{p3.17}:42:log``): a session, its outbox
stream and its sharded channel share one slot. The tags are chosen so the partitions' slots
are spread evenly over the 16,384, whichever master holds which slot range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

OUTBOX_GROUP = "transcript"
# 2**32 divided by the golden ratio: consecutive ids spread evenly (Knuth, TAOCP 6.4).
_KNUTH = 2_654_435_761


@cache
def partition_tags(partitions: int) -> tuple[str, ...]:
    """For each partition, a hash tag whose slot lies in the partition's equal share of the
    slot space: partition ``p`` of ``n`` hashes into ``[p * 16384 // n, (p + 1) * 16384 // n)``."""
    tags: list[str] = []
    for partition in range(partitions):
        low = partition * REDIS_CLUSTER_HASH_SLOTS // partitions
        high = (partition + 1) * REDIS_CLUSTER_HASH_SLOTS // partitions
        attempt = 0
        while not low <= key_slot(f"p{partition}.{attempt}".encode()) < high:
            attempt += 1
        tags.append(f"p{partition}.{attempt}")
    return tuple(tags)


@dataclass(frozen=True, slots=True)
class LiveKeys:
    prefix: str
    # 0: one Redis, one outbox. Otherwise a Redis Cluster: see the module docstring.
    partitions: int = 0
    _tags: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.partitions < 0:
            raise ValueError("partitions must be 0 (one Redis) or more")
        object.__setattr__(self, "_tags", partition_tags(self.partitions))

    def partition(self, session_id: int) -> int:
        """The outbox partition of a session (0 on one Redis).

        Multiplicative hashing, so sessions made one after another land on partitions, and so
        masters, far apart rather than filling one master's slot range first.
        """
        if not self.partitions:
            return 0
        return (session_id * _KNUTH) % 2**32 % self.partitions

    def _session(self, session_id: int, suffix: str) -> str:
        if self.partitions:
            tag = self._tags[self.partition(session_id)]
            return f"{self.prefix}:room:{{{tag}}}:{session_id}:{suffix}"
        # An int renders as bare digits: never a brace to move the hash tag, and the very names
        # that ids rendered with str() had, so upgraded deployments keep their live state.
        return f"{self.prefix}:room:{{{session_id}}}:{suffix}"

    def meta(self, session_id: int) -> str:
        """Hash: ``epoch`` and ``head`` (the last seq assigned) of the session's log."""
        return self._session(session_id, "meta")

    def log(self, session_id: int) -> str:
        """Stream of frames; entry id ``<seq>-0``, field ``d`` holds the frame."""
        return self._session(session_id, "log")

    def channel(self, session_id: int) -> str:
        """Pub/sub channel carrying each frame as it is appended."""
        return self._session(session_id, "events")

    def turns(self, session_id: int) -> str:
        """Sorted set: unanswered ask frames scored by their seq."""
        return self._session(session_id, "turns")

    def tutor_lease(self, session_id: int) -> str:
        """String: the process answering this session's asks; expires unless renewed."""
        return self._session(session_id, "tutor:lease")

    def turn_started(self, session_id: int) -> str:
        """String: seq of the ask being answered."""
        return self._session(session_id, "tutor:started")

    def turn_cancel(self, session_id: int, turn_id: str) -> str:
        """String, present when a cancel of this turn was requested."""
        return self._session(session_id, f"tutor:cancel:{turn_id}")

    def quizzes(self, session_id: int) -> str:
        """Hash: quiz id -> answer key (JSON) of the quizzes the tutor posed."""
        return self._session(session_id, "tutor:quizzes")

    def quiz_answers(self, session_id: int) -> str:
        """Hash: ``<quiz id>:<user id>`` -> the choice of the user's first answer."""
        return self._session(session_id, "tutor:answers")

    def cards(self, session_id: int) -> str:
        """Hash: card id -> a learner's spaced-repetition card (JSON) as last reviewed here."""
        return self._session(session_id, "tutor:cards")

    def session_asks(self, session_id: int) -> str:
        """Hash ``tokens``/``stamp``: the session's ask bucket; gone once it has refilled."""
        return self._session(session_id, "limits:asks")

    def session_tokens(self, session_id: int) -> str:
        """Integer: model tokens the session's turns spent."""
        return self._session(session_id, "limits:tokens")

    def user_asks(self, user_id: int) -> str:
        """Hash ``tokens``/``stamp``: one user's ask bucket; gone once it has refilled."""
        return f"{self.prefix}:user:{{{user_id}}}:limits:asks"

    def user_tokens(self, user_id: int, day: int) -> str:
        """Integer: model tokens one user's asks spent on a day (days since the epoch)."""
        return f"{self.prefix}:user:{{{user_id}}}:limits:tokens:{day}"

    def revoked_token(self, token_id: str) -> str:
        """String: set while the access token ``token_id`` is revoked (until it expires)."""
        return f"{self.prefix}:auth:revoked:{{{token_id}}}"

    def gate(self, session_id: int) -> str:
        """Hash: ``ended`` ("0"/"1"), ``topic`` (JSON) and ``removed:<user id>`` fields, the
        facts a join checks (see ``SessionGates``)."""
        return self._session(session_id, "gate")

    def presence_expiry(self, session_id: int) -> str:
        """Sorted set: connection id scored by its expiry (ms since the epoch, server clock)."""
        return self._session(session_id, "presence:expiry")

    def presence_conn_user(self, session_id: int) -> str:
        """Hash: connection id -> user id."""
        return self._session(session_id, "presence:conn_user")

    def presence_users(self, session_id: int) -> str:
        """Hash: user id -> the user as JSON (``{"id", "name"}``)."""
        return self._session(session_id, "presence:users")

    def presence_counts(self, session_id: int) -> str:
        """Hash: user id -> number of live connections."""
        return self._session(session_id, "presence:counts")

    def presence(self, session_id: int) -> list[str]:
        """The presence keys in the order the presence scripts expect them."""
        return [
            self.presence_expiry(session_id),
            self.presence_conn_user(session_id),
            self.presence_users(session_id),
            self.presence_counts(session_id),
        ]

    def session_keys(self, session_id: int) -> list[str]:
        """Every key of one session."""
        return [
            self.meta(session_id),
            self.log(session_id),
            *self.presence(session_id),
            self.turns(session_id),
            self.tutor_lease(session_id),
            self.turn_started(session_id),
            self.quizzes(session_id),
            self.quiz_answers(session_id),
            self.cards(session_id),
            self.session_asks(session_id),
            self.session_tokens(session_id),
            self.gate(session_id),
        ]

    @property
    def outbox(self) -> str:
        """On one Redis, the stream of persisted events awaiting the transcript: fields ``s``,
        ``q``, ``d``."""
        return self.outboxes[0]

    @property
    def outboxes(self) -> list[str]:
        """Every outbox stream, in partition order."""
        if not self.partitions:
            return [f"{self.prefix}:outbox"]
        return [f"{self.prefix}:outbox:{{{tag}}}" for tag in self._tags]

    def outbox_of(self, session_id: int) -> str:
        """The outbox stream a session's events are queued in (its slot's, on a cluster)."""
        if not self.partitions:
            return self.outbox
        return f"{self.prefix}:outbox:{{{self._tags[self.partition(session_id)]}}}"

    @property
    def outbox_group(self) -> str:
        return OUTBOX_GROUP
