"""CPU partial fine-tuning on a small real shop (40 photos, 5 categories): cached activations,
the tail, the gate, one exported ONNX graph that build (``--model tuned``) and serve use."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from lookalike.errors import ConfigError
from lookalike.train import TrainOptions, load_workspace_data, train_workspace
from lookalike.train.activations import ActivationCache, cut_point
from lookalike.workspace import Workspace
from tests.test_cli import run

pytest.importorskip("torch", reason="partial fine-tuning trains in torch (the train extra)")


def test_cut_point_names_the_frozen_output() -> None:
    cut = cut_point("lite0", 2)
    assert (cut.first_trained, cut.total, cut.output, cut.key) == (
        14,
        16,
        "block13",
        "lite0-block13",
    )
    assert cut_point("lite0", 16).output == "stem"
    for model, blocks in (("lite0", 0), ("lite0", 17), ("histogram", 2)):
        with pytest.raises(ConfigError):
            cut_point(model, blocks)


def test_pretrained_tail_on_cached_activations_reproduces_the_embeddings(
    shop: Workspace,
) -> None:
    """Frozen part (ONNX Runtime) + pretrained torch tail = the build's Lite0 vectors; the
    activations are computed once and read back from the cache."""
    from lookalike.embed.torch_model import load_torch_model
    from lookalike.train.tail import tail_vectors

    data, _ = load_workspace_data(shop)
    cut = cut_point("lite0", 2)
    cache = ActivationCache(shop.activations(cut.key), cut)
    paths = [Path(p) for p in data.path][:12]
    acts = cache.rows_for(paths)
    assert acts.shape == (12, 192, 7, 7) and acts.dtype == np.float16
    stamp = cache.array_path.stat().st_mtime_ns
    again = cache.rows_for(paths[::-1])  # all cached: nothing recomputed, rows follow the paths
    assert cache.array_path.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again, acts[::-1])
    vectors = tail_vectors(load_torch_model("lite0"), cut, acts)
    cosine = np.sum(vectors * data.vectors[:12], axis=1)
    assert cosine.min() > 0.999  # float16 activations: not bit-exact, same vectors


@pytest.mark.slow
def test_partial_end_to_end_train_build_serve(shop: Workspace, photo_folder: Path) -> None:
    from lookalike.serve.app import create_app
    from lookalike.serve.settings import ServeSettings
    from tests.serve.conftest import LiveServer

    before = shop.product_vectors.load(mmap=False)
    result = run(
        "train", str(shop.root), "--method", "partial", "--epochs", "1", "--force", "--quiet"
    )
    assert result.returncode == 0, result.stderr
    assert "fine-tuned model adopted: adopted with --force" in " ".join(result.stdout.split())
    log = json.loads((shop.finetune_dir / "partial.json").read_text())
    assert log["decision"]["forced"] and log["adopted"]
    assert {c["set"] for c in log["decision"]["checks"]} == {
        "held_out_products",
        "held_out_categories",
    }
    assert log["refit"]["rows"] == 40 and len(log["held_out_categories"]) == 2
    model = Path(json.loads(shop.tuned_record.read_text())["model"])
    assert model.is_file() and model.parent == shop.model_file("x").parent
    built = run(
        "build", str(shop.root), "--catalog", str(photo_folder), "--model", "tuned", "--quiet"
    )
    assert built.returncode == 0, built.stderr
    manifest = shop.manifest()
    assert manifest["model"] == str(model) and manifest["model_key"].startswith("onnx-")
    assert shop.embeddings(manifest["model_key"]).exists()  # its own cache, lite0's untouched
    assert shop.embeddings("lite0").exists()
    after = shop.product_vectors.load(mmap=False)
    assert after.ids == before.ids
    cosine = np.sum(np.asarray(after.vectors) * np.asarray(before.vectors), axis=1)
    assert cosine.max() < 0.9999 and cosine.mean() > 0.3  # moved, not destroyed
    again = run("train", str(shop.root), "--method", "partial", "--quiet")
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert "build it with --model lite0 first" in " ".join((again.stderr + again.stdout).split())
    compared = run(
        "evaluate",
        str(shop.root),
        "--compare",
        "model=lite0,tuned",
        "--bootstrap",
        "50",
        "--out",
        str(shop.root.parent / "report"),
    )
    assert compared.returncode == 0, compared.stderr
    assert "tuned" in compared.stdout and "lite0" in compared.stdout
    app = create_app([shop.root], settings=ServeSettings(events_db=shop.root / "ev.sqlite"))
    photo = sorted(photo_folder.glob("hat/*.jpg"))[0]
    try:
        with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=60) as client:
            by_id = client.get(f"/v1/shops/{shop.shop}/products/{after.ids[0]}/similar?k=3")
            assert by_id.status_code == 200, by_id.text
            found = client.post(
                f"/v1/shops/{shop.shop}/search?k=3",
                files={"image": (photo.name, photo.read_bytes(), "image/jpeg")},
            )
            assert found.status_code == 200, found.text
            top = found.json()["results"][0]
            assert top["score"] > 0.999  # the photo itself, embedded by the tuned model
    finally:
        app.state.lookalike.close()


@pytest.mark.slow
def test_a_losing_model_is_kept_off_and_tuned_builds_refuse(
    shop: Workspace, photo_folder: Path
) -> None:
    """A learning rate that wrecks the tail loses on the held-out sets: kept off, the
    decision says why with the numbers, no ``tuned.json``, and ``--model tuned`` says so."""
    report = train_workspace(shop, TrainOptions(method="partial", epochs=2, lr=0.9, progress=False))
    assert not report.adopted and "does not beat" in report.decision["reason"]
    assert all(not c["better"] for c in report.decision["checks"])
    assert not shop.tuned_record.exists()
    assert json.loads((shop.finetune_dir / "partial.json").read_text())["adopted"] is False
    result = run(
        "build", str(shop.root), "--catalog", str(photo_folder), "--model", "tuned", "--quiet"
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no adopted fine-tuned model" in result.stderr + result.stdout


@pytest.mark.slow
def test_mixing_with_pretrained_interpolates_the_tail(shop: Workspace) -> None:
    """mix -> 0 gives back the pretrained tail; mix = 1 keeps the fine-tuned one."""
    from lookalike.train.tail import fit_tail, mix_with_pretrained, tail_vectors

    data, _ = load_workspace_data(shop)
    cut = cut_point("lite0", 1)
    acts = ActivationCache(shop.activations(cut.key), cut).rows_for([Path(p) for p in data.path])
    labels = np.array([data.categories.index(c) for c in data.category])
    options = TrainOptions(method="partial", epochs=1, lr=0.01, progress=False)
    fit = fit_tail(acts, labels, cut, options)
    tuned = tail_vectors(fit.model, cut, acts)
    assert np.sum(tuned * data.vectors, axis=1).mean() < 0.999  # it moved
    np.testing.assert_array_equal(
        tail_vectors(mix_with_pretrained(fit, 1.0).model, cut, acts), tuned
    )
    back = tail_vectors(mix_with_pretrained(fit, 1e-6).model, cut, acts)
    assert np.sum(back * data.vectors, axis=1).min() > 0.999
    with pytest.raises(ConfigError):
        TrainOptions(method="partial", mix=0.0)
