"""Retrieval: keyword (BM25), dense (embeddings in FAISS), fusion, hybrid search, answers."""
