"""Caches: links read (with expiry) and model judgements."""

from __future__ import annotations

import json
from datetime import timedelta

from .base import Rows, iso


class CacheRows(Rows):
    def cached_link(self, url: str) -> dict | None:
        """The cached row for a URL while it has not expired, else None."""
        with self.lock:
            rows = list(self.db.table("link_cache").rows_where("url = ? and expires_at > ?", [url, iso(self.clock())]))
        return rows[0] if rows else None

    def cache_link(self, url: str, *, ok: bool, title: str, description: str, error: str, detail: str,
                   verdict: str, ttl: timedelta) -> None:
        now = self.clock()
        with self.lock, self.db.conn:
            self.db.table("link_cache").upsert(
                {"url": url, "fetched_at": iso(now), "expires_at": iso(now + ttl), "ok": int(ok), "title": title,
                 "description": description, "error": error, "detail": detail[:500], "verdict": verdict},
                pk="url",
            )

    def cached_judgement(self, key: str) -> dict | None:
        """A model's stored answer for this cache key (see bot/judge.py), or None."""
        with self.lock:
            row = self.db.execute("select answer from judgements where key = ?", [key]).fetchone()
        try:
            return json.loads(row[0]) if row else None
        except ValueError:
            return None

    def cache_judgement(self, key: str, model: str, text_key: str, answer: dict) -> None:
        with self.lock, self.db.conn:
            self.db.table("judgements").upsert(
                {"key": key, "model": model, "text_key": text_key, "answer": json.dumps(answer, ensure_ascii=False),
                 "created_at": iso(self.clock())}, pk="key")
