"""Settings from the environment (pydantic-settings). Secrets are SecretStr: never printed.

A `.env` file in the working directory is read too (KEY=value lines); the real environment wins
over it, so a deployment can keep defaults in the file and override one value per run.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """Settings that cannot work, said in one line that never contains a secret's value."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", env_file=".env",
                                      env_file_encoding="utf-8")

    gatebot_db: str = Field("gatebot.db", description="SQLite file")
    gatebot_retention_days: int = Field(0, ge=0, description="purge chatter older than this many days (0 = keep all)")
    gatebot_rules: str | None = Field(None, description="rules directory (default: the shipped rules)")
    gatebot_log_level: str = Field("INFO", description="logging level")
    gatebot_http_host: str = Field("127.0.0.1", description="HTTP listen address (webhooks, Slack events)")
    gatebot_http_port: int = Field(3000, ge=1, le=65535, description="HTTP listen port")
    gatebot_tz: str = Field("UTC", description="default time zone for digests")
    gatebot_admins: str = Field("", description="comma-separated platform user ids allowed to change gate status")
    gatebot_fetch_allow_private: bool = Field(False, description="allow fetching links on private addresses")
    gatebot_feed_interval: int = Field(15, description="minutes between polls of a followed feed (at least 5)")

    # A language model as the judge (bot/judge.py); unset URL = the offline rules alone.
    gatebot_llm_url: str | None = Field(None, description="OpenAI-compatible base URL, e.g. https://api.deepseek.com/v1")
    gatebot_llm_model: str = Field("", description="model name sent with each call")
    gatebot_llm_api_key: SecretStr | None = Field(None, description="sent as Authorization: Bearer; never logged")
    gatebot_llm_mode: Literal["always", "uncertain", "off"] = Field("always", description="when the model is asked")
    gatebot_llm_timeout: float = Field(10.0, gt=0, le=300, description="seconds per judgement, retries included")
    gatebot_llm_concurrency: int = Field(4, ge=1, le=256, description="model calls in flight at most")

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    @field_validator("gatebot_llm_mode", mode="before")
    @classmethod
    def _mode_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    # Hardening: slow HTTP clients, durable inbox (see README, Configuration).
    gatebot_http_timeout: float = Field(10.0, gt=0, le=300, description="seconds to receive a request's headers/body")
    gatebot_http_max_connections: int = Field(512, ge=8, le=65536, description="open HTTP connections at most")
    gatebot_inbox_max_age: int = Field(3600, ge=0, description="seconds: older unanswered updates are not resumed")

    @field_validator("gatebot_log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("telegram_bot_token")
    @classmethod
    def _telegram_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,200}", value.get_secret_value()):
            raise ValueError("is not a bot token (digits, a colon, then 20 or more letters, digits, _ or -)")
        return value

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _slack_token_shape(cls, value: SecretStr | None, info) -> SecretStr | None:
        prefix = "xapp-" if info.field_name == "slack_app_token" else "xoxb-"
        if value is not None and not re.fullmatch(re.escape(prefix) + r"[A-Za-z0-9-]{1,500}", value.get_secret_value()):
            raise ValueError(f"is not a Slack {'app-level' if prefix == 'xapp-' else 'bot'} token ({prefix}...)")
        return value

    @property
    def admins(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.gatebot_admins.split(",") if a.strip())


def describe(error: ValidationError) -> str:
    """One line naming each bad variable; the values are never echoed (some are secrets)."""
    parts = []
    for item in error.errors():
        name = ".".join(str(p) for p in item.get("loc", ())).upper() or "settings"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{name} {message}" if message.startswith(("is ", "must ")) else f"{name}: {message}")
    return "bad setting: " + "; ".join(parts)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None
