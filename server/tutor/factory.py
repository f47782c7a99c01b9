"""Choose the tutor's model provider from the settings (see README, "tutor model")."""

from __future__ import annotations

import os

from server.config import Settings
from server.tutor.provider import Provider

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
# The bundled model's window (SmolLM2 was trained on 2,048 tokens at a time).
LOCAL_CONTEXT_TOKENS = 2048


def resolved_provider(settings: Settings) -> str:
    """``auto`` means OpenAI when the SDK's own ``OPENAI_API_KEY`` is set, else the local model."""
    if settings.tutor_provider != "auto":
        return settings.tutor_provider
    return "openai" if os.environ.get("OPENAI_API_KEY") else "local"


def build_provider(settings: Settings) -> Provider:
    """Build the provider; nothing is loaded or connected until the first question."""
    if resolved_provider(settings) == "openai":
        from server.tutor.openai_provider import OpenAIProvider

        return OpenAIProvider(
            # A local OpenAI-compatible server may need no key; the SDK insists on one.
            api_key=os.environ.get("OPENAI_API_KEY") or "unused",
            base_url=os.environ.get("OPENAI_BASE_URL") or None,
            model=settings.tutor_model or DEFAULT_OPENAI_MODEL,
            connect_timeout_s=settings.tutor_connect_timeout_s,
            first_token_timeout_s=settings.tutor_first_token_timeout_s,
            idle_timeout_s=settings.tutor_idle_timeout_s,
            max_retries=settings.tutor_max_retries,
            context_tokens=settings.tutor_context_tokens,
        )
    return _local(settings, settings.tutor_model, settings.tutor_context_tokens)


def build_fallback(settings: Settings) -> Provider | None:
    """The bundled model, to finish turns the provider fails; None if there is nothing to
    fall back to (the provider is the local model) or it is switched off."""
    if settings.tutor_fallback == "none" or resolved_provider(settings) == "local":
        return None
    # Its own window: STUDYROOM_TUTOR_CONTEXT_TOKENS is the provider's.
    return _local(settings, None, None)


def _local(settings: Settings, model_path: str | None, window: int | None) -> Provider:
    from server.tutor.local_provider import LocalProvider

    return LocalProvider(
        model_path,
        threads=settings.tutor_local_threads,
        context_tokens=window or LOCAL_CONTEXT_TOKENS,
    )
