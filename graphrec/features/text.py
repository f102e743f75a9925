"""Text block: TF-IDF of word unigrams and bigrams, built with vectorised pandas operations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

TOKEN = r"[^\W_]+"


def tfidf(
    texts: pd.Series, min_df: int = 2, max_df: float = 0.5, max_features: int = 50_000, bigrams: bool = True
) -> sp.csr_matrix:
    """Sublinear TF-IDF rows (L2-normalised) of ``texts``.

    Args:
        texts: one string per pin.
        min_df: drop terms in fewer documents.
        max_df: drop terms in more than this share of documents (stop words).
        max_features: keep the most frequent remaining terms.
        bigrams: add adjacent word pairs.
    """
    n = len(texts)
    tok = texts.fillna("").astype(str).str.lower().str.findall(TOKEN).explode().dropna()
    doc = tok.index.to_numpy(np.int64) if n else np.empty(0, np.int64)
    codes, uniques = pd.factorize(tok.to_numpy(dtype=object))
    codes = codes.astype(np.int64)
    n_words = len(uniques)
    terms, docs = [codes], [doc]
    if bigrams and len(codes) > 1:  # a bigram is the integer pair (left word, right word)
        same = doc[1:] == doc[:-1]
        pair, _ = pd.factorize(codes[:-1][same] * n_words + codes[1:][same])
        terms.append(n_words + pair.astype(np.int64))
        docs.append(doc[:-1][same])
    cols, rows = np.concatenate(terms), np.concatenate(docs)
    n_terms = int(cols.max()) + 1 if len(cols) else 0
    m = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(n, n_terms))
    m.sum_duplicates()
    df = np.bincount(m.indices, minlength=m.shape[1])
    keep = np.flatnonzero((df >= min_df) & (df <= max(max_df * n, min_df)))
    keep = keep[np.argsort(-df[keep], kind="stable")[:max_features]]
    keep.sort()
    m = m[:, keep].tocsr()
    m.data = 1.0 + np.log(m.data)
    idf = np.log((1.0 + n) / (1.0 + df[keep])) + 1.0
    m = (m @ sp.diags(idf.astype(np.float32))).tocsr()
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return (sp.diags(1.0 / np.maximum(norms, 1e-12)) @ m).tocsr().astype(np.float32)
