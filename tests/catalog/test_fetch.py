"""ImageFetcher / fetch_bytes against a real loopback HTTP server (see conftest.py)."""

from __future__ import annotations

import asyncio
import email.utils
import io
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from lookalike.catalog import netguard
from lookalike.catalog.fetch import ImageFetcher
from lookalike.catalog.http import DEFAULT_USER_AGENT, FetchSettings
from lookalike.catalog.http import parse_retry_after as _parse_retry_after
from lookalike.catalog.netguard import address_problem
from lookalike.catalog.oneshot import fetch_bytes
from lookalike.errors import ConfigError, FetchError

if TYPE_CHECKING:
    from .conftest import LocalServer

# Loopback server => allow_private; small timeouts and backoff keep every test fast.
FAST = FetchSettings(allow_private=True, timeout=0.5, backoff=0.01, retries=2)


@pytest.fixture
def fetcher(tmp_path: Path) -> ImageFetcher:
    return ImageFetcher(tmp_path / "cache", FAST)


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"timeout": -1.0},
        {"max_bytes": 0},
        {"concurrency": 0},
        {"per_host": 0},
        {"retries": -1},
        {"max_redirects": -1},
        {"backoff": -0.1},
        {"retries": 1.5},
        {"concurrency": True},
        {"timeout": float("nan")},
        {"user_agent": " "},
    ],
)
def test_settings_reject_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        FetchSettings(**kwargs)  # type: ignore[arg-type]


def test_settings_defaults() -> None:
    settings = FetchSettings()
    assert (settings.timeout, settings.max_bytes, settings.retries) == (15.0, 20 * 2**20, 3)
    assert not settings.allow_private and settings.http2
    assert settings.user_agent == DEFAULT_USER_AGENT
    assert DEFAULT_USER_AGENT.startswith("lookalike/0.")


# --------------------------------------------------------------------------- happy paths


def test_fetches_and_caches_a_jpeg(fetcher: ImageFetcher, http_server: LocalServer) -> None:
    url = http_server.url("/img/a.jpg")
    result = fetcher.fetch(url)
    assert result.status == "fetched" and result.ok
    assert result.http_status == 200 and result.attempts == 1 and result.reason is None
    assert result.read_bytes() == http_server.state.jpeg
    bin_path, meta_path = fetcher.cache_paths(url)
    assert result.path == bin_path and bin_path.parent.name == bin_path.stem[:2]
    meta = json.loads(meta_path.read_text())
    assert meta["url"] == url and meta["size"] == len(http_server.state.jpeg)
    assert meta["sha256"] == result.sha256
    headers = http_server.state.requests[0][1]
    assert headers["User-Agent"] == DEFAULT_USER_AGENT


def test_fetch_many_deduplicates_and_keeps_order(
    fetcher: ImageFetcher, http_server: LocalServer
) -> None:
    urls = [http_server.url(f"/img/{name}.jpg") for name in "bab"] + [http_server.url("/html")]
    results = fetcher.fetch_many(urls)
    assert list(results) == [urls[0], urls[1], urls[3]]
    assert http_server.state.hits["/img/b.jpg"] == 1
    assert [r.status for r in results.values()] == ["fetched", "fetched", "failed"]


def test_redirect_chain_within_limit(fetcher: ImageFetcher, http_server: LocalServer) -> None:
    result = fetcher.fetch(http_server.url("/chain/5"))  # exactly max_redirects hops
    assert result.status == "fetched"
    assert result.attempts == 1


def test_redirect_loop(fetcher: ImageFetcher, http_server: LocalServer) -> None:
    result = fetcher.fetch(http_server.url("/loop"))
    assert result.status == "failed" and result.reason == "too_many_redirects"
    assert result.attempts == 1  # not retried
    assert http_server.state.hits["/loop"] == FAST.max_redirects + 1


def test_truncated_jpeg_is_fetched(fetcher: ImageFetcher, http_server: LocalServer) -> None:
    # Only the header is checked here, so a truncated JPEG passes; the decode stage
    # (embed/decode.py) is the one that rejects it when it loads the pixels.
    result = fetcher.fetch(http_server.url("/truncated.jpg"))
    assert result.status == "fetched"
    with Image.open(io.BytesIO(result.read_bytes())) as image:
        assert image.size == (64, 48)
        with pytest.raises(OSError):
            image.load()


# --------------------------------------------------------------------------- failures


def test_404_fails_at_once(fetcher: ImageFetcher, http_server: LocalServer) -> None:
    result = fetcher.fetch(http_server.url("/status/404"))
    assert (result.status, result.reason, result.http_status) == ("failed", "http_404", 404)
    assert result.attempts == 1 and http_server.state.hits["/status/404"] == 1
    assert result.path is None and "404" in (result.error or "")
    with pytest.raises(FetchError) as info:
        result.read_bytes()
    assert info.value.reason == "http_404"


def test_500_then_200_is_retried(fetcher: ImageFetcher, http_server: LocalServer) -> None:
    result = fetcher.fetch(http_server.url("/flaky"))
    assert result.status == "fetched" and result.attempts == 2


def test_persistent_500_gives_up_after_retries(
    fetcher: ImageFetcher, http_server: LocalServer
) -> None:
    result = fetcher.fetch(http_server.url("/status/503"))
    assert (result.status, result.reason, result.attempts) == ("failed", "http_503", 3)


def test_429_honours_retry_after(fetcher: ImageFetcher, http_server: LocalServer) -> None:
    start = time.monotonic()
    result = fetcher.fetch(http_server.url("/ratelimited"))
    elapsed = time.monotonic() - start
    assert result.status == "fetched" and result.attempts == 2
    assert 0.9 <= elapsed < 2.5


def test_retry_after_is_capped(tmp_path: Path, http_server: LocalServer) -> None:
    settings = FetchSettings(allow_private=True, timeout=0.5, max_retry_after=0.05)
    start = time.monotonic()
    result = ImageFetcher(tmp_path, settings).fetch(http_server.url("/ratelimited"))
    assert result.status == "fetched" and time.monotonic() - start < 0.8


def test_parse_retry_after() -> None:
    assert _parse_retry_after("7") == 7.0
    assert _parse_retry_after(None) is None and _parse_retry_after("soon") is None
    future = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 15 < (_parse_retry_after(future) or 0) <= 20
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    assert _parse_retry_after(past) == 0.0


def test_slow_response_times_out(tmp_path: Path, http_server: LocalServer) -> None:
    settings = FetchSettings(allow_private=True, timeout=0.5, retries=0)
    start = time.monotonic()
    result = ImageFetcher(tmp_path, settings).fetch(http_server.url("/slow"))
    assert (result.status, result.reason, result.attempts) == ("failed", "timeout", 1)
    assert time.monotonic() - start < 1.5


def test_connection_refused(fetcher: ImageFetcher, closed_port: int) -> None:
    result = fetcher.fetch(f"http://127.0.0.1:{closed_port}/a.jpg")
    assert (result.status, result.reason, result.attempts) == ("failed", "connection", 3)


def test_html_is_not_an_image(
    fetcher: ImageFetcher, http_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="lookalike.catalog.fetch"):
        result = fetcher.fetch(http_server.url("/html"))  # served as image/jpeg on purpose
    assert (result.status, result.reason, result.http_status) == ("failed", "not_an_image", None)
    assert not fetcher.cache_paths(http_server.url("/html"))[0].exists()
    assert "not_an_image" in caplog.text


@pytest.mark.parametrize("path", ["/big", "/big-nolength"])
def test_too_large(tmp_path: Path, http_server: LocalServer, path: str) -> None:
    settings = FetchSettings(allow_private=True, timeout=0.5, max_bytes=100_000)
    result = ImageFetcher(tmp_path, settings).fetch(http_server.url(path))
    assert (result.status, result.reason, result.attempts) == ("failed", "too_large", 1)


# --------------------------------------------------------------------------- cache


def test_conditional_revalidation_downloads_nothing(
    fetcher: ImageFetcher, http_server: LocalServer
) -> None:
    url = http_server.url("/etag/a.jpg")
    first = fetcher.fetch_many([url], progress=False)[url]
    assert first.status == "fetched"
    served = http_server.state.body_bytes
    assert served == len(http_server.state.jpeg)

    second = fetcher.fetch_many([url], progress=False)[url]
    assert second.status == "cached" and second.http_status == 304
    assert second.path == first.path and second.sha256 == first.sha256
    assert http_server.state.body_bytes == served  # nothing more was downloaded
    conditional = http_server.state.requests[-1][1]
    assert conditional["If-None-Match"] == '"v1-abc"'
    assert conditional["If-Modified-Since"] == "Wed, 21 Oct 2015 07:28:00 GMT"

    third = fetcher.fetch_many([url], progress=False, revalidate=False)[url]
    assert third.status == "cached" and third.attempts == 0
    assert http_server.state.hits["/etag/a.jpg"] == 2  # no request at all


def test_corrupt_cache_entry_is_refetched(fetcher: ImageFetcher, http_server: LocalServer) -> None:
    url = http_server.url("/img/a.jpg")
    fetcher.fetch(url)
    bin_path, _ = fetcher.cache_paths(url)
    bin_path.write_bytes(b"short")
    result = fetcher.fetch_many([url], progress=False, revalidate=False)[url]
    assert result.status == "fetched" and result.read_bytes() == http_server.state.jpeg


# --------------------------------------------------------------------------- address guard


def test_default_settings_refuse_loopback(tmp_path: Path, http_server: LocalServer) -> None:
    result = ImageFetcher(tmp_path).fetch(http_server.url("/img/x.jpg"))
    assert (result.status, result.reason) == ("failed", "refused_address")
    assert "loopback" in (result.error or "")
    assert http_server.state.requests == []  # never connected


@pytest.mark.parametrize("url", ["ftp://example.com/a.jpg", "file:///etc/passwd", "a.jpg", ""])
def test_bad_urls(tmp_path: Path, url: str) -> None:
    result = ImageFetcher(tmp_path).fetch(url)
    assert (result.status, result.reason, result.attempts) == ("failed", "bad_url", 1)


def test_every_redirect_hop_is_checked(
    tmp_path: Path, http_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Count 127.0.0.1 as public so the first hop passes the guard; the redirect then points at
    # 127.0.0.2 (loopback), which must be refused before it is requested. (Connections are
    # pinned to the vetted address: tests/catalog/test_pinning.py.)
    real_problem = netguard.address_problem
    monkeypatch.setattr(
        netguard, "address_problem", lambda a: None if str(a) == "127.0.0.1" else real_problem(a)
    )
    target = f"http://127.0.0.2:{http_server.port}/img/secret.jpg"
    url = http_server.url(f"/redirect?to={target}")
    result = ImageFetcher(tmp_path).fetch(url)
    assert (result.status, result.reason) == ("failed", "refused_address")
    assert [path for path, _ in http_server.state.requests] == [f"/redirect?to={target}"]


def test_redirect_to_other_scheme_is_refused(
    fetcher: ImageFetcher, http_server: LocalServer
) -> None:
    result = fetcher.fetch(http_server.url("/redirect?to=ftp://example.com/a.jpg"))
    assert (result.status, result.reason) == ("failed", "bad_url")


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("10.0.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("127.0.0.1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "non-global"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 around 169.254.169.254
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "private"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_address_classifier(address: str, problem: str | None) -> None:
    assert address_problem(address) == problem  # classification only: nothing is contacted


# --------------------------------------------------------------------------- concurrency


@pytest.mark.parametrize(("concurrency", "expect_parallel"), [(1, False), (8, True)])
def test_concurrency_limit(
    tmp_path: Path, http_server: LocalServer, concurrency: int, expect_parallel: bool
) -> None:
    settings = FetchSettings(allow_private=True, timeout=1.0, concurrency=concurrency, per_host=8)
    urls = [http_server.url(f"/inflight?k={i}") for i in range(6)]
    results = ImageFetcher(tmp_path, settings).fetch_many(urls, progress=False)
    assert all(r.status == "fetched" for r in results.values())
    peak = http_server.state.peak_inflight
    assert (peak > 1) if expect_parallel else (peak == 1)


def test_per_host_limit(tmp_path: Path, http_server: LocalServer) -> None:
    settings = FetchSettings(allow_private=True, timeout=1.0, concurrency=8, per_host=2)
    urls = [http_server.url(f"/inflight?k={i}") for i in range(6)]
    ImageFetcher(tmp_path, settings).fetch_many(urls, progress=False)
    assert http_server.state.peak_inflight == 2


def test_works_from_a_thread_and_inside_a_running_loop(
    fetcher: ImageFetcher, http_server: LocalServer
) -> None:
    out: dict[str, str] = {}
    thread = threading.Thread(
        target=lambda: out.update(status=fetcher.fetch(http_server.url("/img/t.jpg")).status)
    )
    thread.start()
    thread.join()
    assert out["status"] == "fetched"

    async def inside_loop() -> str:
        return fetcher.fetch(http_server.url("/img/l.jpg")).status

    assert asyncio.run(inside_loop()) == "fetched"


def test_empty_input(fetcher: ImageFetcher) -> None:
    assert fetcher.fetch_many([]) == {}


# --------------------------------------------------------------------------- fetch_bytes


def test_fetch_bytes(http_server: LocalServer) -> None:
    assert fetch_bytes(http_server.url("/img/a.jpg"), settings=FAST) == http_server.state.jpeg
    # No image check here: the demo uses it for a zip archive.
    assert fetch_bytes(http_server.url("/html"), settings=FAST).startswith(b"<!doctype")


@pytest.mark.parametrize(
    ("path", "kwargs", "reason", "status"),
    [
        ("/status/404", {}, "http_404", 404),
        ("/img/a.jpg", {"max_bytes": 100}, "too_large", None),
        ("/loop", {}, "too_many_redirects", None),
    ],
)
def test_fetch_bytes_errors(
    http_server: LocalServer, path: str, kwargs: dict[str, int], reason: str, status: int | None
) -> None:
    with pytest.raises(FetchError) as info:
        fetch_bytes(http_server.url(path), settings=FAST, **kwargs)
    assert (info.value.reason, info.value.status) == (reason, status)


def test_fetch_bytes_refuses_loopback_by_default(http_server: LocalServer) -> None:
    with pytest.raises(FetchError) as info:
        fetch_bytes(http_server.url("/img/a.jpg"), settings=FetchSettings())
    assert info.value.reason == "refused_address"
    assert http_server.state.requests == []
