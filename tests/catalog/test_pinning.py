"""DNS pinning: the fetcher connects to exactly the addresses that passed the SSRF guard.

A rebinding resolver answers a public address to the first lookup and 127.0.0.2 to the next.
Two real servers listen on the same port: "public" on 127.0.0.1 (counted as public here by
patching the classifier, the only stand-in: nothing else on this machine is reachable) and
"internal" on 127.0.0.2. The internal one must never see a request.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lookalike.catalog import netguard
from lookalike.catalog.http import FetchSettings, download, make_client, run_sync
from lookalike.catalog.oneshot import fetch_bytes
from lookalike.errors import FetchError

PUBLIC, INTERNAL = "127.0.0.1", "127.0.0.2"
GUARDED = FetchSettings(timeout=2.0, retries=0)  # allow_private=False: the real guard


@dataclass
class Seen:
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)


def _handler(seen: Seen, body: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.requests.append((self.path, self.headers.get("host", "")))
            if self.path.startswith("/redirect?to="):
                self.send_response(302)
                self.send_header("Location", self.path.split("=", 1)[1])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _serve(host: str, port: int, seen: Seen, body: bytes) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), _handler(seen, body))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    return server


@dataclass
class Pair:
    port: int
    public: Seen
    internal: Seen


@pytest.fixture
def servers() -> Iterator[Pair]:
    """A "public" and an "internal" server on the same port of two loopback addresses."""
    for _ in range(20):
        with socket.socket() as sock:
            sock.bind((PUBLIC, 0))
            port = int(sock.getsockname()[1])
        pair = Pair(port, Seen(), Seen())
        try:
            public = _serve(PUBLIC, port, pair.public, b"public bytes")
        except OSError:
            continue
        try:
            internal = _serve(INTERNAL, port, pair.internal, b"INTERNAL SECRET")
        except OSError:
            public.shutdown()
            public.server_close()
            continue
        break
    else:
        pytest.skip("no port free on both 127.0.0.1 and 127.0.0.2")
    try:
        yield pair
    finally:
        for server in (public, internal):
            server.shutdown()
            server.server_close()


@pytest.fixture
def rebinding_dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, list[str]], list[str]]:
    """``answers(host, [first, second, ...])`` makes the system resolver answer ``host`` with
    each address in turn (the last one repeats); returns the log of hosts looked up. 127.0.0.1
    counts as public for the guard, 127.0.0.2 stays loopback."""
    plan: dict[str, list[str]] = {}
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_problem = netguard.address_problem

    def getaddrinfo(host: object, port: object, *args: object, **kwargs: object) -> object:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in plan:
            lookups.append(name)
            answers = plan[name]
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            return real_getaddrinfo(address, port, *args, **kwargs)  # type: ignore[arg-type]
        return real_getaddrinfo(host, port, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(
        netguard, "address_problem", lambda a: None if str(a) == PUBLIC else real_problem(a)
    )

    def answers(host: str, addresses: list[str]) -> list[str]:
        plan[host] = list(addresses)
        return lookups

    return answers


def test_rebinding_answer_is_never_connected_to(servers: Pair, rebinding_dns) -> None:
    lookups = rebinding_dns("rebind.test", [PUBLIC, INTERNAL])
    body = fetch_bytes(f"http://rebind.test:{servers.port}/img.jpg", settings=GUARDED)
    assert body == b"public bytes"
    assert servers.internal.requests == []
    assert lookups == ["rebind.test"]  # resolved once: the connect used the vetted answer
    # The name still reaches the server in the Host header.
    assert servers.public.requests == [("/img.jpg", f"rebind.test:{servers.port}")]


def test_second_lookup_answer_would_have_reached_the_internal_server(
    servers: Pair, rebinding_dns
) -> None:
    # The control: the second answer of this resolver really is the internal server, so the
    # test above passes only because the connection was pinned to the first answer.
    rebinding_dns("rebind.test", [PUBLIC, INTERNAL])
    socket.getaddrinfo("rebind.test", servers.port)
    body = fetch_bytes(
        f"http://rebind.test:{servers.port}/img.jpg",
        settings=FetchSettings(timeout=2.0, retries=0, allow_private=True),
    )
    assert body == b"INTERNAL SECRET"


def test_every_redirect_hop_is_pinned(servers: Pair, rebinding_dns) -> None:
    rebinding_dns("shop.test", [PUBLIC])
    lookups = rebinding_dns("cdn.test", [PUBLIC, INTERNAL])
    target = f"http://cdn.test:{servers.port}/photo.jpg"
    url = f"http://shop.test:{servers.port}/redirect?to={target}"
    assert fetch_bytes(url, settings=GUARDED) == b"public bytes"
    assert [host for _, host in servers.public.requests] == [
        f"shop.test:{servers.port}",
        f"cdn.test:{servers.port}",
    ]
    assert servers.internal.requests == []
    assert lookups == ["shop.test", "cdn.test"]


@pytest.mark.parametrize("hop", ["name", "literal"])
def test_redirect_to_an_internal_address_is_refused(servers: Pair, rebinding_dns, hop: str) -> None:
    rebinding_dns("shop.test", [PUBLIC])
    rebinding_dns("intranet.test", [INTERNAL])
    host = "intranet.test" if hop == "name" else INTERNAL
    url = f"http://shop.test:{servers.port}/redirect?to=http://{host}:{servers.port}/secret"
    with pytest.raises(FetchError) as info:
        fetch_bytes(url, settings=GUARDED)
    assert info.value.reason == "refused_address"
    assert "loopback" in str(info.value)
    assert servers.internal.requests == []


def test_a_name_with_any_internal_address_is_refused(servers: Pair, rebinding_dns) -> None:
    rebinding_dns("mixed.test", [PUBLIC])
    real = socket.getaddrinfo

    def both(host: object, port: object, *args: object, **kwargs: object) -> object:
        if host == "mixed.test":
            return real(PUBLIC, port, *args, **kwargs) + real(INTERNAL, port, *args, **kwargs)  # type: ignore[arg-type]
        return real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    socket.getaddrinfo = both  # type: ignore[assignment]  (undone by monkeypatch)
    with pytest.raises(FetchError) as info:
        fetch_bytes(f"http://mixed.test:{servers.port}/a.jpg", settings=GUARDED)
    assert info.value.reason == "refused_address"
    assert servers.public.requests == servers.internal.requests == []


# --------------------------------------------------------------------------- TLS


def _self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make a test certificate)")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_tls_keeps_the_name_for_sni_and_certificate(
    tmp_path: Path, servers: Pair, rebinding_dns
) -> None:
    cert, key = _self_signed(tmp_path, "shop.test")
    names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    seen = Seen()
    server = ThreadingHTTPServer((PUBLIC, 0), _handler(seen, b"tls bytes"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    port = server.server_address[1]
    lookups = rebinding_dns("shop.test", [PUBLIC, INTERNAL])
    trust = ssl.create_default_context(cafile=str(cert))
    settings = FetchSettings(timeout=5.0, retries=0, http2=False)

    async def go() -> bytes:
        async with make_client(settings, ssl_context=trust) as client:
            outcome = await download(
                client, f"https://shop.test:{port}/x.jpg", settings, max_bytes=1000
            )
        assert outcome.error is None, outcome.error
        return outcome.body

    try:
        assert run_sync(go()) == b"tls bytes"
    finally:
        server.shutdown()
        server.server_close()
    assert names == ["shop.test"]  # SNI carried the name, and the certificate was checked for it
    assert seen.requests == [("/x.jpg", f"shop.test:{port}")]
    assert lookups == ["shop.test"]


def test_the_client_uses_the_pinned_backend() -> None:
    # Guards against an httpx upgrade silently dropping our pool (a private attribute).
    client = make_client(GUARDED)
    pool = client._transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool._network_backend, netguard.PinnedBackend)
    run_sync(client.aclose())
