"""Keeping the Telegram bot token and webhook secret out of every log line (httpx logs request URLs,
which carry the token; PTB logs setWebhook's parameters and rejected tokens)."""

from __future__ import annotations

import logging
import traceback


class _RedactToken(logging.Filter):
    """Replaces the bot token and the webhook secret in a record's message and arguments."""

    def __init__(self, token: str, secret: str = "") -> None:
        super().__init__()
        self.token = token
        self.secrets = [(s, shown) for s, shown in ((token, "<token>"), (secret, "<secret>")) if s]

    def _clean(self, text: str) -> str:
        for value, shown in self.secrets:
            text = text.replace(value, shown)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        if any(value in message for value, _ in self.secrets):
            # e.g. PTB's DEBUG line with setWebhook's parameters, secret_token included
            record.msg = self._clean(message)
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # PTB's InvalidToken says "The token `...` was rejected": never print such a traceback
            formatted = "".join(traceback.format_exception(*record.exc_info))
            if any(value in formatted for value, _ in self.secrets):
                record.msg = f"{record.msg}\n{self._clean(formatted)}"
                record.args = None
                record.exc_info = None
                record.exc_text = None
        return True


def redact(text: str, token: str) -> str:
    return text.replace(token, "<token>") if token else text


_SECRET_LOGGERS = ("httpx", "httpcore", "telegram", "gatebot.telegram", "gatebot.run")


def quiet_token_loggers(token: str, secret: str = "") -> None:
    """httpx logs every request URL (bot<TOKEN>/method) at INFO: keep it at WARNING or above.

    A logger's filter sees only the records logged on it, not its children's: the redacting filter
    goes on every logger of those packages that exists (they are created when the modules load).
    """
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    redacting = _RedactToken(token, secret)
    names = {name for name in logging.Logger.manager.loggerDict
             if any(name == root or name.startswith(root + ".") for root in _SECRET_LOGGERS)}
    for name in sorted(names | set(_SECRET_LOGGERS)):
        logger = logging.getLogger(name)
        for f in [f for f in logger.filters if isinstance(f, _RedactToken) and f.token == token]:
            logger.removeFilter(f)
        logger.addFilter(redacting)
