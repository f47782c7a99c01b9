"""Where the terminal client keeps the server address and the login between commands.

The file is ``$STUDYROOM_CONFIG`` when set, else ``$XDG_CONFIG_HOME/studyroom/config.json``
(``~/.config/studyroom/config.json``). It holds an access token, so it is written atomically
and readable by its owner only.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_SERVER = "http://127.0.0.1:8000"


class ConfigError(Exception):
    """The config file cannot be read or written; the message says which file and why."""


@dataclass(frozen=True)
class Credentials:
    """What ``login`` remembers. ``access_token`` is ``None`` after ``logout``."""

    server: str = DEFAULT_SERVER
    username: str | None = None
    access_token: str | None = None
    # ISO 8601 in UTC; ``None`` when the token did not say.
    expires_at: str | None = None

    def expiry(self) -> datetime | None:
        if self.expires_at is None:
            return None
        try:
            moment = datetime.fromisoformat(self.expires_at)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def expired(self, now: datetime | None = None) -> bool:
        expiry = self.expiry()
        return expiry is not None and expiry <= (now or datetime.now(UTC))


def config_path() -> Path:
    explicit = os.environ.get("STUDYROOM_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "studyroom" / "config.json"


def load() -> Credentials:
    """The saved credentials; defaults when there is no file yet."""
    path = config_path()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Credentials()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw)
    except ValueError:
        raise ConfigError(f"{path} is not valid JSON; delete it and log in again") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a JSON object; delete it and log in again")
    values = {
        name: data[name] if isinstance(data.get(name), str) else None
        for name in ("server", "username", "access_token", "expires_at")
    }
    return Credentials(
        server=values["server"] or DEFAULT_SERVER,
        username=values["username"],
        access_token=values["access_token"],
        expires_at=values["expires_at"],
    )


def save(credentials: Credentials) -> Path:
    """Replace the file in one step, so a crash never leaves half a token behind."""
    path = config_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600 before anything is written to it.
        fd, temporary = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(asdict(credentials), out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def token_expiry(token: str) -> datetime | None:
    """The ``exp`` claim of a JWT access token, read without checking the signature.

    Only used to tell the user when to log in again; the server stays the judge of validity.
    ``None`` for a token that is not a JWT or carries no expiry.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        return None
