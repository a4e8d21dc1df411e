"""Word vectors learnt from the training messages themselves, to start the spam model's
embedding from: a positive PMI matrix of word co-occurrence, factored by a truncated SVD.

Nothing is downloaded: the vectors come from the same token ids the model trains on (the
training part of the split only, never dev or test). Words that keep the same company get
nearby vectors, so a word seen a few times, or only in one class, starts near the words it
appears with; on the temporal split that is where the gain is (README, "Benchmarks").
The recipe follows Levy, Goldberg & Dagan (2015), "Improving distributional similarity with
lessons learned from word embeddings" (TACL 3): context counts smoothed to the power 0.75,
positive PMI, and the SVD's singular values weighted by their square root.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sparse
import torch
from sklearn.utils.extmath import randomized_svd
from threadpoolctl import threadpool_limits
from torch import nn

WINDOW = 5            # words either side that count as company, weighted 1/distance
CONTEXT_POWER = 0.75  # context-distribution smoothing (Levy et al. 2015, section 3.1)
SPREAD = 0.5          # standard deviation of the vectors (nn.Embedding's own init has 1)


def cooccurrence_vectors(sequences: Sequence[Sequence[int]], vocab_size: int, dim: int, *,
                         window: int = WINDOW, skip: Sequence[int] = (), spread: float = SPREAD,
                         seed: int = 0) -> np.ndarray:
    """``(vocab_size, dim)`` float32 vectors with standard deviation ``spread``.

    ``sequences``: token ids per message; ``skip``: ids that get a zero row and count as no
    one's company (padding). Rows of ids that never occur are zero too. Seeded and exact for a
    given input (the SVD's random projection takes ``seed``), whatever the number of BLAS
    threads the environment allows (the SVD runs on one).
    """
    if not 1 <= dim < vocab_size:
        raise ValueError(f"dim must be in 1..vocab_size - 1 ({vocab_size - 1}), got {dim}")
    counts = _cooccurrence(sequences, vocab_size, window, skip)
    ppmi = _positive_pmi(counts)
    vectors = np.zeros((vocab_size, dim), dtype=np.float32)
    if ppmi.nnz == 0:
        return vectors
    with threadpool_limits(limits=1):     # BLAS threads sum in another order: one, always
        u, s, _ = randomized_svd(ppmi, n_components=dim, random_state=seed)
    vectors[:] = u * np.sqrt(s)                          # (V, dim): eigenvalue weighting p = 0.5
    vectors *= spread / max(float(vectors.std()), 1e-12)
    vectors[list(skip)] = 0.0
    return vectors


def _cooccurrence(sequences, vocab_size: int, window: int, skip) -> sparse.csr_matrix:
    """Symmetric ``(V, V)`` counts: each pair ``window`` or fewer apart adds 1/distance."""
    ids = [np.asarray(s, dtype=np.int32) for s in sequences]
    ids = [s[~np.isin(s, skip)] if len(skip) else s for s in ids]
    counts = sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float32)
    for distance in range(1, window + 1):   # one distance at a time: memory stays ~one pass
        left = [s[:-distance] for s in ids if len(s) > distance]
        if not left:
            break
        rows = np.concatenate(left)
        cols = np.concatenate([s[distance:] for s in ids if len(s) > distance])
        weight = np.full(len(rows), 1.0 / distance, dtype=np.float32)
        counts = counts + sparse.csr_matrix((weight, (rows, cols)), shape=counts.shape)
    return (counts + counts.T).tocsr()


def _positive_pmi(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    """``max(0, log P(w, c) / (P(w) P_0.75(c)))`` on the stored pairs."""
    total = float(counts.sum())
    if total == 0:
        return counts
    word = np.asarray(counts.sum(axis=1)).ravel()           # (V,)
    context = word ** CONTEXT_POWER
    context /= context.sum()
    pairs = counts.tocoo()
    pmi = (np.log(pairs.data / total) - np.log(word[pairs.row] / total)
           - np.log(context[pairs.col]))
    keep = pmi > 0
    return sparse.csr_matrix((pmi[keep].astype(np.float32), (pairs.row[keep], pairs.col[keep])),
                             shape=counts.shape)


def find_embedding(model: nn.Module, vocab_size: int) -> nn.Embedding | None:
    """The model's one ``nn.Embedding`` with ``vocab_size`` rows, else None (none, or several)."""
    found = [m for m in model.modules()
             if isinstance(m, nn.Embedding) and m.num_embeddings == vocab_size]
    return found[0] if len(found) == 1 else None


def init_from_cooccurrence(model: nn.Module, sequences: Sequence[Sequence[int]], vocab_size: int,
                           *, pad_id: int | None = None, seed: int = 0) -> bool:
    """Overwrite ``model``'s embedding with :func:`cooccurrence_vectors` of ``sequences``.

    Returns False (and changes nothing) when the model has no single embedding of
    ``vocab_size`` rows to start (a student's model may be built otherwise), or when the
    vocabulary is too small to factor into that many columns (a toy corpus).
    """
    embedding = find_embedding(model, vocab_size)
    if embedding is None or embedding.embedding_dim >= vocab_size:
        return False
    skip = () if pad_id is None else (pad_id,)
    vectors = cooccurrence_vectors(sequences, vocab_size, embedding.embedding_dim, skip=skip,
                                   seed=seed)
    with torch.no_grad():
        embedding.weight.copy_(torch.from_numpy(vectors))
    return True
