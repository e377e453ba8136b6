"""Shared fixtures. `testbot` pushes a message in and pops the reply (errbot style)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from drive import command, say
from gatebot.classifier import Classifier
from gatebot.reply import Reply
from gatebot.ruleset import RuleSet, load_rules
from gatebot.service import Message, Service
from gatebot.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    return load_rules(ROOT / "rules")


@pytest.fixture(scope="session")
def classifier(rules: RuleSet) -> Classifier:
    return Classifier(rules)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "gatebot.db")
    yield s
    s.close()


@pytest.fixture
def service(rules: RuleSet, classifier: Classifier, store: Store) -> Service:
    return Service(rules, store, classifier)


@dataclass
class TestBot:
    service: Service
    platform: str = "test"
    chat_id: str = "chat-1"
    user_id: str = "user-1"

    def push(self, text: str, *, direct: bool = False, addressed: bool = False) -> Reply | None:
        """A pasted message, through the adapters' async path."""
        return say(self.service, Message(self.platform, self.chat_id, self.user_id, text, is_direct=direct,
                                         addressed=addressed))

    def command(self, name: str, args: str = "", lang_hint: str | None = None, *, direct: bool = False) -> Reply:
        """A command, through the adapters' async path."""
        return command(self.service, self.platform, self.chat_id, self.user_id, name, args, lang_hint,
                       is_direct=direct)


@pytest.fixture
def testbot(service: Service) -> TestBot:
    return TestBot(service)
