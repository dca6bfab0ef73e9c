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
