"""Settings from the environment (pydantic-settings). Secrets are SecretStr: never printed.

A `.env` file in the working directory is read too (KEY=value lines); the real environment wins
over it, so a deployment can keep defaults in the file and override one value per run.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", env_file=".env",
                                      env_file_encoding="utf-8")

    gatebot_db: str = Field("gatebot.db", description="SQLite file")
    gatebot_rules: str | None = Field(None, description="rules directory (default: the shipped rules)")
    gatebot_log_level: str = Field("INFO", description="logging level")
    gatebot_http_host: str = Field("127.0.0.1", description="HTTP listen address (webhooks, Slack events)")
    gatebot_http_port: int = Field(3000, description="HTTP listen port")
    gatebot_tz: str = Field("UTC", description="default time zone for digests")
    gatebot_admins: str = Field("", description="comma-separated platform user ids allowed to change gate status")
    gatebot_fetch_allow_private: bool = Field(False, description="allow fetching links on private addresses")

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    @property
    def admins(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.gatebot_admins.split(",") if a.strip())


def load_settings() -> Settings:
    return Settings()
