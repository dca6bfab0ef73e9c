"""End to end: build a shop of real photos, evaluate it, open the report in headless chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from lookalike.evaluate.report import write_report
from lookalike.evaluate.runner import EvaluateOptions, run_evaluation
from lookalike.evaluate.truth import TruthSpec
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.workspace import Workspace
from tests.test_cli import run

if TYPE_CHECKING:
    from playwright.sync_api import Browser

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shop(photo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("shop") / "shop")
    build_workspace(ws, photo_folder, BuildOptions(progress=False))
    return ws


@pytest.fixture(scope="module")
def report_dir(shop: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    options = EvaluateOptions(
        k=5,
        queries=30,
        seed=3,
        compare={"model": ("lite0", "histogram", "random")},
        n_boot=200,
        progress=False,
    )
    # a learning-curve PNG where the train package puts them: the report must pick it up
    (shop.root / "train").mkdir(exist_ok=True)
    from lookalike.evaluate.plots import precision_curves

    evaluation = run_evaluation(shop, options)
    (shop.root / "train" / "learning_curve.png").write_bytes(precision_curves(evaluation.results))
    out = tmp_path_factory.mktemp("report")
    write_report(evaluation, out)
    return out


@pytest.mark.slow
def test_report_numbers_and_ordering(report_dir: Path) -> None:
    data = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    labels = [s["label"] for s in data["settings"]]
    assert labels == ["lite0", "histogram", "random"]
    assert data["queries"] == 30 and data["eligible_queries"] == 40
    by = {s["label"]: s for s in data["settings"]}
    # the model must clearly beat random on 5 visually distinct categories
    assert (
        by["lite0"]["overall"]["Precision@5"]["mean"]
        > by["random"]["overall"]["Precision@5"]["mean"] + 0.3
    )
    for s in data["settings"]:
        est = s["overall"]["mAP@5"]
        assert est["low"] <= est["mean"] <= est["high"]
        assert set(s["by_category"]["Precision@5"]) == {"dress", "hat", "pants", "shoes", "t-shirt"}
        assert 0 < s["coverage"] <= 1
    counts = data["confusion"]["top1_counts"]
    assert sum(map(sum, counts)) == 30
    assert len(data["reference_per_query"]) == 30


@pytest.mark.slow
def test_cli_evaluate_writes_report(shop: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    proc = run(
        *("evaluate", str(shop.root), "--compare", "model=lite0,histogram", "--k", "1,5"),
        *("--queries", "20", "--bootstrap", "50", "--out", str(out), "--quiet"),
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.html").is_file()
    assert json.loads((out / "report.json").read_text())["queries"] == 20
    # -q: one line (headline numbers and the report), no progress bar on stderr
    assert len(proc.stdout.strip().splitlines()) == 1 and "Precision@5" in proc.stdout
    assert "report:" in proc.stdout and proc.stderr.strip() == ""
    assert json.loads((out / "report.json").read_text())["cutoffs"] == [1, 5]
    wrong_k = run("evaluate", str(shop.root), "-k", "five")
    assert wrong_k.returncode == 2 and "Traceback" not in wrong_k.stderr
    bad = run("evaluate", str(shop.root), "--compare", "colour=red")
    assert bad.returncode == 2 and "error:" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
@pytest.mark.browser
def test_report_opens_offline_in_chromium(report_dir: Path, browser: Browser) -> None:
    # open from a different folder than it was written in: nothing may point outside the file
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "file://" not in html and "http://" not in html and "https://" not in html
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto((report_dir / "report.html").as_uri())
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.complete, e.naturalWidth, e.className])"
        )
        assert len(images) > 50
        assert all(complete and width > 0 for complete, width, _ in images), images
        plots = [i for i in images if i[2] == "plot"]
        assert len(plots) >= 4  # P@k curves, category bars, score histogram, training PNG
        assert page.locator("text=Failure cases").count() == 1
        assert page.locator("table.heat td").count() > 0
        assert page.locator("text=learning_curve").count() == 1
        # the verdict in plain words first, a glossary last, nothing wider than the window
        assert page.locator("section h2").first.inner_text() == "Verdict"
        assert "a shopper sees at least one relevant product" in page.inner_text(".verdict")
        assert page.locator(".glossary dt").count() >= 8
        glossary = page.inner_text(".glossary")
        for name in ("Precision@k", "Recall@k", "HitRate@k", "mAP@k", "NDCG@k"):
            assert name in glossary
        assert "Recall@1" not in page.inner_text(".verdict")  # no ambiguous top-1 "recall"
        header = page.inner_text("header")
        assert "a seeded sample of 30 of 40 eligible queries" in header and "±" in header
        assert "served lists" in header
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        # every request was the page itself or an inline data: URI
        assert all(u.startswith(("data:", "file://")) for u in requests), requests
        artifacts = REPO / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        page.screenshot(path=str(artifacts / "evaluate_report.png"), full_page=True)
    finally:
        page.close()


@pytest.mark.slow
def test_other_models_are_embedded_once_and_cached_in_the_workspace(
    shop: Workspace, report_dir: Path
) -> None:
    # report_dir already compared histogram: its image vectors sit in the workspace cache
    assert (shop.embeddings_dir / "histogram.npy").is_file()
    options = EvaluateOptions(
        k=3, queries=10, compare={"model": ("histogram",)}, n_boot=20, progress=False
    )
    again = run_evaluation(shop, options)
    assert again.extra["embedded"] == {"histogram": 0}
    assert again.results[0].label == "histogram"


@pytest.mark.slow
def test_identity_truth_on_grocery_photos(grocery_dir: Path, tmp_path: Path) -> None:
    # one catalog row per photo, group_id = the packaged product: the other photos of the same
    # product are the relevant results (instance retrieval, HitRate@1)
    lines = [
        line.split(",")[0].strip()
        for line in (grocery_dir / "train.txt").read_text(encoding="utf-8").splitlines()
        if "/Packages/" in line
    ]
    by_product: dict[str, list[str]] = {}
    for rel in lines:
        by_product.setdefault(Path(rel).parent.name, []).append(rel)
    rows = ["id,title,image,category,group_id"]
    for product, photos in sorted(by_product.items())[:4]:
        for i, rel in enumerate(photos[:6]):
            coarse = Path(rel).parent.parent.name
            rows.append(f"{product}-{i},{product},{grocery_dir / rel},{coarse},{product}")
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ws = Workspace(tmp_path / "grocery")
    # the photos stay in the shared dataset folder, outside the catalog's own folder
    options = BuildOptions(model="histogram", progress=False, allow_local_paths=grocery_dir)
    build_workspace(ws, catalog, options)
    options = EvaluateOptions(
        k=5, queries=None, truth=TruthSpec.parse("identity"), n_boot=50, progress=False
    )
    evaluation = run_evaluation(ws, options)
    result = evaluation.results[0]
    assert len(result.queries) == 24 and evaluation.truth.n_relevant(result.queries).max() == 5
    # consecutive shots of one package: the colour histogram finds a sibling photo first
    assert result.overall["HitRate@1"].mean > 0.8
    out = write_report(evaluation, tmp_path / "report")
    assert json.loads(out.with_suffix(".json").read_text())["truth"].startswith("same product")


@pytest.mark.slow
def test_user_onnx_model_is_compared_and_matches_the_builtin(
    shop: Workspace, tmp_path: Path
) -> None:
    import shutil

    from lookalike.embed.onnx_export import export_onnx

    user_model = tmp_path / "my-model.onnx"
    shutil.copy(export_onnx("lite0"), user_model)  # the same network, as a user's own file
    options = EvaluateOptions(
        k=5,
        queries=None,
        compare={"model": ("lite0", str(user_model))},
        n_boot=20,
        progress=False,
    )
    evaluation = run_evaluation(shop, options)
    builtin, user = evaluation.results
    assert user.label == "my-model.onnx"
    assert evaluation.extra["embedded"][str(user_model)] == 40
    assert user.overall["Precision@5"].mean == pytest.approx(
        builtin.overall["Precision@5"].mean, abs=0.03
    )


@pytest.mark.slow
def test_hybrid_weights_axis(shop: Workspace, tmp_path: Path) -> None:
    options = EvaluateOptions(
        k=5,
        queries=None,
        compare={
            "weights": ("none", "image=1", "image=1,attrs=1"),
            "metric": ("cosine", "euclidean", "manhattan"),
        },
        n_boot=20,
        progress=False,
    )
    evaluation = run_evaluation(shop, options)
    by = {r.label: r for r in evaluation.results}
    plain, image_only, with_attrs = (
        by["lite0"],
        by["lite0 · hybrid(image=1)"],
        by["lite0 · hybrid(image=1,attrs=1)"],
    )
    # image weight alone ranks exactly like the plain cosine search
    np.testing.assert_array_equal(image_only.results, plain.results)
    # an attribute weight on the category: every top-5 shares the query's category
    assert with_attrs.overall["Precision@5"].mean == 1.0 and "circular" in with_attrs.note
    # unit vectors: euclidean ranks exactly like cosine; manhattan is its own ranking
    np.testing.assert_array_equal(by["lite0 · euclidean"].results, plain.results)
    assert by["lite0 · manhattan"].overall["Precision@5"].mean > 0.5
    skipped = {s["label"] for s in evaluation.extra["skipped"]}
    assert "lite0 · manhattan · hybrid(image=1)" in skipped
    html = write_report(evaluation, tmp_path).read_text(encoding="utf-8")
    assert "partly circular" in html and "Settings not evaluated" in html


@pytest.mark.slow
def test_trained_head_is_compared_with_its_backbone_and_its_curve_shown(
    shop: Workspace, photo_folder: Path, tmp_path: Path
) -> None:
    import shutil

    from lookalike.train import TrainOptions, train_workspace

    ws = Workspace(shutil.copytree(shop.root, tmp_path / "shop"))  # keep the shared shop clean
    train_workspace(ws, TrainOptions(epochs=4, progress=False, force=True))
    build_workspace(ws, photo_folder, BuildOptions(progress=False))  # applies the head
    options = EvaluateOptions(
        k=5, queries=None, compare={"model": ("served", "lite0")}, n_boot=20, progress=False
    )
    evaluation = run_evaluation(ws, options)
    assert [r.label for r in evaluation.results] == ["lite0 + head", "lite0"]
    served, backbone = evaluation.results
    assert not np.array_equal(served.results, backbone.results)
    assert evaluation.extra["embedded"] == {"lite0 + head": 0, "lite0": 0}  # from the cache
    html = write_report(evaluation, tmp_path / "report").read_text(encoding="utf-8")
    assert "<h2>Training</h2>" in html and "learning_curve" in html


@pytest.mark.slow
def test_compression_and_ann_axes(shop: Workspace) -> None:
    import lookalike.index

    if not hasattr(lookalike.index, "make_index"):
        pytest.skip("lookalike.index.make_index (the index branch) is not in this checkout")
    options = EvaluateOptions(
        k=5,
        queries=None,
        compare={"index": ("exact", "hnsw"), "pca": ("none", "16"), "quantize": ("none", "int8")},
        n_boot=20,
        progress=False,
    )
    evaluation = run_evaluation(shop, options)
    by = {r.label: r for r in evaluation.results}
    assert len(by) == 8 and not evaluation.extra["skipped"]
    exact = by["lite0"]
    # 40 vectors: HNSW finds the exact neighbours; int8 barely moves the ranking
    np.testing.assert_array_equal(by["lite0 · hnsw"].results, exact.results)
    assert (
        abs(by["lite0 · int8"].overall["Precision@5"].mean - exact.overall["Precision@5"].mean)
        <= 0.05
    )
    assert by["lite0 · pca16"].overall["Precision@5"].mean > 0.5
