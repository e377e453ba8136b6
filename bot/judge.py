"""A language model as the judge: any OpenAI-compatible chat model names the gate.

The offline classifier stays the evidence and the fallback. When GATEBOT_LLM_URL is set, a headline
is sent to `POST {url}/chat/completions` with instructions built from the rule files (the
checklist's gates from rules/gates.yaml; scope, conventions and worked examples from
rules/judge.yaml) and the headline alone in the user message. The model answers one JSON object
(gate, secondary, confidence, reason), validated here; its gate decides.

Never worse than offline: a timeout, a connection error, an HTTP error, a 429 (its Retry-After is
respected once), an answer that is not JSON or out of schema, or an answer that echoes the
instructions gives the rules' verdict within the timeout (+0.5 s hard bound), with one warning line
in the log that names neither the key nor the prompt. The model's text is untrusted: only the
validated fields are kept, the reason is cut to one short line with links removed, and the
chat adapters escape it like any user text.

Cost and speed: answers are cached in the store by model, instructions and normalised text (the
same headline pasted in ten chats costs one call; ten pasted at once share the one call in flight),
at most GATEBOT_LLM_CONCURRENCY calls are in flight, and every call is awaited, never blocking
the event loop, so other chats are answered meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import time
from collections import OrderedDict
from typing import Any

import httpx
from pydantic import ValidationError

from .judge_answer import (
    Answer,
    Decision,
    JudgeError,
    Judgement,
    compose,
    parse_completion,
    retry_after,
)
from .judge_prompt import (
    JudgeConfigError,
    answer_format,
    echoes,
    instructions,
    spec,
    system_prompt,
    user_message,
    windows,
)
from .models import Verdict
from .ruleset import RuleSet
from .settings import Settings
from .store import Store, text_key
from .text import fold

log = logging.getLogger("gatebot.judge")

MODES = ("always", "uncertain", "off")
MAX_TEXT = 2_000  # characters of a message sent to the model: a headline, or a pasted article's opening
MAX_BODY = 256 * 1024  # an answer is a few hundred bytes; a bigger body is a broken or hostile server
MAX_REASON = 240  # one short line in the chat
MAX_TOKENS = 300  # the answer is ~60 tokens; this caps a model that rambles
SLOT_WAIT = 0.25  # seconds a message waits for a free call slot before the rules answer it
HARD_MARGIN = 0.5  # seconds past the timeout after which a call is abandoned whatever its sockets do
PAUSE_AFTER = 5  # failures in a row (timeouts, network, 5xx) before calls pause ...
PAUSE_SECONDS = 30.0  # ... for this long: a dead server should not cost every message the timeout
MEMORY_CACHE = 4096  # answers kept in memory when there is no store (eval, classify without a db)
CHECK_HEADLINE = "ByteDance orders $5.6B of Ascend 950PR chips"

_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S+")
_SPACE = re.compile(r"\s+")


class Judge:
    """Asks one OpenAI-compatible model; shared by every chat of the process."""

    def __init__(
        self,
        rules: RuleSet,
        *,
        url: str,
        model: str,
        api_key: str | None = None,
        mode: str = "always",
        timeout: float = 10.0,
        concurrency: int = 4,
        store: Store | None = None,
        slot_wait: float = SLOT_WAIT,
    ):
        if mode not in MODES:
            raise JudgeConfigError(f"GATEBOT_LLM_MODE must be one of {', '.join(MODES)}, not {mode!r}")
        base = url.strip().rstrip("/")
        if not re.match(r"(?i)^https?://[^/\s]+", base):
            raise JudgeConfigError("GATEBOT_LLM_URL must be an http(s) base URL, e.g. https://api.deepseek.com/v1")
        if not model.strip():
            raise JudgeConfigError("GATEBOT_LLM_MODEL is required when GATEBOT_LLM_URL is set")
        self.endpoint = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self.model = model.strip()
        self.mode = mode
        self.timeout = float(timeout)
        self.concurrency = int(concurrency)
        self.slot_wait = max(0.0, float(slot_wait))
        self.store = store
        self.system = system_prompt(rules)
        self.fingerprint = hashlib.sha1((self.system + user_message("")).encode("utf-8")).hexdigest()[:16]
        self.example_texts = frozenset(ex.text for ex in spec(rules).examples)  # answers the model has seen
        # A reason may quote the public checklist, never the rest (task, conventions, format); prose
        # around the answer object may quote none of the instructions (a model reciting its prompt
        # would otherwise hand us a worked example's answer as its own).
        self._private = windows(instructions(rules) + "\n" + answer_format(rules))
        self._whole = windows(self.system)
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._json_mode = True  # ask for response_format json_object until a server refuses it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self._pending: dict[str, asyncio.Task] = {}
        self._memory: OrderedDict[str, dict] = OrderedDict()
        self._failures = 0
        self._paused_until = 0.0  # loop time before which no call is made
        self.calls = 0  # HTTP requests sent
        self.hits = 0  # judgements answered from the cache or from a call already in flight

    def __repr__(self) -> str:  # never the headers: they hold the key
        return f"Judge(model={self.model!r}, endpoint={self.endpoint!r}, mode={self.mode!r})"

    @classmethod
    def from_settings(cls, settings: Settings, rules: RuleSet, store: Store | None = None) -> Judge | None:
        """The configured judge, or None when GATEBOT_LLM_URL is unset or the mode is off."""
        url = (settings.gatebot_llm_url or "").strip()
        if not url or settings.gatebot_llm_mode == "off":
            return None
        key = settings.gatebot_llm_api_key.get_secret_value() if settings.gatebot_llm_api_key else None
        return cls(rules, url=url, model=settings.gatebot_llm_model, api_key=key or None,
                   mode=settings.gatebot_llm_mode, timeout=settings.gatebot_llm_timeout,
                   concurrency=settings.gatebot_llm_concurrency, store=store,
                   slot_wait=getattr(settings, "gatebot_llm_slot_wait", None) or SLOT_WAIT)

    # ------------------------------------------------------------------ deciding

    def wants(self, text: str, verdict: Verdict) -> bool:
        """Is the model asked about this text? (GATEBOT_LLM_MODE)"""
        if self.mode == "off" or verdict.reason == "empty" or not text.strip():
            return False
        folded = fold(text[:MAX_TEXT])
        if verdict.compute <= 0 and folded.latin_words < 3 and folded.cjk_chars < 5:
            return False  # "ok", "lunch?", an emoji: chatter too short to be news is never sent
        if self.mode == "always":
            return True
        return (verdict.gate != 0 and (verdict.confidence != "high" or bool(verdict.secondary))) or (
            verdict.gate == 0 and verdict.compute > 0)

    async def decide(self, text: str, verdict: Verdict) -> Decision:
        """The verdict to answer with: the model's when it is asked and answers, else the rules'."""
        if not self.wants(text, verdict):
            return Decision(verdict, verdict, "rules", self.model, fallback="skipped")
        try:
            judgement = await self.judge(text)
        except JudgeError as exc:
            # One line per failure; while calls are paused (the server asked us to wait, or kept
            # failing) messages skip the model, which is not a new failure.
            level = logging.INFO if exc.kind in ("paused", "busy") else logging.WARNING
            log.log(level, "llm judge %s failed (%s: %s); the rules decided", self.model, exc.kind, exc.detail)
            return Decision(verdict, verdict, "rules", self.model, fallback=exc.kind)
        except Exception as exc:  # noqa: BLE001 - a bug or a store error must not cost the chat its answer
            log.warning("llm judge %s failed unexpectedly (%s); the rules decided", self.model, type(exc).__name__)
            return Decision(verdict, verdict, "rules", self.model, fallback="error")
        return Decision(compose(verdict, judgement), verdict, "llm", self.model, judgement)

    def cache_key(self, text: str) -> str:
        return hashlib.sha1(f"{self.model}\n{self.fingerprint}\n{text_key(text[:MAX_TEXT])}".encode()).hexdigest()

    async def judge(self, text: str) -> Judgement:
        """The model's judgement of `text`: cached, shared with an identical call in flight, or asked."""
        key = self.cache_key(text)
        cached = self._cached(key)
        if cached is not None:
            self.hits += 1
            return cached
        loop = self._bind()
        if loop.time() < self._paused_until:
            raise JudgeError("paused", f"calls paused for {self._paused_until - loop.time():.0f} s more")
        task = self._pending.get(key)
        if task is None:
            task = loop.create_task(self._ask(key, text))
            self._pending[key] = task
            task.add_done_callback(functools.partial(self._finished, key))
        else:
            self.hits += 1
        try:
            async with asyncio.timeout(self.timeout + HARD_MARGIN):
                return await asyncio.shield(task)
        except TimeoutError:
            raise JudgeError("timeout", f"no answer within {self.timeout:g} s") from None

    async def check(self, text: str = CHECK_HEADLINE) -> Judgement:
        """One uncached call (`gatebot llm check`)."""
        self._bind()
        try:
            async with asyncio.timeout(self.timeout + HARD_MARGIN):
                return await self._call(text)
        except TimeoutError:
            raise JudgeError("timeout", f"no answer within {self.timeout:g} s") from None

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
        self._loop = None

    # ------------------------------------------------------------------ internals

    def _bind(self) -> asyncio.AbstractEventLoop:
        """Client, slots and in-flight calls belong to one event loop; a new loop gets new ones."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
                follow_redirects=False,
            )
            self._slots = asyncio.Semaphore(self.concurrency)
            self._pending = {}
        return loop

    def _finished(self, key: str, task: asyncio.Task) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # retrieved: a failure nobody waits for any more is not reported twice

    def _cached(self, key: str) -> Judgement | None:
        data = self.store.cached_judgement(key) if self.store is not None else self._memory.get(key)
        if not data:
            return None
        try:
            # Validated again like a fresh answer: a damaged cache entry is asked again.
            answer = Answer.model_validate(data)
        except (ValidationError, TypeError):
            return None
        return Judgement(model=self.model, gate=answer.gate, secondary=answer.secondary,
                         confidence=answer.confidence, reason=answer.reason, cached=True,
                         reading=answer.reading, metric=answer.metric)

    def _remember(self, key: str, text: str, judgement: Judgement) -> None:
        data = judgement.as_dict()
        if self.store is not None:
            self.store.cache_judgement(key, self.model, text_key(text[:MAX_TEXT]), data)
            return
        self._memory[key] = data
        while len(self._memory) > MEMORY_CACHE:
            self._memory.popitem(last=False)

    async def _ask(self, key: str, text: str) -> Judgement:
        judgement = await self._call(text)
        self._remember(key, text, judgement)
        return judgement

    async def _call(self, text: str) -> Judgement:
        """Wait for a slot, ask, validate; counts failures in a row and pauses calls after too many."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        assert self._slots is not None
        try:
            async with asyncio.timeout(self.timeout + HARD_MARGIN):
                try:
                    await asyncio.wait_for(self._slots.acquire(), min(self.slot_wait, self.timeout))
                except TimeoutError:
                    raise JudgeError("busy", f"all {self.concurrency} calls in flight for {self.slot_wait:g} s") from None
                try:
                    answer, prose, ms = await self._request(text[:MAX_TEXT], deadline)
                finally:
                    self._slots.release()
        except TimeoutError:
            self._failed(loop)
            raise JudgeError("timeout", f"no answer within {self.timeout:g} s") from None
        except JudgeError as exc:
            if exc.kind in ("timeout", "network", "http"):
                self._failed(loop)
            raise
        self._failures = 0
        return self._judgement(answer, prose, text, ms)

    def _failed(self, loop: asyncio.AbstractEventLoop) -> None:
        self._failures += 1
        if self._failures >= PAUSE_AFTER:
            self._failures = 0
            self._paused_until = loop.time() + PAUSE_SECONDS
            log.warning("llm judge %s: %d failures in a row, the rules alone decide for the next %.0f s",
                        self.model, PAUSE_AFTER, PAUSE_SECONDS)

    def _judgement(self, answer: Answer, prose: str, text: str, ms: float) -> Judgement:
        if prose.strip() and echoes(prose, text, self._whole):
            raise JudgeError("echo", "the answer repeats the instructions")
        reason = answer.reason
        # No links in the bot's voice: a pasted "answer with this link ..." shows none.
        reason = _URL.sub("", reason)
        reason = _SPACE.sub(" ", reason).strip()
        if len(reason) > MAX_REASON:
            reason = reason[: MAX_REASON - 1].rstrip() + "…"
        if echoes(reason, text, self._private):
            raise JudgeError("echo", "the answer repeats the instructions")
        return Judgement(self.model, answer.gate, answer.secondary, answer.confidence, reason, ms=ms,
                         reading=answer.reading, metric=answer.metric)

    def _body(self, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "temperature": 0,
            "max_tokens": MAX_TOKENS,
            "messages": [{"role": "system", "content": self.system}, {"role": "user", "content": user_message(text)}],
        }
        if self._json_mode:
            body["response_format"] = {"type": "json_object"}
        return body

    async def _request(self, text: str, deadline: float) -> tuple[Answer, str, float]:
        """POST the chat completion; one wait on 429 Retry-After, one retry without response_format."""
        loop = asyncio.get_running_loop()
        assert self._client is not None
        waited = plain_retry = False
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise JudgeError("timeout", f"no answer within {self.timeout:g} s")
            body = self._body(text)
            started = time.perf_counter()
            self.calls += 1
            try:
                async with self._client.stream("POST", self.endpoint, json=body, headers=self._headers,
                                               timeout=httpx.Timeout(remaining)) as resp:
                    raw = await _read_capped(resp)
            except httpx.TimeoutException:
                raise JudgeError("timeout", f"no answer within {self.timeout:g} s") from None
            except httpx.HTTPError as exc:
                raise JudgeError("network", type(exc).__name__) from None
            ms = (time.perf_counter() - started) * 1000
            status = resp.status_code
            if status == 429:
                wait = retry_after(resp.headers.get("retry-after"))
                if not waited and wait is not None and loop.time() + wait < deadline:
                    waited = True
                    await asyncio.sleep(wait)
                    continue
                if wait:
                    self._paused_until = max(self._paused_until, loop.time() + min(wait, 600))
                shown = f", Retry-After {wait:g} s" if wait is not None else ""
                raise JudgeError("rate_limited", f"HTTP 429{shown}")
            if status == 400 and "response_format" in body and not plain_retry and b"response_format" in raw[:4096]:
                plain_retry = True
                self._json_mode = False  # this server refuses JSON mode: ask in plain text from now on
                continue
            if status >= 400:
                raise JudgeError("http", f"HTTP {status}")
            answer, prose = parse_completion(raw)
            return answer, prose, ms


async def _read_capped(resp: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY:
            raise JudgeError("bad_answer", f"answer larger than {MAX_BODY // 1024} KB")
        chunks.append(chunk)
    return b"".join(chunks)


async def judge_many(judge: Judge, classifier: Any, texts: list[str]) -> list[Decision]:
    """Decisions for many texts, in order, with at most `judge.concurrency` of them waiting on a
    slot at once (so a long batch never times out waiting: only the call itself is timed)."""
    gate = asyncio.Semaphore(judge.concurrency)

    async def one(text: str) -> Decision:
        async with gate:
            return await judge.decide(text, classifier.classify(text))

    return list(await asyncio.gather(*(one(t) for t in texts)))
