"""Crash-test worker: the app's knowledge-base start-up, then saves without end.

`python -m tests.fault.kb_writer DATA_DIR EVENTS_FILE SEED` starts a `KnowledgeBase`
exactly as the app does (`KnowledgeBase.start()`: reconcile the Chroma index with the
article store), reports the state of the index and of the store in EVENTS_FILE,
then saves articles in a loop until it is killed:

* `full-*` articles through `KnowledgeBase.save` (the /admin editor's path:
  transaction on the store, then the index, in the same call);
* `store-*` articles through `ArticleStore.save` alone (another process's write,
  e.g. the import CLI: this process's index does not follow it, the next start-up
  must reconcile it).

Each article's title and body carry `[<slug> v<version>]`, so a row or a snapshot
can be checked against its version number. A line `{"ack": slug, "version": n}` is
appended (one `write` system call) after each save returned, never before.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

from bot.core.db import create_engine
from bot.schema import create_schema
from knowledge_base.articles import Article, Status
from knowledge_base.service import KnowledgeBase
from knowledge_base.store import ArticleStore

FULL = [f"full-{i}" for i in range(8)]
STORE_ONLY = [f"store-{i}" for i in range(16)]


def marker(slug: str, version: int) -> str:
    return f"[{slug} v{version}]"


def make_article(slug: str, version: int, status: Status, rng: random.Random) -> Article:
    # A body long enough that its transaction is not trivially small.
    words = " ".join(rng.choice(["mairie", "dossier", "rendez-vous", "pièce"]) for _ in range(300))
    return Article(
        slug=slug,
        title=f"Démarche {marker(slug, version)}",
        body=f"Réponse courte {marker(slug, version)}.\n\n## Détails\n\n{words}\n",
        category="Test de panne",
        synonyms=(f"synonyme {slug}",),
        url=f"https://www.example-town.fr/{slug}",
        status=status,
    )


def pick_status(rng: random.Random) -> Status:
    return rng.choices([Status.PUBLISHED, Status.DRAFT, Status.ARCHIVED], weights=[6, 2, 2])[0]


class Events:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, item: dict[str, Any]) -> None:
        os.write(self._fd, (json.dumps(item) + "\n").encode())


async def save_loop(
    kb: KnowledgeBase, slugs: list[str], full: bool, events: Events, rng: random.Random
) -> None:
    store: ArticleStore = kb.store
    while True:
        slug = rng.choice(slugs)
        current = await store.get(slug)
        expected = current.version if current else 0
        article = make_article(slug, expected + 1, pick_status(rng), rng)
        if full:
            saved = await kb.save(article, "crash-test", expected, "panne")
        else:
            saved = await store.save(article, "crash-test", expected, "panne")
        events.write({"ack": saved.slug, "version": saved.version})


async def index_state(kb: KnowledgeBase) -> dict[str, Any]:
    got = kb.index.vectors._collection.get(include=["metadatas"])
    chroma: dict[str, list[int]] = {}
    for meta in got["metadatas"] or []:
        chroma.setdefault(str(meta["slug"]), []).append(int(str(meta["version"])))
    published = {a.slug: a.version for a in await kb.store.all(Status.PUBLISHED)}
    memory = {}
    for slug in published:
        indexed = kb.index.article(slug)
        if indexed is not None:
            memory[slug] = indexed.version
    return {"chroma": chroma, "published": published, "memory": memory, "indexed": len(kb.index)}


async def main(data_dir: Path, events_path: Path, seed: int) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'guichet.db'}")
    await create_schema(engine)
    kb = KnowledgeBase(engine, data_dir)
    await kb.start()
    events = Events(events_path)
    events.write({"started": await index_state(kb)})
    rng = random.Random(seed)
    await asyncio.gather(
        save_loop(kb, FULL, True, events, random.Random(rng.random())),
        save_loop(kb, STORE_ONLY, False, events, random.Random(rng.random())),
    )


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
