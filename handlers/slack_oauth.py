"""Add to Slack: one gatebot serving many workspaces, with slack-bolt's own OAuth flow.

Switched on when SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set and SLACK_BOT_TOKEN is not (a bot
token means one workspace, as before). On the shared HTTP server beside /slack/events:

- GET /slack/install starts an installation: a one-time state is issued (kept in the bot's
  database, and in a cookie of the installer's browser) and the browser is sent to Slack's
  authorize page (SLACK_OAUTH_AUTHORIZE_URL overrides its address) asking for SLACK_SCOPES;
- GET /slack/oauth_redirect is where Slack sends the browser back with a code: the state must be
  one this bot issued, unused, under ten minutes old and the browser's own, or the installer gets a
  page saying why and nothing is stored; the code is exchanged (oauth.v2.access, at SLACK_API_URL)
  for the workspace's bot token, which is kept in the database (bot/storage/installations.py).

Each request from Slack is then answered with its own workspace's token (bolt's authorize looks the
workspace up in the store); `app_uninstalled` and `tokens_revoked` delete the installation, and with
it the token: a later event from that workspace finds none and makes no API call. The client secret
and the tokens are never logged (the API client used here logs nothing below INFO).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Sequence
from html import escape as html_escape
from logging import Logger
from typing import Any

from aiohttp import web
from gatebot.reply import label
from gatebot.settings import Settings
from gatebot.storage.base import Rows
from gatebot.storage.installations import STATE_SECONDS, Installation, Installations
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth import OAuthStateUtils
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SlackInstallation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from .slack_api import web_client
from .slack_http import web_response

log = logging.getLogger("gatebot.slack.oauth")
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# The manifest's bot scopes (slack-manifest.yaml oauth_config.scopes.bot): SLACK_SCOPES' default.
BOT_SCOPES = ("app_mentions:read", "channels:history", "groups:history", "im:history", "mpim:history",
              "chat:write", "commands", "files:write", "users:read")
# slack_sdk writes request and response bodies at DEBUG, and oauth.v2.access answers with a token:
# the clients of a multi-workspace bot log through this logger, which never goes below INFO.
api_log = logging.getLogger("gatebot.slack.oauth.api")
api_log.setLevel(logging.INFO)


class OAuthConfig(BaseSettings):
    """Add to Slack's settings, read from the environment (and .env) like the rest."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore", env_file=".env",
                                      env_file_encoding="utf-8")

    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_scopes: str = ",".join(BOT_SCOPES)
    slack_redirect_uri: str | None = None
    slack_oauth_authorize_url: str = "https://slack.com/oauth/v2/authorize"

    @property
    def scopes(self) -> list[str]:
        return [s.strip() for s in self.slack_scopes.split(",") if s.strip()]


def oauth_config(settings: Settings) -> OAuthConfig | None:
    """Add to Slack's settings when it is switched on (client id and secret, no bot token), else None.

    Raises ValueError for a half-made configuration (one of the two credentials alone)."""
    config = OAuthConfig()
    has_id, has_secret = bool(config.slack_client_id), bool(config.slack_client_secret)
    if settings.slack_bot_token is not None:
        if has_id or has_secret:
            log.info("slack: SLACK_BOT_TOKEN is set, so Add to Slack stays off (one workspace)")
        return None
    if has_id != has_secret:
        raise ValueError("Add to Slack needs both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
    if not has_id:
        return None
    if not config.scopes:
        raise ValueError("SLACK_SCOPES is empty: list the bot scopes to ask for, comma-separated")
    return config


# ---------------------------------------------------------------------- the bot's database, to bolt


def _bot_token_only(inst: SlackInstallation) -> Installation:
    if inst.bot_token is None or inst.bot_user_id is None:
        raise ValueError("the installation has no bot token")
    if inst.bot_refresh_token:
        log.warning("slack: token rotation is on in the app's settings; gatebot keeps no refresh token, so "
                    "this workspace's token stops working when it expires: turn rotation off and reinstall")
    scopes = inst.bot_scopes if isinstance(inst.bot_scopes, str) else ",".join(inst.bot_scopes or [])
    return Installation(
        enterprise_id=inst.enterprise_id or "", team_id="" if inst.is_enterprise_install else inst.team_id or "",
        bot_token=inst.bot_token, bot_user_id=inst.bot_user_id, bot_id=inst.bot_id or "", scopes=scopes,
        team_name=inst.team_name or "", enterprise_name=inst.enterprise_name or "", app_id=inst.app_id or "",
        installer_id=inst.user_id or "", is_enterprise_install=bool(inst.is_enterprise_install))


class DatabaseInstallationStore(AsyncInstallationStore):
    """slack_sdk's installation store interface over the bot's own database. Only bot tokens are
    kept: gatebot asks for no user scopes, so a user's installation is never found."""

    def __init__(self, installations: Installations):
        self.installations = installations

    @property
    def logger(self) -> Logger:
        return log

    @staticmethod
    def _key(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None) -> tuple[str, str]:
        return enterprise_id or "", "" if is_enterprise_install else team_id or ""

    async def async_save(self, installation: SlackInstallation) -> None:
        try:
            saved = self.installations.save_installation(_bot_token_only(installation))
        except (ValueError, sqlite3.Error) as exc:  # bolt shows the installer its storage_error page
            raise BoltError(f"cannot keep the installation: {type(exc).__name__}: {exc}") from None
        log.info("slack: installed in workspace %s%s", saved.team_id or "(org-wide)",
                 f" of enterprise {saved.enterprise_id}" if saved.enterprise_id else "")

    async def async_save_bot(self, bot: Bot) -> None:
        await self.async_save(SlackInstallation(
            app_id=bot.app_id, enterprise_id=bot.enterprise_id, enterprise_name=bot.enterprise_name,
            team_id=bot.team_id, team_name=bot.team_name, bot_token=bot.bot_token, bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id, bot_scopes=bot.bot_scopes, bot_refresh_token=bot.bot_refresh_token,
            user_id="", is_enterprise_install=bot.is_enterprise_install))

    async def async_find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                      user_id: str | None = None,
                                      is_enterprise_install: bool | None = False) -> SlackInstallation | None:
        if user_id is not None:
            return None  # no user tokens are kept
        found = self.installations.find_installation(*self._key(enterprise_id, team_id, is_enterprise_install))
        if found is None:
            return None
        return SlackInstallation(
            app_id=found.app_id or None, enterprise_id=found.enterprise_id or None,
            enterprise_name=found.enterprise_name or None, team_id=found.team_id or None,
            team_name=found.team_name or None, bot_token=found.bot_token, bot_id=found.bot_id or None,
            bot_user_id=found.bot_user_id, bot_scopes=found.scopes, user_id=found.installer_id,
            is_enterprise_install=found.is_enterprise_install, installed_at=found.installed_at)

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        found = await self.async_find_installation(enterprise_id=enterprise_id, team_id=team_id,
                                                   is_enterprise_install=is_enterprise_install)
        return found.to_bot() if found is not None else None

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        key = self._key(enterprise_id, team_id, False)
        deleted = self.installations.delete_installation(*key)
        if not deleted and key[0] and key[1]:  # an org-wide installation, told of by one of its workspaces
            key = self._key(enterprise_id, team_id, True)
            deleted = self.installations.delete_installation(*key)
        if deleted:
            log.info("slack: uninstalled from workspace %s; its token is forgotten", key[1] or "(org-wide)")

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        if user_id is None:  # a user's own token was never kept: nothing to forget for them
            await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)


class DatabaseStateStore(AsyncOAuthStateStore):
    """One-time install states in the bot's database (the same file and lock as everything else,
    rather than slack_sdk's sqlite3 store, which opens its own connections on the event loop's thread
    and keeps its own schema outside the migrations)."""

    def __init__(self, installations: Installations, seconds: int = STATE_SECONDS):
        self.installations = installations
        self.seconds = seconds

    @property
    def logger(self) -> Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return self.installations.issue_state(self.seconds)

    async def async_consume(self, state: str) -> bool:
        return self.installations.consume_state(state)


# ---------------------------------------------------------------------- the installer's pages

REASONS = {"invalid_browser": "oauth_invalid_browser", "invalid_state": "oauth_invalid_state",
           "missing_code": "oauth_invalid_code", "invalid_code": "oauth_invalid_code",
           "storage_error": "oauth_storage_error"}


def _lang(request: AsyncBoltRequest) -> str:
    accept = (request.headers.get("accept-language") or [""])[0]
    return "zh" if accept.strip().lower().startswith("zh") else "en"


def _page(lang: str, *paragraphs: str) -> str:
    body = "".join(f"<p>{html_escape(p)}</p>" for p in paragraphs)
    title = html_escape(label("oauth_title", lang))
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
            f"<body><h1>{title}</h1>{body}</body></html>")


class Pages(AsyncCallbackOptions):
    """What the installer's browser shows when Slack sends it back, in English or Chinese."""

    def __init__(self, state_utils: OAuthStateUtils):
        self.state_utils = state_utils
        super().__init__(success=self.installed, failure=self.refused)

    def _response(self, status: int, html: str) -> BoltResponse:
        return BoltResponse(status=status, body=html, headers={
            "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
            "Set-Cookie": self.state_utils.build_set_cookie_for_deletion()})

    async def installed(self, args: AsyncSuccessArgs) -> BoltResponse:
        lang = _lang(args.request)
        inst = args.installation
        team = inst.team_name or inst.enterprise_name or inst.team_id or inst.enterprise_id or "Slack"
        return self._response(200, _page(lang, label("oauth_installed", lang, team=team), label("oauth_next", lang)))

    async def refused(self, args: AsyncFailureArgs) -> BoltResponse:
        lang = _lang(args.request)
        reason = REASONS.get(args.reason, "oauth_cancelled")
        log.info("slack: an installation was refused (%s)", args.reason[:40])
        text = _page(lang, label(reason, lang), label("oauth_refused", lang))
        again = html_escape(label("oauth_again", lang))
        html = text.replace("</body>", f'<p><a href="{INSTALL_PATH}">{again}</a></p></body>')
        return self._response(args.suggested_status_code, html)


# ---------------------------------------------------------------------- wiring


class SlackOAuth:
    """Add to Slack for one adapter: bolt's settings, the routes, and each workspace's client."""

    def __init__(self, config: OAuthConfig, settings: Settings, rows: Rows):
        self.installations = Installations(rows)
        self.store = DatabaseInstallationStore(self.installations)
        self.settings = settings
        assert config.slack_client_id and config.slack_client_secret
        secret = config.slack_client_secret.get_secret_value()
        state_utils = OAuthStateUtils(expiration_seconds=STATE_SECONDS)
        self.oauth_settings = AsyncOAuthSettings(
            client_id=config.slack_client_id, client_secret=secret, scopes=config.scopes,
            user_scopes=[], redirect_uri=config.slack_redirect_uri, install_path=INSTALL_PATH,
            install_page_rendering_enabled=False,  # straight to Slack: the link is the "Add to Slack" button
            redirect_uri_path=REDIRECT_PATH, callback_options=Pages(state_utils),
            authorization_url=config.slack_oauth_authorize_url, installation_store=self.store,
            installation_store_bot_only=True, state_store=DatabaseStateStore(self.installations),
            state_expiration_seconds=STATE_SECONDS, logger=log)
        # bolt's own authorize over the same store, with its auth.test answers remembered per token
        # (a token that is no longer in the store is never looked up, so the memory cannot revive it)
        self.authorize = AsyncInstallationStoreAuthorize(
            logger=log, installation_store=self.store, client_id=config.slack_client_id, client_secret=secret,
            bot_only=True, cache_enabled=True, client=self.client())
        self._chats: dict[str, tuple[str, str]] = {}  # chat -> workspace, as last written

    def client(self, token: str | None = None) -> AsyncWebClient:
        """A Web API client at SLACK_API_URL that logs no request or response bodies."""
        usual = web_client(self.settings, token)
        return AsyncWebClient(token=token, base_url=usual.base_url, timeout=usual.timeout,
                              retry_handlers=usual.retry_handlers, logger=api_log)

    def add_routes(self, web_app: web.Application, flow: Any) -> None:
        """GET /slack/install and /slack/oauth_redirect, answered by bolt's OAuth flow."""

        async def install(request: web.Request) -> web.Response:
            return await self._answer(request, flow.handle_installation)

        async def redirect(request: web.Request) -> web.Response:
            return await self._answer(request, flow.handle_callback)

        web_app.router.add_get(INSTALL_PATH, install)
        web_app.router.add_get(REDIRECT_PATH, redirect)

    async def _answer(self, request: web.Request, step: Any) -> web.Response:
        query: dict[str, Sequence[str]] = {k: request.query.getall(k) for k in request.query}
        if not all(re.fullmatch(r"[TE][A-Z0-9]{2,30}", team) for team in query.get("team", [])):
            del query["team"]  # it goes into Slack's authorize address as it is: only a workspace id may
        bolt_request = AsyncBoltRequest(body="", query=query, headers=dict(request.headers))
        try:
            return web_response(await step(bolt_request))
        except Exception as exc:  # noqa: BLE001 - e.g. Slack unreachable: the installer learns nothing was kept
            log.warning("slack: an installation step failed: %s", type(exc).__name__)
            lang = _lang(bolt_request)
            return web.Response(status=502, content_type="text/html", charset="utf-8", text=_page(
                lang, label("oauth_storage_error", lang), label("oauth_refused", lang)))

    def note_chat(self, context: Any) -> None:
        """Remember which workspace a request's chat is in (for posts nobody asked for, e.g. digests)."""
        chat = context.get("channel_id")
        if not chat or not context.get("token"):
            return
        workspace = (context.enterprise_id or "", "" if context.is_enterprise_install else context.team_id or "")
        if self._chats.get(chat) != workspace:
            if len(self._chats) >= 50_000:
                self._chats.clear()
            self.installations.note_chat(chat, *workspace)
            self._chats[chat] = workspace

    def client_for_chat(self, chat_id: str) -> AsyncWebClient:
        """The client of the workspace a chat is in; LookupError when that workspace has no installation."""
        workspace = self.installations.chat_workspace(chat_id)
        found = self.installations.find_installation(*workspace) if workspace else None
        if found is None:
            raise LookupError(f"no installation for the workspace of chat {chat_id[:40]}")
        return self.client(found.bot_token)

    def register_revocations(self, app: Any, as_job: Any) -> None:
        """app_uninstalled and tokens_revoked: bolt's own listeners, each run once per inbox item."""
        uninstalled = app.default_app_uninstalled_event_listener()
        revoked = app.default_tokens_revoked_event_listener()

        @app.event("app_uninstalled")
        async def on_uninstalled(context: Any) -> None:
            await as_job(context, lambda: uninstalled(context=context))

        @app.event("tokens_revoked")
        async def on_revoked(event: dict, context: Any) -> None:
            await as_job(context, lambda: revoked(event=event, context=context))


__all__ = ["BOT_SCOPES", "INSTALL_PATH", "REDIRECT_PATH", "OAuthConfig", "SlackOAuth", "oauth_config"]
