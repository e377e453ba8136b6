"""Settings from the environment (pydantic-settings). Secrets are SecretStr: never printed.

A `.env` file in the working directory is read too (KEY=value lines); the real environment wins
over it, so a deployment can keep defaults in the file and override one value per run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", env_file=".env",
                                      env_file_encoding="utf-8")

    gatebot_db: str = Field("gatebot.db", description="SQLite file")
    gatebot_retention_days: int = Field(0, ge=0, description="purge chatter older than this many days (0 = keep all)")
    gatebot_rules: str | None = Field(None, description="rules directory (default: the shipped rules)")
    gatebot_log_level: str = Field("INFO", description="logging level")
    gatebot_http_host: str = Field("127.0.0.1", description="HTTP listen address (webhooks, Slack events)")
    gatebot_http_port: int = Field(3000, description="HTTP listen port")
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

    @property
    def admins(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.gatebot_admins.split(",") if a.strip())


def load_settings() -> Settings:
    return Settings()
