"""The terminal adapter: `gatebot chat`. Reads stdin line by line, so it also works piped.

A line starting with "/" is a command; anything else is a message in a direct chat (the bot
always answers). Replies are rendered as plain text.
"""

from __future__ import annotations

import getpass
import sys
from typing import TextIO

from bot.reply import Reply
from bot.service import Message, Service

PLATFORM = "terminal"


def handle_line(service: Service, line: str, user: str) -> Reply | None:
    line = line.strip()
    if not line:
        return None
    if line.startswith("/") and len(line) > 1:
        name, _, args = line[1:].partition(" ")
        return service.handle_command(PLATFORM, "terminal", user, name, args)
    return service.handle_message(Message(PLATFORM, "terminal", user, line, is_direct=True))


def run_chat(service: Service, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() and stdout.isatty()
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "terminal"
    if interactive:
        stdout.write("gatebot — paste a headline (or /help, /gates); Ctrl-D to quit.\n")
    try:
        while True:
            if interactive:
                stdout.write("> ")
                stdout.flush()
            line = stdin.readline()
            if not line:
                break
            reply = handle_line(service, line, user)
            if reply is not None:
                stdout.write(reply.plain() + "\n\n")
                stdout.flush()
    except KeyboardInterrupt:
        stdout.write("\n")
    return 0
