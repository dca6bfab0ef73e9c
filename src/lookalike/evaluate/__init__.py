"""Measuring recommendation quality on a shop's own catalog.

Ground truth (``truth``), metrics as array functions (``metrics``), bootstrap intervals and
catalog-level summaries (``stats``), scoring of result lists (``scoring``), comparisons of
settings (``compare``), the ``lookalike evaluate`` run (``runner``) and its HTML/JSON report
(``report``, ``plots``, ``views``).
"""

from lookalike.evaluate.metrics import (
    average_precision_at_k,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    relevance,
)
from lookalike.evaluate.scoring import SettingResult, evaluate_vectors
from lookalike.evaluate.stats import (
    Estimate,
    bootstrap_ci,
    catalog_coverage,
    gini,
    top_share,
)
from lookalike.evaluate.truth import (
    GroundTruth,
    TruthSpec,
    build_truth,
    sample_queries,
    truth_from_labels,
)

__all__ = [
    "Estimate",
    "GroundTruth",
    "SettingResult",
    "TruthSpec",
    "average_precision_at_k",
    "bootstrap_ci",
    "build_truth",
    "catalog_coverage",
    "evaluate_vectors",
    "gini",
    "hit_rate_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
    "relevance",
    "sample_queries",
    "top_share",
    "truth_from_labels",
]
