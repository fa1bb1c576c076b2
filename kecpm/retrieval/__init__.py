"""Retrieval of passages from a knowledge corpus (MoRe, issue #12): corpus, cached FAISS index, retriever."""

from kecpm.retrieval.corpus import Passage, normalise_text, read_corpus
from kecpm.retrieval.index import Embedder, PassageIndex, load_index
from kecpm.retrieval.retriever import Retriever, query_of

__all__ = ["Embedder", "Passage", "PassageIndex", "Retriever", "load_index", "normalise_text", "query_of",
           "read_corpus"]
