"""``lookalike evaluate`` measures the served lists by default: exactly what the Recommender
serves (self, group variants and near-duplicates left out); ``--raw`` measures the search."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from lookalike.evaluate.runner import EvaluateOptions, run_evaluation
from lookalike.evaluate.scoring import score_results
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.similar import Recommender
from lookalike.workspace import Workspace
from tests.conftest import texture_image

CATEGORIES = {"red": (170, 60, 60), "green": (60, 160, 70), "blue": (60, 70, 170)}
K = 4


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Three colour categories of 7 products; in each, a re-uploaded copy of one product (its
    nearest neighbour, same category) and a two-variant group."""
    root = tmp_path_factory.mktemp("served")
    shop = root / "shop"
    shop.mkdir()
    rows = ["id,title,image,category,group_id"]
    for c, (name, base) in enumerate(CATEGORIES.items()):
        for i in range(7):
            image = texture_image(10 * c + i, base=base)
            image.save(shop / f"{name}{i}.png")
            group = f"{name}-g" if i in (1, 2) else ""
            rows.append(f"{name}{i},{name} item {i},{name}{i}.png,{name},{group}")
            if i == 0:
                buffer = io.BytesIO()
                image.resize((200, 250), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=70)
                (shop / f"{name}-copy.jpg").write_bytes(buffer.getvalue())
                rows.append(f"{name}-copy,{name} copy,{name}-copy.jpg,{name},")
    (shop / "shop.csv").write_text("\n".join(rows) + "\n")
    build_workspace(root / "ws", shop / "shop.csv", BuildOptions(model="histogram", k=10))
    return Workspace(root / "ws")


def test_default_equals_the_served_lists(ws: Workspace) -> None:
    ev = run_evaluation(ws, EvaluateOptions(k=K, n_boot=20))
    assert ev.extra["lists"] == "served"
    result, truth = ev.results[0], ev.truth
    with Recommender(ws) as rec:
        served = [[r.product.id for r in rec.similar(truth.ids[q], K)] for q in result.queries]
        scores = [[r.score for r in rec.similar(truth.ids[q], K)] for q in result.queries]
    row = {pid: i for i, pid in enumerate(truth.ids)}
    rows = np.asarray([[row[p] for p in lst] for lst in served])
    assert [[truth.ids[r] for r in lst] for lst in result.results] == served
    expected = score_results(
        truth, result.queries, rows, np.asarray(scores), k=K, n_boot=20, all_results=None
    )
    for metric, values in expected.per_query.items():
        np.testing.assert_allclose(result.per_query[metric], values, equal_nan=True)
        assert result.overall[metric].mean == pytest.approx(expected.overall[metric].mean)
    # nothing the service hides is in a measured list
    for lst, q in zip(served, result.queries, strict=True):
        pid = truth.ids[q]
        assert pid not in lst
        if pid in ("red0", "red-copy"):
            assert {"red0", "red-copy"}.isdisjoint(lst)
        if pid in ("red1", "red2"):
            assert {"red1", "red2"}.isdisjoint(lst)


def test_raw_measures_the_search_and_other_settings_get_the_served_exclusions(
    ws: Workspace,
) -> None:
    compare = {"model": ("served", "histogram")}
    served = run_evaluation(ws, EvaluateOptions(k=K, n_boot=20, compare=compare))
    raw = run_evaluation(ws, EvaluateOptions(k=K, n_boot=20, compare=compare, raw=True))
    assert raw.extra["lists"] == "raw" and raw.extra["exclusions"] is None
    assert served.extra["exclusions"]["exclude_group"] is True
    ids = served.truth.ids

    def top(ev: object, setting: int, pid: str) -> list[str]:
        result = ev.results[setting]  # type: ignore[attr-defined]
        i = [ids[q] for q in result.queries].index(pid)
        return [ids[r] for r in result.results[i] if r >= 0]

    assert top(raw, 0, "red0")[0] == "red-copy"  # the copy is the raw nearest neighbour
    assert "red2" in top(raw, 0, "red1")
    for setting in (0, 1):  # the served model, and the same backbone named as another model
        assert "red-copy" not in top(served, setting, "red0")
        assert "red2" not in top(served, setting, "red1")
        assert len(top(served, setting, "red0")) == K
    # the same vectors ranked the same way: the other setting's lists are the served ones
    assert [list(r) for r in served.results[1].results] == [
        list(r) for r in served.results[0].results
    ]
    # copies and variants are same-category hits: the raw search looks better than served
    assert (
        raw.results[0].overall["Precision@1"].mean >= served.results[0].overall["Precision@1"].mean
    )
