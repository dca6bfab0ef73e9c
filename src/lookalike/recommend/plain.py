"""Whether a plain similar request can be answered with the bytes stored at build time.

The stored answers (``answerfile.py``) are a slice of the top-K table made into JSON once; they
are the live answer only while nothing steers it: no merchandising rules, no synced product
since the build, no shop default adding a filter, the table answering (cosine, image-only
weights, ``k`` within the stored depth). Checked once per recommender version and ``k``, so
a rules change or a sync shows at once: the version changes and the live path answers.
"""

from __future__ import annotations

from lookalike.recommend.query import SimilarQuery
from lookalike.recommend.similar import Recommender
from lookalike.recommend.steer import resolve
from lookalike.recommend.topk import Neighbors

__all__ = ["plain_template"]


def plain_template(rec: Recommender, product_id: str, k: int | None) -> bytes | None:
    """The stored answer of a request asking for nothing but ``k`` (None: unset), when it is
    exactly the live answer: no rules, no synced change, shop defaults adding nothing, the
    table answering. Otherwise None."""
    size = _plain_size(rec, k)
    answers, table = rec.plain_answers, rec.neighbors
    if not size or answers is None or not isinstance(table, Neighbors):
        return None
    row = table.row(product_id)
    return None if row is None else answers.template(row, size)


def _plain_size(rec: Recommender, k: int | None) -> int:
    """The number of results a plain request for ``k`` gets from the stored answers, or 0
    when they cannot answer it (memoised per recommender version)."""
    memo: dict[tuple[str, int | None], int] = rec.__dict__.setdefault("_plain_sizes", {})
    key = (rec.version, k)
    if key not in memo:
        if len(memo) > 256:
            memo.clear()
        memo[key] = _check_plain(rec, k)
    return memo[key]


def _check_plain(rec: Recommender, k: int | None) -> int:
    answers = rec.plain_answers
    if answers is None or rec.overlay or not rec.rules.empty:
        return 0
    query = resolve(rec, SimilarQuery(k=k), "api")
    if query.model_dump(exclude_none=True, exclude={"k"}) or query.size > answers.depth:
        return 0
    table = rec.answers_from_table(
        query.size, filters=rec.default_filters, metric="cosine", weights=rec.weights
    )
    return query.size if table and rec.weights.image == answers.image_weight else 0
