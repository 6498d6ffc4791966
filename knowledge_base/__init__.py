"""Municipal knowledge base: articles staff edit, and French retrieval over them."""

from knowledge_base.interface import Confidence, KnowledgeAnswer, KnowledgeSearch, Passage

__all__ = ["Confidence", "KnowledgeAnswer", "KnowledgeSearch", "Passage"]
