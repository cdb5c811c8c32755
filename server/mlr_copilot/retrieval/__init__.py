"""Retrieval: related papers (local library, the paper's references, arXiv, Semantic Scholar,
OpenAlex), prototype code, and candidate Hugging Face models and datasets.

Entry points: `related.related_work`, `online.search_online`, `library.Library`,
`code.search_code`, `hub.candidates`; `bm25.BM25Index` is the ranking they share.
"""
