"""Training on a small real shop (40 photos, 5 categories): runs, reproducible, saved, applied."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.embed.head import Head
from lookalike.embed.pipeline import embed_one
from lookalike.errors import ConfigError, VectorIndexError
from lookalike.index.vectors import VectorSet
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.similar import Recommender
from lookalike.train import TrainOptions, load_workspace_data, train_workspace
from lookalike.train.loop import fit_head
from lookalike.workspace import Workspace
from tests.test_cli import run
from tests.train.conftest import QUIET

pytestmark = pytest.mark.slow


def _options(**kw: object) -> TrainOptions:
    """Forced adoption by default: these tests are about training mechanics; the gate has its
    own tests below and in test_gate.py."""
    base = {"epochs": 8, "progress": False, "force": True}
    return TrainOptions(**(base | kw))  # type: ignore[arg-type]


def test_classifier_run_is_reproducible_and_improves(shop: Workspace) -> None:
    report = train_workspace(shop, _options())
    folder = shop.head_dir
    first = Head.load(folder)
    assert report.objective_after < report.objective_before
    # the two hardest of the 5 categories (8 photos each), reported by name
    assert report.splits["holdout_categories"] == 16
    assert len(report.held_out_categories) == 2
    assert set(report.evaluation) == {"held_out_products", "held_out_categories"}
    for result in report.evaluation.values():
        assert 0 <= result["before"]["mAP@10"] <= 1 and 0 <= result["after"]["mAP@10"] <= 1
    log = json.loads((folder / "training.json").read_text())
    assert log["options"]["method"] == "classifier" and len(log["history"]) >= 1
    with Image.open(folder / "learning_curve.png") as png:
        assert png.format == "PNG" and png.width > 300
    assert first.dim == 256 and first.meta["model_key"] == "lite0"
    again = train_workspace(shop, _options())
    second = Head.load(folder)
    for a, b in zip(first.weights + first.biases, second.weights + second.biases, strict=True):
        np.testing.assert_array_equal(a, b)
    assert again.evaluation == report.evaluation
    assert [r["train_loss"] for r in again.history] == [r["train_loss"] for r in report.history]
    other = train_workspace(shop, _options(seed=1))
    assert other.head_hash != report.head_hash


@pytest.mark.parametrize("loss", ["triplet", "contrastive", "proxy"])
def test_triplet_method_losses_train(shop: Workspace, loss: str) -> None:
    report = train_workspace(shop, _options(method="triplet", loss=loss, use_titles=False))
    assert report.objective_after < report.objective_before
    assert Head.load(shop.head_dir).meta["loss"] == loss
    assert "held_out_products" in report.evaluation
    if loss != "proxy":
        assert report.mining["triplets"] > 0


def test_mining_on_real_embeddings(shop: Workspace) -> None:
    data, _ = load_workspace_data(shop)
    fit = fit_head(data, data.subset(np.arange(0)), _options(method="triplet", epochs=2))
    assert fit.mining["triplets"] > 5  # mutual nearest neighbours give positives
    assert fit.monitor == "val_loss" and len(fit.history) == 2


def test_build_applies_the_head_and_head_none_restores(shop: Workspace, photo_folder: Path):
    train_workspace(shop, _options())
    head = Head.load(shop.head_dir)
    build_workspace(shop, photo_folder, QUIET)
    manifest = shop.manifest()
    assert manifest["dim"] == 256 and manifest["head"]["hash"] == head.hash
    assert manifest["head"]["method"] == "classifier"
    products = shop.product_vectors.load()
    cache = VectorSet.load(shop.embeddings_dir, "lite0")
    assert products.dim == 256 and cache.dim == 1280  # the cache stays backbone-only
    photo = sorted((photo_folder / "hat").glob("*.jpg"))[2]
    data = photo.read_bytes()
    with Recommender(shop) as rec:
        backbone = embed_one(data, rec.embedder)
        expected = head.apply(backbone[None])[0]
        np.testing.assert_allclose(rec.embed_image(data), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(products.get(photo.stem), expected, rtol=1e-4, atol=1e-5)
        top = rec.similar_to_image(data, 3)
        assert top[0].product.id == photo.stem and top[0].score > 0.99
    # a new, re-encoded photo goes through the head too
    buffer = io.BytesIO()
    with Image.open(photo) as image:
        image.convert("RGB").resize((300, 400)).save(buffer, "JPEG", quality=60)
    with Recommender(shop) as rec:
        assert rec.similar_to_image(buffer.getvalue(), 1)[0].product.id == photo.stem

    # retrained but not rebuilt: the served generation keeps the head its vectors were built
    # with (its own copy), so image queries stay consistent with the table
    with Recommender(shop) as rec:
        served = rec.similar_to_image(data, 3)
    train_workspace(shop, _options(seed=1, epochs=2))
    with Recommender(shop) as rec:
        assert rec.similar(photo.stem, 3)  # the precomputed table still answers
        rec_answer = rec.similar_to_image(data, 3)
    assert [r.product.id for r in rec_answer] == [r.product.id for r in served]
    # a generation whose head is not the one its vectors were built with is refused
    shutil.rmtree(shop.served_head_dir)
    shutil.copytree(shop.head_dir, shop.served_head_dir)
    with Recommender(shop) as rec, pytest.raises(VectorIndexError, match="lookalike build"):
        rec.similar_to_image(data, 3)

    build_workspace(shop, photo_folder, BuildOptions(progress=False, k=10, head="none"))
    assert shop.manifest()["dim"] == 1280 and shop.manifest()["head"] is None
    restored = shop.product_vectors.load()
    np.testing.assert_allclose(restored.get(photo.stem), backbone, rtol=1e-4, atol=1e-5)


def test_losing_head_is_kept_off_and_force_adopts(shop: Workspace) -> None:
    # a 2-d head after one epoch cannot keep 5 categories apart: it loses on held-out data
    report = train_workspace(shop, _options(force=False, dim=2, hidden=8, epochs=1))
    assert not report.adopted and "does not beat" in report.decision["reason"]
    assert not (shop.head_dir / "head.npz").exists()  # nothing the next build would apply
    rejected = shop.train_dir / "rejected-head"
    assert Head.load(rejected).dim == 2
    log = json.loads((rejected / "training.json").read_text())
    assert log["adopted"] is False and log["decision"]["checks"]
    forced = train_workspace(shop, _options(dim=2, hidden=8, epochs=1))
    assert forced.adopted and forced.decision["forced"]
    assert Head.load(shop.head_dir).dim == 2


def test_refit_on_all_products_after_adoption(shop: Workspace) -> None:
    checked = train_workspace(shop, _options(refit=False, epochs=3))
    refit = train_workspace(shop, _options(epochs=3))
    assert checked.refit is None and refit.refit is not None
    assert refit.refit["rows"] == 40 and refit.refit["epochs"] == checked.best_epoch
    assert refit.evaluation == checked.evaluation  # the adoption numbers are the check's
    assert refit.head_hash != checked.head_hash  # the saved head learned every product
    log = json.loads((shop.head_dir / "training.json").read_text())
    assert log["refit"]["rows"] == 40 and log["history"] == refit.history


def test_triplet_from_categories_alone(shop: Workspace) -> None:
    """A folder shop: categories, one photo per product, invented titles: no traceback."""
    result = run("train", str(shop.root), "--method", "triplet", "--epochs", "2", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = train_workspace(shop, _options(method="triplet", epochs=2, use_titles=False))
    # no product has two photos: the triplets come from same-category positives
    assert report.mining["anchors_with_identity_positive"] == 0
    assert report.mining["triplets"] >= report.splits["train"] // 2


def test_cli_train_then_build_head_none(shop: Workspace, photo_folder: Path) -> None:
    result = run("train", str(shop.root), "--epochs", "3", "--quiet", "--force")
    assert result.returncode == 0, result.stderr
    assert "held out products" in result.stdout and "mAP@10" in result.stdout
    assert (shop.head_dir / "learning_curve.png").is_file()
    built = run("build", str(shop.root), "--catalog", str(photo_folder), "--quiet")
    assert built.returncode == 0 and json.loads(shop.manifest_path.read_text())["dim"] == 256
    none = run("build", str(shop.root), "--catalog", str(photo_folder), "--head", "none", "-q")
    assert none.returncode == 0 and shop.manifest()["dim"] == 1280


def test_finetune_on_cpu_says_unavailable(tmp_path: Path) -> None:
    from lookalike.embed.registry import cuda_available

    if cuda_available():
        pytest.skip("a CUDA GPU is present: --finetune is available")
    result = run("train", str(tmp_path / "shop"), "--finetune", "--epochs", "1")
    assert result.returncode == 1
    assert "unavailable on CPU" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(ConfigError, match="CUDA"):
        train_workspace(tmp_path / "shop", _options(finetune=True))


def test_finetune_step_runs_on_cpu_internally(shop: Workspace) -> None:
    """The GPU path's training step, run on CPU (no autocast) for one epoch on 10 photos."""
    import torch

    from lookalike.embed.onnx_export import get_spec
    from lookalike.train.finetune import embed_paths, finetune_backbone

    data, _ = load_workspace_data(shop)
    rows = np.concatenate([np.flatnonzero(data.category == c)[:5] for c in ("hat", "shoes")])
    small = data.subset(rows)
    model, history = finetune_backbone(small, _options(epochs=1, batch_size=10), "lite0", "cpu")
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"])
    after = embed_paths(model, [str(p) for p in small.path], get_spec("lite0"), "cpu", 10)
    assert after.shape == (10, 1280)
    assert not np.allclose(after, small.vectors, atol=1e-4)  # the backbone changed
    assert all(not p.requires_grad for p in model.backbone._blocks[0].parameters())
    assert isinstance(model, torch.nn.Module)


def test_head_for_another_model_is_refused(shop: Workspace, photo_folder: Path) -> None:
    train_workspace(shop, _options(epochs=2))
    with pytest.raises(ConfigError, match="--head none"):
        build_workspace(shop, photo_folder, BuildOptions(progress=False, model="histogram"))


def test_title_positives_reuse_the_builds_title_vectors(shop: Workspace) -> None:
    from lookalike.train.titles import title_vectors_for

    data, _ = load_workspace_data(shop)
    ids, titles = [str(p) for p in data.product[:5]], [str(t) for t in data.title[:5]]
    # a folder shop's titles are made up ("Dress <uuid>"): the build stores none of them
    assert not shop.title_vectors.exists() or len(shop.title_vectors.load()) == 0
    embedded = title_vectors_for(ids, titles, None)  # MiniLM for every title
    stored = np.eye(384, dtype=np.float32)[:2]  # unlike any MiniLM vector
    shop.title_vectors.save(VectorSet(ids[:2], stored))
    rows = title_vectors_for(ids, titles, shop.title_vectors)
    np.testing.assert_array_equal(rows[:2], stored)  # the stored ones are reused
    np.testing.assert_allclose(rows[2:], embedded[2:], atol=1e-5)
