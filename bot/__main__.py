"""`python -m bot`: run the Guichet app (web chat, action endpoint)."""

from __future__ import annotations

import asyncio
import logging
import sys

from bot.app import serve
from bot.observability.logs import configure_logging
from bot.settings import SettingsError, load_settings


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"guichet: invalid configuration: {exc}", file=sys.stderr)
        return 2
    # logging.format (text | json) and logging.level; personal data is masked in both.
    configure_logging(settings.logging.format, settings.logging.level)
    try:
        asyncio.run(serve(settings))
    except OSError as exc:
        print(f"guichet: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
