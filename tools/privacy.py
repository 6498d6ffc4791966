"""python -m tools.privacy purge | export CONVERSATION_ID | delete CONVERSATION_ID

RGPD operations on the base of GUICHET_DATA_DIR. The app also purges by
itself every few hours (privacy.retention_days in bot/settings.yml).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bot.core.db import create_engine
from bot.retention import delete_conversation, export_conversation, purge
from bot.schema import create_schema
from bot.settings import SettingsError, load_settings


async def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    engine = create_engine(settings.database_url)
    await create_schema(engine)
    try:
        if args.command == "purge":
            days = args.days or settings.retention_days
            counts = await purge(engine, settings.data_dir, days, settings.rasa_tracker_url)
            print(json.dumps({"retention_days": days, "deleted": counts}))
        elif args.command == "export":
            data = await export_conversation(
                engine, settings.data_dir, args.conversation_id, settings.rasa_tracker_url
            )
            print(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            counts = await delete_conversation(
                engine, settings.data_dir, args.conversation_id, settings.rasa_tracker_url
            )
            print(json.dumps({"conversation_id": args.conversation_id, "deleted": counts}))
    finally:
        await engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.privacy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_purge = sub.add_parser("purge", help="delete data older than the retention period")
    p_purge.add_argument("--days", type=int, help="override privacy.retention_days")
    for name in ("export", "delete"):
        p = sub.add_parser(name, help=f"{name} everything stored about one conversation")
        p.add_argument("conversation_id")
    args = parser.parse_args(argv)
    if getattr(args, "days", None) is not None and args.days < 1:
        print("tools.privacy: --days must be at least 1", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args))
    except SettingsError as exc:
        print(f"tools.privacy: invalid configuration: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
