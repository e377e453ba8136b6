"""What every `gatebot` subcommand shares: exit codes, usage errors, and opening the rules, the
service and the model judge from the settings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage or unreadable input: reported in one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def rules_and_classifier():
    from .classifier import Classifier
    from .model import ModelError
    from .reading import ReadingRulesError
    from .ruleset import RulesError, load_rules
    from .settings import load_settings

    settings = load_settings()
    try:
        rules = load_rules(Path(settings.gatebot_rules) if settings.gatebot_rules else None)
    except RulesError as exc:
        raise UsageError(f"invalid rules, run `gatebot rules check`: {exc.problems[0]}") from None
    try:
        return settings, rules, Classifier(rules)
    except (ModelError, ReadingRulesError) as exc:  # a damaged or hand-edited model file
        raise UsageError(f"cannot load the model in {rules.root}: {exc}") from None


def default_zone(name: str) -> str:
    """GATEBOT_TZ as its canonical IANA name; an unknown zone is a usage error, not a silent UTC."""
    from .timing import resolve_zone

    if not (name or "").strip():
        return "UTC"
    zone = resolve_zone(name)
    if zone is None:
        raise UsageError(f"GATEBOT_TZ={name[:60]!r} is not a known IANA time zone, e.g. Asia/Shanghai or UTC")
    return zone.key


def open_service():
    from .service import Service
    from .store import Store

    settings, rules, classifier = rules_and_classifier()
    try:
        store = Store(settings.gatebot_db)
    except Exception as exc:  # sqlite errors: unwritable path, not a database, ...
        raise UsageError(f"cannot open database {settings.gatebot_db}: {exc}") from None
    service = Service(rules, store, classifier)
    service.admins = settings.admins
    service.default_tz = default_zone(settings.gatebot_tz)
    service.retention_days = settings.gatebot_retention_days
    return settings, service


def judge_for(settings, rules, store=None):
    """The model judge when GATEBOT_LLM_URL is set (and the mode is not off), else None."""
    from .judge import Judge
    from .judge_prompt import JudgeConfigError

    try:
        return Judge.from_settings(settings, rules, store)
    except JudgeConfigError as exc:
        raise UsageError(str(exc)) from None


def judge_with_store(settings, rules):
    """The model judge with its answers cached in the store (GATEBOT_DB); None when not configured."""
    if not (settings.gatebot_llm_url or "").strip() or settings.gatebot_llm_mode == "off":
        return None
    from .store import Store  # imported only when needed: sqlite-utils alone costs ~0.15 s of start-up

    judge_for(settings, rules)  # configuration problems first, before a database file is created
    try:
        store = Store(settings.gatebot_db)
    except Exception as exc:  # sqlite errors: unwritable path, not a database, ...
        raise UsageError(f"cannot open database {settings.gatebot_db}: {exc}") from None
    return judge_for(settings, rules, store)
