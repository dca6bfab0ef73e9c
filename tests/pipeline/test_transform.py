"""Build-time transforms fitted on the catalog: PCA-whitening (--whiten) and DBA / alpha-QE
(--expand): the vectors change as specified, deterministically, and image queries get the
same transform at serve time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.embed.pipeline import embed_one
from lookalike.embed.registry import get_embedder
from lookalike.embed.whiten import Whitening
from lookalike.errors import ConfigError
from lookalike.index.exact import knn_exact
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.expansion import Expansion, database_augmentation
from lookalike.recommend.similar import Recommender
from lookalike.recommend.space import to_served_space
from lookalike.workspace import Workspace
from tests.pipeline.conftest import colour_jpeg, local_catalog

BASE = BuildOptions(model="histogram", k=4, titles=False, near_duplicate=None, progress=False)
N = 24


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return local_catalog(tmp_path_factory.mktemp("shop"), N)


@pytest.fixture(scope="module")
def plain(catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The product vectors of a build without transforms (rows p0..p23)."""
    ws = Workspace(tmp_path_factory.mktemp("plain") / "ws")
    build_workspace(ws, catalog, BASE)
    vectors = ws.product_vectors.load(mmap=False)
    return np.asarray(vectors.take([f"p{i}" for i in range(N)]).vectors)


def _served(ws: Workspace) -> np.ndarray:
    return np.asarray(ws.product_vectors.load(mmap=False).take([f"p{i}" for i in range(N)]).vectors)


def test_whitening_is_fitted_on_the_catalog_saved_and_applied_to_queries(
    catalog: Path, plain: np.ndarray, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws")
    options = BuildOptions(**{**BASE.__dict__, "whiten": 0.01})
    report = build_workspace(ws, catalog, options)
    assert report.status == "ok" and "transform" in report.seconds
    assert ws.manifest()["transform"] == {"whiten": {"shrink": 0.01, "fitted_on": N}}
    saved = Whitening.load(ws.whitening_path)
    # the saved transform is the fit on the untransformed product vectors, and it was applied
    refit = Whitening.fit(plain, 0.01)
    np.testing.assert_allclose(saved.mean, refit.mean, atol=1e-6)
    np.testing.assert_allclose(_served(ws), refit.apply(plain), atol=1e-5)
    # decorrelated on the fitting set: the whitened coordinates' covariance is diagonal
    coords = (plain - saved.mean) @ saved.directions * saved.scales
    cov = np.cov(coords.T, bias=True)
    off = cov - np.diag(np.diag(cov))
    assert np.abs(off).max() < 1e-4 < np.diag(cov)[:10].min()
    # deterministic: a second build gives the same vectors
    again = Workspace(tmp_path / "again")
    build_workspace(again, catalog, options)
    np.testing.assert_array_equal(_served(again), _served(ws))
    # an image query goes through the same transform
    photo = colour_jpeg(3)
    raw = embed_one(photo, get_embedder("histogram"))
    with Recommender(ws) as rec:
        np.testing.assert_allclose(rec.embed_image(photo), saved.apply(raw[None])[0], atol=1e-6)
        assert rec.similar_to_image(photo, 1)[0].product.id == "p3"
    # evaluate's photo queries use the same transform
    np.testing.assert_allclose(to_served_space(ws, raw[None])[0], rec.embed_image(photo), atol=1e-6)


def test_dba_expands_the_catalog_and_alpha_qe_the_queries(
    catalog: Path, plain: np.ndarray, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws")
    expand = Expansion(k=3, alpha=2.0)
    build_workspace(ws, catalog, BuildOptions(**{**BASE.__dict__, "expand": expand}))
    assert ws.manifest()["transform"] == {"expand": {"kind": "dba", "k": 3, "alpha": 2.0}}
    served = _served(ws)
    np.testing.assert_allclose(served, database_augmentation(plain, 3, 2.0), atol=1e-5)
    # one row by hand: the weighted mean of its top-3 (itself first), weights cos^alpha
    scores, rows = knn_exact(plain[5:6], plain, 3)
    by_hand = (np.maximum(scores[0], 0) ** 2.0) @ plain[rows[0]]
    np.testing.assert_allclose(served[5], by_hand / np.linalg.norm(by_hand), atol=1e-5)
    with Recommender(ws) as rec:
        # the table ranks the expanded vectors
        expected = knn_exact(served[5:6], served, 2)[1][0][1]
        assert rec.similar("p5", 1)[0].product.id == f"p{expected}"
        # an image query: itself (weight 1) plus its top-3 served vectors, weights cos^alpha
        photo = colour_jpeg(7)
        raw = embed_one(photo, get_embedder("histogram"))
        s, r = knn_exact(raw[None], served, 3)
        total = raw + (np.maximum(s[0], 0) ** 2.0) @ served[r[0]]
        query = rec.embed_image(photo)
        np.testing.assert_allclose(query, total / np.linalg.norm(total), atol=1e-5)
        np.testing.assert_allclose(to_served_space(ws, raw[None])[0], query, atol=1e-5)


def test_transform_options_are_checked() -> None:
    assert Expansion.parse("none") is None and Expansion.parse("dba") == Expansion(3, 3.0)
    assert Expansion.parse("DBA:5:1.5") == Expansion(5, 1.5)
    for bad in ("qe", "dba:x", "dba:0", "dba:1:2:3"):
        with pytest.raises(ConfigError):
            Expansion.parse(bad)
    with pytest.raises(ConfigError, match="aggregate mean"):
        BuildOptions(expand=Expansion(), aggregate="max")
    with pytest.raises(ConfigError, match="shrinkage"):
        BuildOptions(whiten=0)
