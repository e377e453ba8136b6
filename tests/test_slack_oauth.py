"""Add to Slack end to end: the real app (run.serve, HTTP mode, slack-bolt's own OAuth flow) against a
fake Slack on 127.0.0.1 that serves the authorize page, oauth.v2.access and the Web API, and records
which token each call carried. The installer's browser is an aiohttp client that keeps the state
cookie the way a browser would."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from fakes.slack_api import FakeSlackAPI, Workspace
from gatebot.handlers import slack
from gatebot.handlers.run import serve
from gatebot.handlers.slack_oauth import BOT_SCOPES, oauth_config
from gatebot.reply import Block, Reply
from gatebot.service import Service
from gatebot.settings import Settings
from gatebot.storage import installations as installations_module
from gatebot.storage.installations import STATE_SECONDS, Installation, Installations
from gatebot.store import Store
from test_slack import HEADLINE, SECRET, free_port, settle, sign

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "1234567890.0987654321"
CLIENT_SECRET = "client-secret-SECRET-0123456789abcdef"
ALPHA = Workspace("T0ALPHA01", "Alpha", "xoxb-alpha-token-SECRET-1", "U0ALPHABOT", "B0ALPHA01")
BETA = Workspace("T0BETA002", "Beta", "xoxb-beta-token-SECRET-2", "U0BETABOT0", "B0BETA002")
COOKIE = "slack-app-oauth-state"


def event_callback(team: Workspace, event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {"token": "legacy", "team_id": team.team_id, "api_app_id": "A0000001", "event": event,
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"team_id": team.team_id, "user_id": team.bot_user_id, "is_bot": True,
                                "is_enterprise_install": False}]}


def pasted(team: Workspace, text: str, ts: str, channel: str) -> dict[str, Any]:
    return {"type": "message", "channel": channel, "user": "U0READER1", "text": text, "ts": ts, "event_ts": ts,
            "channel_type": "channel", "team": team.team_id}


class Site:
    """The running bot seen from outside: a browser for the install pages, Slack for events."""

    def __init__(self, http: aiohttp.ClientSession, url: str, fake: FakeSlackAPI, service: Service):
        self.http, self.url, self.fake, self.service = http, url, fake, service
        self.installations = Installations(service.store)

    async def get(self, url: str, cookie: str | None = None) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
        headers = {"Cookie": f"{COOKIE}={cookie}", "Accept-Language": "en-GB,en"} if cookie else {}
        async with self.http.get(url, headers=headers, allow_redirects=False) as resp:
            return resp.status, await resp.text(), resp.headers

    async def start_install(self, team: Workspace) -> tuple[str, str]:
        """/slack/install and Slack's authorize page: (the redirect back with its code, the cookie's state)."""
        status, _, headers = await self.get(f"{self.url}/slack/install?team={team.team_id}")
        assert status == 302
        authorize = headers["Location"]
        assert authorize.startswith(self.fake.authorize_url + "?")
        cookie = headers["Set-Cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
        state = cookie.split(";")[0].split("=", 1)[1]
        status, _, headers = await self.get(authorize)
        assert status == 302
        back = headers["Location"]
        assert back.startswith(f"{self.url}/slack/oauth_redirect?") and f"state={state}" in back
        return back, state

    async def install(self, team: Workspace) -> str:
        back, state = await self.start_install(team)
        status, page, headers = await self.get(back, cookie=state)
        assert status == 200, page
        assert f"{COOKIE}=deleted" in headers["Set-Cookie"]  # the browser forgets the state
        return page

    async def event(self, team: Workspace, event: dict[str, Any], event_id: str) -> int:
        body = json.dumps(event_callback(team, event, event_id))
        headers = {"Content-Type": "application/json", **sign(body)}
        async with self.http.post(f"{self.url}/slack/events", data=body.encode(), headers=headers) as resp:
            return resp.status


@asynccontextmanager
async def running(tmp_path: Path, rules, classifier, monkeypatch, socket_mode: bool = False):
    async with FakeSlackAPI() as fake:
        fake.oauth_app(CLIENT_ID, CLIENT_SECRET, ALPHA, BETA)
        port = free_port()
        monkeypatch.setenv("SLACK_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("SLACK_CLIENT_SECRET", CLIENT_SECRET)
        monkeypatch.setenv("SLACK_REDIRECT_URI", f"http://127.0.0.1:{port}/slack/oauth_redirect")
        monkeypatch.setenv("SLACK_OAUTH_AUTHORIZE_URL", fake.authorize_url)
        service = Service(rules, Store(tmp_path / "gatebot.db"), classifier)
        settings = Settings(slack_bot_token=None, slack_signing_secret=None if socket_mode else SECRET,
                            slack_app_token="xapp-test-token" if socket_mode else None, slack_api_url=fake.base_url,
                            gatebot_http_host="127.0.0.1", gatebot_http_port=port, telegram_bot_token=None,
                            gatebot_db=str(service.store.path))
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve(service, settings, stop, ready))
        try:
            await asyncio.wait_for(ready.wait(), 10)
            async with aiohttp.ClientSession() as http:
                yield Site(http, f"http://127.0.0.1:{port}", fake, service)
        finally:
            stop.set()
            assert await asyncio.wait_for(task, 30) == 0
            service.store.close()


@pytest.fixture
def oauth(tmp_path, rules, classifier, monkeypatch):
    def run(body, socket_mode: bool = False):
        async def main():
            async with running(tmp_path, rules, classifier, monkeypatch, socket_mode) as site:
                await body(site)

        asyncio.run(asyncio.wait_for(main(), 45))

    return run


@pytest.mark.slow
def test_an_install_stores_the_workspace_and_no_secret_is_logged(oauth, caplog):
    async def body(site: Site):
        page = await site.install(ALPHA)
        assert "gatebot is now installed in Alpha." in page
        stored = site.installations.find_installation("", ALPHA.team_id)
        assert stored is not None
        assert (stored.bot_token, stored.bot_user_id, stored.bot_id) == (ALPHA.bot_token, ALPHA.bot_user_id,
                                                                         ALPHA.bot_id)
        assert stored.installer_id == ALPHA.installer and stored.installed_at
        assert stored.scopes == ",".join(BOT_SCOPES)  # what /slack/install asked Slack for
        (asked,) = site.fake.authorize_requests
        assert asked["client_id"] == CLIENT_ID and asked["scope"] == ",".join(BOT_SCOPES)
        (exchange,) = site.fake.of("oauth.v2.access")
        assert exchange.auth.startswith("Basic ")  # the client secret went to Slack, and only there
        assert ALPHA.bot_token not in repr(stored)

    with caplog.at_level(logging.DEBUG):
        oauth(body)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "installed in workspace T0ALPHA01" in logged
    for secret in (CLIENT_SECRET, ALPHA.bot_token, SECRET):
        assert secret not in logged


@pytest.mark.slow
def test_a_forged_or_reused_state_is_refused_and_nothing_is_stored(oauth):
    async def body(site: Site):
        back, state = await site.start_install(ALPHA)
        # forged: a state this bot never issued, even with a matching cookie
        forged = back.replace(f"state={state}", "state=forged-state-0001")
        status, page, headers = await site.get(forged, cookie="forged-state-0001")
        assert status == 401
        assert "forged, already used" in page and "nothing was stored" in page
        assert f"{COOKIE}=deleted" in headers["Set-Cookie"]
        # the real state from another browser (no cookie): refused too
        status, page, _ = await site.get(back)
        assert status == 400 and "not reached from an installation started in this browser" in page
        assert site.fake.of("oauth.v2.access") == []
        assert site.installations.count_installations() == 0
        # the installer's own browser still completes, once; the same answer again is refused
        status, _, _ = await site.get(back, cookie=state)
        assert status == 200
        status, page, _ = await site.get(back, cookie=state)
        assert status == 401 and "already used" in page
        assert len(site.fake.of("oauth.v2.access")) == 1
        assert site.installations.count_installations() == 1
        # /slack/install passes on only a workspace id to Slack's authorize address
        status, _, headers = await site.get(f"{site.url}/slack/install?team=T1%26redirect_uri%3Dhttps://evil.test")
        assert status == 302 and "evil" not in headers["Location"] and "team=" not in headers["Location"]
        # a refusal in the installer's language
        async with site.http.get(forged, headers={"Cookie": f"{COOKIE}=x", "Accept-Language": "zh-CN"}) as resp:
            assert resp.status == 400 and "没有保存任何内容" in await resp.text()

    oauth(body)


@pytest.mark.slow
def test_each_workspace_is_answered_with_its_own_token_until_it_uninstalls(oauth, caplog):
    async def body(site: Site):
        await site.install(ALPHA)
        await site.install(BETA)
        assert await site.event(ALPHA, pasted(ALPHA, HEADLINE, "1700000101.000100", "C0ALPHA01"), "EvA1") == 200
        (reply,) = await site.fake.wait_for("chat.postMessage")
        assert reply.params["channel"] == "C0ALPHA01" and "Gate 1" in reply.params["text"]
        assert reply.auth == f"Bearer {ALPHA.bot_token}"
        await site.event(BETA, pasted(BETA, HEADLINE, "1700000102.000100", "C0BETA001"), "EvB1")
        replies = await site.fake.wait_for("chat.postMessage", 2)
        assert replies[1].params["channel"] == "C0BETA001" and replies[1].auth == f"Bearer {BETA.bot_token}"
        assert site.installations.chat_workspace("C0BETA001") == ("", BETA.team_id)  # for digests later

        # Alpha uninstalls: Slack revokes the token and tells the app
        site.fake.revoke(ALPHA.bot_token)
        used_before = len(site.fake.used(ALPHA.bot_token))
        assert await site.event(ALPHA, {"type": "app_uninstalled"}, "EvA2") == 200
        for _ in range(200):  # bounded: the listener runs after Slack's 200
            if site.installations.find_installation("", ALPHA.team_id) is None:
                break
            await asyncio.sleep(0.01)
        assert site.installations.find_installation("", ALPHA.team_id) is None
        assert site.installations.find_installation("", BETA.team_id) is not None

        # a later event from Alpha makes no call with its token; Beta, sent after it, is still answered
        assert await site.event(ALPHA, pasted(ALPHA, HEADLINE, "1700000103.000100", "C0ALPHA01"), "EvA3") == 200
        await site.event(BETA, pasted(BETA, HEADLINE, "1700000104.000100", "C0BETA001"), "EvB2")
        replies = await site.fake.wait_for("chat.postMessage", 3)
        assert replies[2].params["channel"] == "C0BETA001" and replies[2].auth == f"Bearer {BETA.bot_token}"
        # auth.test per token: once at install, once for its first event, remembered after that
        assert len([c for c in site.fake.used(BETA.bot_token) if c.method == "auth.test"]) == 2
        await settle()
        assert len(site.fake.used(ALPHA.bot_token)) == used_before
        assert [c.params["channel"] for c in site.fake.of("chat.postMessage")].count("C0ALPHA01") == 1
        # nothing of Alpha's is left to resume after a restart
        assert site.service.inbox is not None
        assert site.service.inbox.resumable("slack") == []

        # Beta's bot token is revoked: forgotten too
        revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [BETA.bot_user_id]}}
        assert await site.event(BETA, revoked, "EvB3") == 200
        for _ in range(200):
            if site.installations.count_installations() == 0:
                break
            await asyncio.sleep(0.01)
        assert site.installations.count_installations() == 0

    with caplog.at_level(logging.DEBUG):
        oauth(body)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "uninstalled from workspace T0ALPHA01" in logged
    for secret in (CLIENT_SECRET, ALPHA.bot_token, BETA.bot_token, SECRET):
        assert secret not in logged


@pytest.mark.slow
def test_socket_mode_events_are_answered_with_the_installed_token(oauth):
    async def body(site: Site):
        await site.install(ALPHA)  # the install pages are served over HTTP beside Socket Mode
        event = event_callback(ALPHA, pasted(ALPHA, HEADLINE, "1700000201.000100", "C0ALPHA01"), "EvS1")
        await site.fake.push_envelope(event, envelope_id="env-oauth-1")
        (reply,) = await site.fake.wait_for("chat.postMessage")
        assert reply.auth == f"Bearer {ALPHA.bot_token}" and reply.params["thread_ts"] == "1700000201.000100"

    oauth(body, socket_mode=True)


def test_install_states_are_one_time_expire_and_stay_bounded(tmp_path, monkeypatch):
    now = [datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)]
    store = Store(tmp_path / "gatebot.db", clock=lambda: now[0])
    try:
        rows = Installations(store)
        first = rows.issue_state()
        assert rows.consume_state(first) and not rows.consume_state(first)  # once only
        late = rows.issue_state()
        now[0] += timedelta(seconds=STATE_SECONDS + 1)
        assert not rows.consume_state(late)  # older than ten minutes
        assert not rows.consume_state("") and not rows.consume_state("x" * 500)
        monkeypatch.setattr(installations_module, "STATE_KEEP", 5)
        issued = [rows.issue_state() for _ in range(12)]
        assert store.db.execute("select count(*) from oauth_states").fetchone()[0] <= 5
        assert rows.consume_state(issued[-1])  # the newest survive a flood; the oldest give way
        assert not rows.consume_state(issued[0])
    finally:
        store.close()


@pytest.mark.slow
def test_a_post_nobody_asked_for_goes_out_with_the_channels_workspace_token(tmp_path, rules, classifier,
                                                                            monkeypatch):
    async def main():
        async with FakeSlackAPI() as fake:
            fake.oauth_app(CLIENT_ID, CLIENT_SECRET, BETA)
            monkeypatch.setenv("SLACK_CLIENT_ID", CLIENT_ID)
            monkeypatch.setenv("SLACK_CLIENT_SECRET", CLIENT_SECRET)
            service = Service(rules, Store(tmp_path / "gatebot.db"), classifier)
            settings = Settings(slack_bot_token=None, slack_signing_secret=SECRET, slack_app_token=None,
                                slack_api_url=fake.base_url, telegram_bot_token=None)
            adapter = slack.build(service, settings, web.Application())
            await adapter.start()
            try:
                installations = Installations(service.store)
                installations.save_installation(Installation(enterprise_id="", team_id=BETA.team_id,
                                                             bot_token=BETA.bot_token, bot_user_id=BETA.bot_user_id))
                installations.note_chat("C0BETA001", "", BETA.team_id)
                digest = Reply(kind="board", lang="en", blocks=[Block(kind="text", text="Today's gates")])
                assert await adapter.send("C0BETA001", digest)
                (call,) = fake.of("chat.postMessage")
                assert call.auth == f"Bearer {BETA.bot_token}" and call.params["channel"] == "C0BETA001"
                with pytest.raises(LookupError):  # a channel of a workspace never seen
                    await adapter.send("C0UNKNOWN", digest)
                installations.delete_installation("", BETA.team_id)
                with pytest.raises(LookupError):  # uninstalled: its token is gone
                    await adapter.send("C0BETA001", digest)
                assert len(fake.of("chat.postMessage")) == 1
            finally:
                await adapter.stop()
                service.store.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_half_a_configuration_is_refused(monkeypatch, service, caplog):
    monkeypatch.setenv("SLACK_CLIENT_ID", CLIENT_ID)
    monkeypatch.delenv("SLACK_CLIENT_SECRET", raising=False)
    with pytest.raises(ValueError, match="SLACK_CLIENT_SECRET"):
        oauth_config(Settings(slack_bot_token=None, telegram_bot_token=None))
    settings = Settings(slack_bot_token=None, telegram_bot_token=None, gatebot_http_port=free_port())
    assert asyncio.run(asyncio.wait_for(serve(service, settings), 10)) == 2  # `gatebot run` exits 2, one line
    assert "needs both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET" in caplog.text
    monkeypatch.setenv("SLACK_CLIENT_SECRET", CLIENT_SECRET)
    assert oauth_config(Settings(slack_bot_token="xoxb-one-workspace", telegram_bot_token=None)) is None
    assert oauth_config(Settings(slack_bot_token=None, telegram_bot_token=None)) is not None


def test_the_manifest_asks_for_the_scopes_the_install_link_asks_for():
    manifest = yaml.safe_load((ROOT / "slack-manifest.yaml").read_text(encoding="utf-8"))
    assert tuple(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
    assert manifest["oauth_config"]["redirect_urls"] == ["https://gatebot.example.com/slack/oauth_redirect"]
    assert {"app_uninstalled", "tokens_revoked"} <= set(manifest["settings"]["event_subscriptions"]["bot_events"])


@pytest.mark.slow
def test_app_home_lists_only_the_viewers_own_workspace_channels(oauth):
    from gatebot import chatsettings

    async def body(site: Site):
        await site.install(ALPHA)
        await site.install(BETA)
        # each workspace's channel is seen once (a pasted headline), then given a setting of its own
        await site.event(ALPHA, pasted(ALPHA, HEADLINE, "1700000201.000100", "C0ALPHA01"), "EvA1")
        await site.event(BETA, pasted(BETA, HEADLINE, "1700000202.000100", "C0BETA001"), "EvB1")
        await site.fake.wait_for("chat.postMessage", 2)
        chatsettings.save(site.service.store, "slack", "C0ALPHA01", "U0ADMIN01", mode="mention")
        chatsettings.save(site.service.store, "slack", "C0BETA001", "U0ADMIN01", mode="quiet")
        home = {"type": "app_home_opened", "user": "U0READER1", "channel": "D0READER1", "tab": "home",
                "event_ts": f"{time.time():.6f}"}
        assert await site.event(BETA, home, "EvB2") == 200
        (call,) = await site.fake.wait_for("views.publish")
        assert call.auth == f"Bearer {BETA.bot_token}"
        text = json.dumps(site.fake.views["U0READER1"]["blocks"], ensure_ascii=False)
        assert "C0BETA001" in text
        assert "C0ALPHA01" not in text  # another workspace's channel is not this one's business

    oauth(body)
