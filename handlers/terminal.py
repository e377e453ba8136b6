"""The terminal adapter: `gatebot chat`. Reads stdin line by line, so it also works piped.

A line starting with "/" is a command; anything else is a message in a direct chat (the bot
always answers). Replies are rendered as plain text. Lines go through the service's async entry
points, so a pasted link is read here too when the service has a link reader.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import TextIO

from gatebot.reply import Reply
from gatebot.service import Message, Service

PLATFORM = "terminal"


async def handle_line(service: Service, line: str, user: str) -> Reply | None:
    line = line.strip()
    if not line:
        return None
    if line.startswith("/") and len(line) > 1:
        name, _, args = line[1:].partition(" ")
        return await service.ahandle_command(PLATFORM, "terminal", user, name, args, is_direct=True)
    return await service.ahandle_message(Message(PLATFORM, "terminal", user, line, is_direct=True))


def run_chat(service: Service, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() and stdout.isatty()
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "terminal"
    if interactive:
        stdout.write("gatebot — paste a headline or a link (or /help, /gates); Ctrl-D to quit.\n")
    loop = asyncio.new_event_loop()
    try:
        while True:
            if interactive:
                stdout.write("> ")
                stdout.flush()
            line = stdin.readline()
            if not line:
                break
            reply = loop.run_until_complete(handle_line(service, line, user))
            if reply is not None:
                stdout.write(reply.plain() + "\n\n")
                if reply.image:
                    stdout.write("(The chart is an image: `gatebot chart --out trend.png` writes it to a file.)\n\n")
                stdout.flush()
    except KeyboardInterrupt:
        stdout.write("\n")
    finally:
        loop.close()
    return 0
