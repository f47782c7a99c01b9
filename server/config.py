"""Process settings, read from ``STUDYROOM_*`` environment variables.

Every limit the server enforces is a field here, so operators can see and change it in one
place; README's configuration table lists them all.
"""

from __future__ import annotations

import logging
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

# Used only outside production when no key is configured; tokens signed with it are
# worthless elsewhere because every restart without a key draws a new one.
_DEVELOPMENT_KEY_PREFIX = "dev-insecure-"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STUDYROOM_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    public_url: str | None = Field(
        default=None,
        description="Base URL clients use to reach this server (e.g. https://study.example); "
        "connection details derive the WebSocket address from it. Default: the request's host.",
    )

    database_url: str = "sqlite+aiosqlite:///./studyroom.db"
    # PostgreSQL reached through PgBouncer in transaction pooling: asyncpg then caches no
    # prepared statements and names each one uniquely (see server.db.engine).
    database_pgbouncer: bool = False
    redis_url: str = "memory://"
    redis_prefix: str = Field(
        default="studyroom",
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="Prefix of every Redis key and channel, so deployments can share a server.",
    )
    redis_connect_timeout_s: float = Field(
        default=2.0, gt=0, le=60, description="Opening a connection to Redis may take this long."
    )
    redis_command_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="Every Redis command must answer within this, else the live state counts "
        "as unavailable (frames get error unavailable, REST 503).",
    )
    redis_max_connections: int = Field(
        default=64,
        ge=4,
        le=10_000,
        description="Pooled Redis connections one process opens at most; more concurrent "
        "commands wait for one (up to the command timeout). Pub/sub and the pipelined "
        "connection come on top.",
    )
    redis_cluster_partitions: int = Field(
        default=6,
        ge=1,
        le=1024,
        description="On a Redis Cluster, the transcript outbox is cut into this many streams "
        "(each process keeps one read waiting on every one); sessions are spread over them and "
        "share a slot with theirs, so rooms use at most this many masters. Every process of a "
        "deployment must use the same number; changing it restarts every room's numbering.",
    )
    redis_health_check_s: float = Field(
        default=15.0, ge=0, description="An idle pooled connection is checked with PING after this."
    )
    secret_key: str | None = None

    tutor_provider: Literal["auto", "openai", "local"] = "auto"
    tutor_model: str | None = None
    # When the provider fails or stalls (after its retries), before or during an answer, the
    # bundled model finishes the turn; only with a provider other than ``local``.
    tutor_fallback: Literal["local", "none"] = "local"
    tutor_max_tokens: int = Field(default=512, ge=16, le=8192)
    tutor_connect_timeout_s: float = Field(default=5.0, gt=0)
    tutor_first_token_timeout_s: float = Field(default=30.0, gt=0)
    tutor_idle_timeout_s: float = Field(default=20.0, gt=0)
    tutor_max_retries: int = Field(default=2, ge=0, le=10)
    tutor_coalesce_ms: int = Field(
        default=40, ge=0, description="Deltas after the first are sent at most this often."
    )
    tutor_coalesce_chars: int = Field(
        default=256, ge=1, description="…or as soon as this much text is waiting."
    )
    tutor_lease_s: float = Field(
        default=10.0,
        gt=0,
        description="A process answering a session's asks must renew its claim this often; if "
        "it dies, its turn ends as 'interrupted' after this long.",
    )
    tutor_history_events: int = Field(default=30, ge=0, le=500)
    # Every model request and its answer fit in this many tokens; unset: the model's window
    # (the local model's n_ctx, 2048; OpenAI's by model name; 8192 for other servers).
    tutor_context_tokens: int | None = Field(default=None, ge=512, le=2_000_000)
    tutor_asks_per_minute: float = Field(default=10.0, gt=0, description="Per user.")
    tutor_session_asks_per_minute: float = Field(default=30.0, gt=0)
    tutor_ask_burst: int = Field(
        default=3, ge=1, description="Asks a user may make at once before the rate applies."
    )
    tutor_session_ask_burst: int = Field(
        default=5, ge=1, description="Asks a session may take at once before its rate applies."
    )
    tutor_session_token_budget: int = Field(
        default=500_000, ge=1, description="Tokens (in + out) one session may spend."
    )
    tutor_user_token_budget: int = Field(
        default=200_000, ge=1, description="Tokens one user's asks may spend per day."
    )
    tutor_local_threads: int = Field(default=2, ge=1, le=64)
    # A ``review`` also poses cards that fall due within this many seconds (review ahead).
    review_ahead_s: float = Field(default=0.0, ge=0, le=30 * 86400)

    # Tokens.
    access_token_ttl_s: int = Field(default=24 * 3600, ge=60)
    participant_token_ttl_s: int = Field(default=15 * 60, ge=10)

    # Room log: how many events per session are kept for resume, and how long an idle log lives.
    room_log_retention: int = Field(default=10_000, ge=10)
    room_log_idle_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    # How long live state caches a session's admission facts (ended, topic, removed members)
    # before a join reads them from the database again. Changes are written through at once;
    # this only bounds how long a write-through that failed (live state down) can go unseen.
    room_gate_ttl_s: int = Field(default=300, ge=1)
    # Room joins touch ``memberships.last_active_at`` in batches, this often, off the join path.
    activity_flush_s: float = Field(default=2.0, gt=0)

    # The event-loop lag monitor (``studyroom_event_loop_lag_seconds``): how often it samples,
    # and the lag that is logged as a warning.
    loop_lag_interval_s: float = Field(default=0.05, gt=0)
    loop_lag_warn_s: float = Field(default=0.25, gt=0)

    # Per-socket limits.
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    send_queue_max: int = Field(default=512, ge=8)
    send_timeout_s: float = Field(default=5.0, gt=0)
    ws_send_buffer_bytes: int = Field(
        default=64 * 1024,
        ge=4096,
        description="Kernel send buffer of each room socket; bounds what a stalled client can "
        "hold before its queue fills and it is closed with 4008.",
    )
    ws_write_batch_max: int = Field(
        default=64,
        ge=1,
        le=4096,
        description="Queued frames a room socket's writer takes at once and writes in one go.",
    )
    ws_ping_interval_s: float = Field(
        default=20.0,
        gt=0,
        le=3600,
        description="Seconds between WebSocket protocol pings on every socket; they notice "
        "half-open TCP connections (our own heartbeat decides presence).",
    )
    ws_ping_timeout_s: float = Field(
        default=20.0,
        gt=0,
        le=3600,
        description="A socket whose client has not answered a ping within this is closed.",
    )
    # Room-socket joins in progress on this process at once: from the socket being accepted
    # until its welcome and replay are handed to its writer. A join is a few live-state
    # commands and a replay held in memory; 64 (the Redis pool's default size) keeps a
    # reconnect storm from taking every pooled connection and the event loop away from the
    # live rooms, while a process still admits thousands of members a second. Beyond it, a
    # join waits up to ws_join_wait_s for a slot, then is closed with 1013 and a retry hint.
    ws_joins_max: int = Field(default=64, ge=1, le=100_000)
    # A waiting join costs no work, only an open socket, so live rooms do not feel the wait;
    # it smooths a burst without a client round trip. At most ws_joins_max joins wait. 0: no
    # waiting, a join past the bound is refused at once.
    ws_join_wait_s: float = Field(default=0.25, ge=0, le=10)
    chat_max_chars: int = Field(default=4000, ge=1)
    rate_limit_per_s: float = Field(default=5.0, gt=0)
    rate_limit_burst: int = Field(default=20, ge=1)
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to open a room socket. Empty: same-origin browsers and "
        "clients that send no Origin. '*' allows any origin.",
    )

    # Presence.
    presence_ttl_s: float = Field(default=15.0, gt=0)
    presence_heartbeat_s: float = Field(default=5.0, gt=0)
    # A member whose socket closes stays present this long: a reload, a blip or a reconnect to
    # another process within it makes no leave/join pair. 0 announces every leave at once.
    presence_grace_s: float = Field(default=5.0, ge=0)

    # Transcript persistence.
    transcript_batch_max: int = Field(default=500, ge=1)
    transcript_retry_s: float = Field(default=1.0, gt=0)
    transcript_linger_s: float = Field(
        default=0.05,
        ge=0,
        le=5,
        description="After writing a batch that was not full, wait this long for the next one: "
        "a few larger batches cost far less than many small ones.",
    )
    transcript_claim_idle_s: float = Field(
        default=15.0,
        gt=0,
        description="Events taken by a process that then died are written by another after this.",
    )

    # REST.
    page_max: int = Field(default=500, ge=1)
    request_max_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body outside material uploads; a larger one gets 413.",
    )

    # Uploaded study materials.
    data_dir: Path = Field(
        default=Path("./data"), description="Where uploaded files are kept (by content hash)."
    )
    upload_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    extract_timeout_s: float = Field(
        default=30.0, gt=0, description="Reading one upload's text may take at most this long."
    )
    material_chunk_chars: int = Field(
        default=1200, ge=100, le=20_000, description="Longest passage search returns."
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.env == "production" and not self.secret_key:
            raise ValueError("STUDYROOM_SECRET_KEY is required when STUDYROOM_ENV=production")
        if self.secret_key is not None and len(self.secret_key.encode()) < 32:
            # HS256 keys shorter than the hash are brute-forceable; RFC 7518 requires 256 bits.
            raise ValueError("STUDYROOM_SECRET_KEY must be at least 32 bytes")
        if self.presence_heartbeat_s >= self.presence_ttl_s:
            raise ValueError("presence_heartbeat_s must be shorter than presence_ttl_s")
        return self

    @cached_property
    def signing_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        log.warning(
            "STUDYROOM_SECRET_KEY is not set: using a random development key; "
            "tokens will not survive a restart or work across processes"
        )
        return _DEVELOPMENT_KEY_PREFIX + secrets.token_urlsafe(32)

    @property
    def live_state_is_memory(self) -> bool:
        return self.redis_url.startswith("memory://")
