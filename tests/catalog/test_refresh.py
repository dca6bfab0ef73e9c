"""Builds from feeds served by a real 127.0.0.1 server: failures, refresh, max, exit codes.

The shop's "CDN" is the test server's ``/asset/<name>`` route (ETag + 304); the feed itself is
served from ``/file/<name>``. Images are distinct JPEGs drawn with PIL.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lookalike.catalog.http import FetchSettings
from lookalike.errors import ConfigError, FeedError
from lookalike.index import VectorSet
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.similar import Recommender
from lookalike.recommend.topk import Neighbors
from lookalike.workspace import Workspace
from tests.catalog.formats.test_feeds import BILLION_LAUGHS
from tests.test_cli import run

if TYPE_CHECKING:
    from .conftest import LocalServer

FAST = FetchSettings(
    allow_private=True, timeout=0.5, backoff=0.01, retries=2, max_bytes=200_000, max_retry_after=2
)


def options(**kwargs: object) -> BuildOptions:
    return BuildOptions(progress=False, k=5, fetch=FAST, **kwargs)  # type: ignore[arg-type]


def picture(seed: int) -> bytes:
    """A distinct 160x160 JPEG: a coloured background with a few seeded shapes."""
    rng = random.Random(seed)
    colour = tuple(rng.randrange(256) for _ in range(3))
    image = Image.new("RGB", (160, 160), colour)  # type: ignore[arg-type]
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.randrange(120), rng.randrange(120)
        box = (x, y, x + rng.randrange(20, 80), y + rng.randrange(20, 80))
        fill = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)  # type: ignore[arg-type]
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


Offer = tuple[str, list[str], str]  # id, picture paths on the server, group_id


def serve_feed(server: LocalServer, offers: list[Offer], name: str = "feed.yml") -> str:
    """Register a YML feed of ``offers`` (pictures are server paths) and return its URL."""
    rows = []
    for offer_id, pictures, group in offers:
        pics = "".join(f"<picture>{escape(server.url(p))}</picture>" for p in pictures)
        group_attr = f' group_id="{group}"' if group else ""
        rows.append(
            f'<offer id="{offer_id}" available="true"{group_attr}><name>Товар {offer_id}</name>'
            f"<categoryId>2</categoryId><price>100</price>{pics}</offer>"
        )
    server.state.files[name] = (
        '<?xml version="1.0" encoding="UTF-8"?><yml_catalog><shop><categories>'
        '<category id="1">Одежда</category><category id="2" parentId="1">Платья</category>'
        "</categories><offers>" + "".join(rows) + "</offers></shop></yml_catalog>"
    ).encode()
    return server.url(f"/file/{name}")


def add_assets(server: LocalServer, count: int, start: int = 0) -> list[str]:
    """Serve ``count`` distinct pictures as ``/asset/p<i>.jpg``; returns their paths."""
    paths = []
    for i in range(start, start + count):
        server.state.files[f"p{i}.jpg"] = picture(i)
        paths.append(f"/asset/p{i}.jpg")
    return paths


def good_offers(server: LocalServer) -> list[Offer]:
    p = add_assets(server, 10)
    return [
        ("a", [p[0], p[1]], "G1"),
        ("b", [p[2]], "G1"),
        ("c", [p[3], p[4], p[5]], ""),
        ("d", [p[6]], ""),
        ("e", [p[7]], "G2"),
        ("f", [p[8], p[9]], "G2"),
    ]


def snapshot(ws: Workspace) -> dict[str, bytes]:
    names = ("manifest.json", "product_vectors.npy", "neighbors.npy", "neighbor_scores.npy")
    return {name: (ws.root / name).read_bytes() for name in names}


# --------------------------------------------------------------------------- failures


def test_every_bad_image_gets_its_reason_and_the_old_build_survives(
    http_server: LocalServer, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "shop")
    offers = good_offers(http_server)
    first = build_workspace(ws, serve_feed(http_server, offers), options())
    assert first.status == "ok" and first.vectors == 6
    assert first.downloads == {
        "local": 0,
        "fetched": 10,
        "revalidated": 0,
        "reused": 0,
        "stale": 0,
        "failed": 0,
        "pruned": 0,
    }
    before = VectorSet.load(ws.root, "product_vectors")
    with Recommender(ws) as rec:
        assert rec.product("a").group_id == "G1"  # variants keep their group from the feed
        assert rec.product("a").category == "Одежда > Платья"

    bad = {
        "x404": ("/status/404", "http_404", 404),
        "xslow": ("/slow", "timeout", None),
        "xhtml": ("/html", "not_an_image", None),
        "xbig": ("/big", "too_large", None),
        "xloop": ("/loop", "too_many_redirects", None),
        "xcut": ("/truncated.jpg", "truncated", None),
    }
    recovered = {"xflaky": "/flaky", "xrate": "/ratelimited"}  # 500 then 200; 429 + Retry-After
    feed = offers + [(pid, [path], "") for pid, (path, _, _) in bad.items()]
    feed += [(pid, [path], "") for pid, path in recovered.items()]
    feed.append(("nopic", [], ""))
    report = build_workspace(ws, serve_feed(http_server, feed), options())

    assert report.status == "partial"
    outcome = {f["products"][0]: (f["reason"], f["http_status"]) for f in report.failures}
    assert outcome == {pid: (reason, status) for pid, (_, reason, status) in bad.items()}
    assert report.products["added"] == len(bad) + len(recovered) + 1
    assert report.products["without_image"] == 1
    assert report.vectors == 6 + len(recovered)  # good ones + the two that recovered on retry
    assert report.downloads["revalidated"] == 10  # the good images: 304, nothing re-downloaded
    assert report.downloads["failed"] == 5  # xcut downloads fine; it fails when decoded
    saved = Workspace(ws.root).manifest()
    assert saved["count"] == 8
    with Recommender(ws) as rec:
        assert rec.product("nopic").title == "Товар nopic"  # kept without a vector
        assert rec.similar("nopic") == [] and rec.similar("x404") == []
        assert len(rec.similar("a", 5)) == 5
        after = rec.vectors.take(before.ids)
    np.testing.assert_allclose(after.vectors, before.vectors, rtol=0, atol=1e-6)

    # A feed with an entity-expansion attack fails at once and changes nothing.
    kept = snapshot(ws)
    http_server.state.files["attack.yml"] = BILLION_LAUGHS
    with pytest.raises(FeedError, match="declares XML entities"):
        build_workspace(ws, http_server.url("/file/attack.yml"), options())
    assert snapshot(ws) == kept
    with Recommender(ws) as rec:
        assert rec.store.count() == len(feed)
        assert len(rec.similar("a", 5)) == 5


def test_transient_failure_keeps_the_cached_image(http_server: LocalServer, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "shop")
    url = serve_feed(http_server, good_offers(http_server))
    build_workspace(ws, url, options())
    http_server.state.broken.add("p6.jpg")  # d's only picture: the CDN answers 503 now
    report = build_workspace(ws, url, options())
    assert report.status == "ok" and report.vectors == 6
    assert report.downloads["stale"] == 1 and report.downloads["revalidated"] == 9
    with Recommender(ws) as rec:
        assert len(rec.similar("d", 3)) == 3


# --------------------------------------------------------------------------- refresh


def test_unchanged_refresh_downloads_and_embeds_nothing(
    http_server: LocalServer, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "shop")
    url = serve_feed(http_server, good_offers(http_server))
    build_workspace(ws, url, options())
    image_bytes = http_server.state.route_bytes["asset"]
    requests = len(http_server.state.requests)
    table = snapshot(ws)["neighbors.npy"]

    again = build_workspace(ws, url, options())  # revalidation (the default): 304s only
    assert http_server.state.route_bytes["asset"] == image_bytes
    asset_requests = [h for p, h in http_server.state.requests[requests:] if "/asset/" in p]
    assert len(asset_requests) == 10 and all("If-None-Match" in h for h in asset_requests)
    assert again.downloads["revalidated"] == 10 and again.downloads["fetched"] == 0
    assert again.images["embedded"] == 0
    assert again.products["unchanged"] == 6

    requests = len(http_server.state.requests)
    offline = build_workspace(ws, url, options(revalidate=False))  # no request per image at all
    assert [p for p, _ in http_server.state.requests[requests:]] == ["/file/feed.yml"]
    assert offline.downloads["reused"] == 10 and offline.images["embedded"] == 0
    assert snapshot(ws)["neighbors.npy"] == table


@pytest.mark.parametrize("aggregate", ["mean", "max"])
def test_incremental_refresh_equals_a_clean_build(
    http_server: LocalServer, tmp_path: Path, aggregate: str
) -> None:
    offers = good_offers(http_server)
    refreshed = Workspace(tmp_path / "refreshed")
    build_workspace(refreshed, serve_feed(http_server, offers), options(aggregate=aggregate))

    new = add_assets(http_server, 3, start=10)
    http_server.state.files["p6.jpg"] = picture(106)  # d's picture changes behind the same URL
    updated = [o for o in offers if o[0] not in ("b", "e")]  # removed
    updated = [
        (pid, pics + [new[0]], g) if pid == "c" else (pid, pics, g) for pid, pics, g in updated
    ]
    updated += [("g", [new[1]], "G1"), ("h", [new[2], "/asset/p0.jpg"], "")]  # added
    url = serve_feed(http_server, updated)
    report = build_workspace(refreshed, url, options(aggregate=aggregate))
    assert (report.products["added"], report.products["removed"]) == (2, 2)
    assert report.products["changed"] == 1  # c got a picture; d's URL did not change
    assert report.downloads["fetched"] == 4  # 3 new URLs + the changed one (new ETag)
    assert report.images["embedded"] == 4
    assert report.downloads["pruned"] == 2  # b's and e's pictures left the cache
    assert len(list((refreshed.root / "images").glob("*/*.bin"))) == 11  # 10 - 2 + 3

    clean = Workspace(tmp_path / "clean")
    build_workspace(clean, url, options(aggregate=aggregate))
    for name in ("product_vectors",):
        a, b = VectorSet.load(refreshed.root, name), VectorSet.load(clean.root, name)
        assert a.ids == b.ids
        np.testing.assert_allclose(a.vectors, b.vectors, rtol=0, atol=1e-6)
    got = Neighbors.load(refreshed.root, a.ids)
    want = Neighbors.load(clean.root, b.ids)
    assert got.ids == want.ids == ["a", "c", "d", "f", "g", "h"]
    np.testing.assert_array_equal(got.rows, want.rows)
    np.testing.assert_allclose(got.scores, want.scores, rtol=0, atol=1e-6)
    assert Workspace(refreshed.root).manifest()["aggregate"] == aggregate


def test_max_aggregate_matches_a_shared_picture(http_server: LocalServer, tmp_path: Path) -> None:
    # "h" shares one of its two pictures with "a": by max it is a's nearest product, score 1.
    offers = good_offers(http_server)
    extra = add_assets(http_server, 1, start=20)
    offers.append(("h", [extra[0], "/asset/p1.jpg"], ""))
    url = serve_feed(http_server, offers)
    ws = Workspace(tmp_path / "max")
    build_workspace(ws, url, options(aggregate="max"))
    with Recommender(ws) as rec:
        top = rec.similar("a", 1)[0]
    assert top.product.id == "h"
    assert top.score == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ConfigError, match="aggregate"):
        BuildOptions(aggregate="median")


# --------------------------------------------------------------------------- cron exit codes


@pytest.mark.slow
def test_cli_exit_codes_for_feeds(http_server: LocalServer, tmp_path: Path) -> None:
    offers = good_offers(http_server)
    common = ("--model", "histogram", "--allow-private", "-q")
    good = run("build", str(tmp_path / "ws"), "--feed", serve_feed(http_server, offers), *common)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("ok: 6 products, 6 with vectors, 0 images failed")
    assert "10 fetched" in good.stdout

    partial_url = serve_feed(http_server, offers + [("gone", ["/status/404"], "")], "p.yml")
    partial = run("build", str(tmp_path / "ws"), "--feed", partial_url, *common)
    assert partial.returncode == 3, partial.stderr
    assert partial.stdout.startswith("partial: 7 products, 6 with vectors, 1 images failed")
    assert "10 revalidated" in partial.stdout

    http_server.state.files["attack.yml"] = BILLION_LAUGHS
    attack = run(
        "build", str(tmp_path / "ws"), "--feed", http_server.url("/file/attack.yml"), *common
    )
    assert attack.returncode == 1
    assert "declares XML entities" in attack.stderr and "Traceback" not in attack.stderr
