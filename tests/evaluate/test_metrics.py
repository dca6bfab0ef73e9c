"""Metrics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.evaluate.metrics import (
    average_precision_at_k,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    relevance,
)

REL = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=bool)
N_REL = np.array([3, 0, 10])


def test_precision_and_recall_by_hand() -> None:
    np.testing.assert_allclose(precision_at_k(REL, 4), [0.5, 0.0, 1.0])
    np.testing.assert_allclose(precision_at_k(REL, 1), [1.0, 0.0, 1.0])
    np.testing.assert_allclose(recall_at_k(REL, N_REL, 4), [2 / 3, np.nan, 0.4])


def test_average_precision_by_hand() -> None:
    # query 0: relevant at ranks 1 and 3 -> (1/1 + 2/3) / min(4, 3)
    np.testing.assert_allclose(
        average_precision_at_k(REL, N_REL, 4), [(1 + 2 / 3) / 3, np.nan, 1.0]
    )


def test_ndcg_by_hand() -> None:
    dcg = 1 + 1 / np.log2(4)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    np.testing.assert_allclose(ndcg_at_k(REL, N_REL, 4), [dcg / ideal, np.nan, 1.0])


def test_hit_rate_is_recall_at_1_for_instances() -> None:
    np.testing.assert_allclose(hit_rate_at_k(REL, N_REL, 1), [1.0, np.nan, 1.0])
    np.testing.assert_allclose(hit_rate_at_k(REL[:, 1:], N_REL, 1), [0.0, np.nan, 1.0])


def test_relevance_from_labels_and_bad_k() -> None:
    rel = relevance(np.array(["a", "b"]), np.array([["a", "b"], ["a", "b"]]))
    assert rel.tolist() == [[True, False], [False, True]]
    with pytest.raises(ValueError):
        precision_at_k(rel, 0)


def test_query_with_no_relevant_item_is_nan_everywhere_but_precision() -> None:
    rel = np.zeros((1, 3), dtype=bool)
    n_rel = np.array([0])
    assert precision_at_k(rel, 3)[0] == 0.0  # precision does not divide by n_relevant
    for fn in (recall_at_k, average_precision_at_k, ndcg_at_k, hit_rate_at_k):
        assert np.isnan(fn(rel, n_rel, 3)[0])
    # np.nanmean leaves such a query out instead of counting a zero
    both = np.vstack([rel, [[True, False, False]]])
    assert np.nanmean(average_precision_at_k(both, np.array([0, 1]), 3)) == 1.0


def test_ties_are_ranked_by_catalog_row_and_each_rank_counts() -> None:
    # Tie rule (documented in evaluate/scoring.py): equal scores keep the lower row first.
    from lookalike.index.exact import knn_exact

    base = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    query = np.array([[0.0, 1.0]], dtype=np.float32)
    _, rows = knn_exact(query, base, 4)
    assert rows[0].tolist() == [1, 2, 0, 3]
    labels = np.array(["a", "b", "a", "b"])  # row 1 relevant, row 2 (same score) not
    rel = relevance(np.array(["b"]), labels[rows])
    assert rel.tolist() == [[True, False, False, True]]
    np.testing.assert_allclose(precision_at_k(rel, 2), [0.5])
    np.testing.assert_allclose(average_precision_at_k(rel, np.array([2]), 4), [(1 + 2 / 4) / 2])


def test_short_lists_and_k_beyond_results() -> None:
    rel = np.array([[True, False]])
    # asking for k=4 with only 2 results: the missing ranks count as not relevant
    np.testing.assert_allclose(precision_at_k(rel, 4), [0.25])
    np.testing.assert_allclose(recall_at_k(rel, np.array([2]), 4), [0.5])
    np.testing.assert_allclose(ndcg_at_k(rel, np.array([2]), 4), [1 / (1 + 1 / np.log2(3))])
