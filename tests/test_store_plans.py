"""The store's per-message queries use an index that fits, so their cost does not grow with a chat's history."""

from __future__ import annotations

from gatebot.models import Verdict
from gatebot.store import Store


def test_seen_before_lookup_searches_by_text_not_through_the_chat_history(tmp_path):
    store = Store(tmp_path / "g.db")
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    store.add_message(platform="telegram", chat_id="-1001", user_id="u", text="昇腾CANN全面开源",
                      verdict=Verdict(gate=3, confidence="high", gates=[], lang="zh", compute=1.0))
    store.db.conn.set_trace_callback(None)
    lookup = next(s for s in statements if s.lstrip().lower().startswith("select min(created_at)"))
    plan = " ".join(str(row[-1]) for row in store.db.execute("explain query plan " + lookup).fetchall())
    # Walking (platform, chat_id, created_at) for min() would visit every message the chat ever had.
    assert "text_key=?" in plan and "created_at>" not in plan and "_chat_id_created_at " not in plan, plan
    store.close()
