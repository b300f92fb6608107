"""deploy/nginx as a reporter's request meets it: Debian's nginx runs the repository's
configuration in front of a stand-in gateway that records what reaches it.

Only the listening ports, the certificate folder and the upstream addresses are changed
for the test (each substitution must match exactly once, so the test notices when the
configuration changes shape); everything else runs as shipped.
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from gateway.config import Settings, load_settings
from gateway.web.app import all_endpoints
from gateway.web.openapi import build_document
from tests.deploy.tools import DEPLOY, debian_tool, make_test_certificate, run
from tests.fixtures.ports import free_port

NGINX = DEPLOY / "nginx"
FORGED_ADDRESS = "203.0.113.7"
# Headers through which proxies pass a client's address on; none may reach the gateway.
ADDRESS_HEADERS = (
    "x-forwarded-for",
    "x-real-ip",
    "forwarded",
    "x-forwarded-host",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-cluster-client-ip",
    "via",
)
ServerFactory = Callable[..., Awaitable[TestServer]]


def gateway_defaults() -> Settings:
    """The gateway's built-in settings, loaded in a throw-away data folder (no secrets left)."""
    with tempfile.TemporaryDirectory() as data_dir:
        return load_settings(None, {"TIPLINE_DATA_DIR": data_dir})


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected {old!r} exactly once in the nginx configuration"
    return text.replace(old, new)


@dataclass(frozen=True)
class Ports:
    http: int
    https: int
    onion: int


def render(folder: Path, *, upstream: str = "upstream.conf", ports: Ports | None = None) -> Path:
    """A copy of deploy/nginx in `folder`, with a fresh test certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    tls = make_test_certificate(folder / "tls")
    shutil.copy(NGINX / "locations.conf", folder / "locations.conf")
    shutil.copy(NGINX / upstream, folder / "upstream.conf")
    config = replace_once(
        (NGINX / "nginx.conf").read_text(),
        "ssl_certificate /etc/nginx/tls/fullchain.pem;",
        f"ssl_certificate {tls}/fullchain.pem;",
    )
    config = replace_once(
        config,
        "ssl_certificate_key /etc/nginx/tls/privkey.pem;",
        f"ssl_certificate_key {tls}/privkey.pem;",
    )
    if ports is not None:
        config = replace_once(
            config, "listen 80 default_server;", f"listen 127.0.0.1:{ports.http} default_server;"
        )
        config = replace_once(
            config,
            "listen 443 ssl http2 default_server;",
            f"listen 127.0.0.1:{ports.https} ssl http2 default_server;",
        )
        config = replace_once(config, "listen 127.0.0.1:8090;", f"listen 127.0.0.1:{ports.onion};")
    (folder / "nginx.conf").write_text(config)
    return folder / "nginx.conf"


def point_upstream_at(folder: Path, gateway_ports: list[int]) -> None:
    servers = "".join(f"    server 127.0.0.1:{port};\n" for port in gateway_ports)
    (folder / "upstream.conf").write_text(
        f"upstream tipline_gateways {{\n{servers}    keepalive 32;\n}}\n"
    )


@pytest.mark.parametrize("upstream", ["upstream.conf", "upstream.compose.conf"])
def test_nginx_accepts_the_configuration_as_shipped(tmp_path: Path, upstream: str) -> None:
    config = render(tmp_path, upstream=upstream)

    result = run(debian_tool("nginx", "nginx"), "-t", "-q", "-e", "stderr", "-c", str(config))

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_nginx_refuses_a_broken_configuration(tmp_path: Path) -> None:
    """The check above can fail: a typo in a directive is caught."""
    config = render(tmp_path)
    config.write_text(config.read_text().replace("proxy_max_temp_file_size", "proxy_max_tmp_size"))

    result = run(debian_tool("nginx", "nginx"), "-t", "-q", "-e", "stderr", "-c", str(config))

    assert result.returncode != 0
    assert "proxy_max_tmp_size" in result.stderr


# ------------------------------------------------------------------ a running nginx


@dataclass
class StandInGateway:
    """What reaches the gateway through nginx: every request's headers, in order."""

    seen: list[dict[str, str]]
    first_upload_chunk: asyncio.Event

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 2**30)
        app.router.add_get("/api/v1/events", self.events)
        app.router.add_post("/api/v1/reporter/attachments", self.upload)
        app.router.add_route("*", "/{tail:.*}", self.echo)
        return app

    def record(self, request: web.Request) -> dict[str, str]:
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.seen.append(headers)
        return headers

    async def echo(self, request: web.Request) -> web.Response:
        headers = self.record(request)
        body = await request.read()
        return web.json_response({"headers": headers, "bytes": len(body)})

    async def upload(self, request: web.Request) -> web.Response:
        self.record(request)
        received = 0
        async for chunk in request.content.iter_any():
            received += len(chunk)
            self.first_upload_chunk.set()
        return web.json_response({"bytes": received})

    async def events(self, request: web.Request) -> web.WebSocketResponse:
        headers = self.record(request)
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json({"headers": headers})
        async for message in socket:
            if message.type is WSMsgType.TEXT:
                await socket.send_str(message.data)
        return socket


@dataclass
class Proxy:
    ports: Ports
    gateway: StandInGateway
    process: subprocess.Popen[str]
    tls: ssl.SSLContext

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.ports.https}"

    @property
    def onion(self) -> str:
        return f"http://127.0.0.1:{self.ports.onion}"

    def stop(self) -> str:
        """Stop nginx and return everything it wrote to its log (stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
        _, stderr = self.process.communicate(timeout=20)
        return stderr


def start_nginx(config: Path, ports: Ports) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            debian_tool("nginx", "nginx"),
            "-e",
            "stderr",
            "-c",
            str(config),
            "-g",
            f"daemon off; pid {config.parent / 'nginx.pid'};",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    for port in (ports.http, ports.https, ports.onion):
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "nginx did not listen within 10 s"
                time.sleep(0.05)
    return process


def make_proxy(
    tmp_path: Path, gateway_ports: list[int], gateway: StandInGateway
) -> Iterator[Proxy]:
    ports = Ports(free_port(), free_port(), free_port())
    config = render(tmp_path / "nginx", ports=ports)
    point_upstream_at(config.parent, gateway_ports)
    process = start_nginx(config, ports)
    tls = ssl.create_default_context(cafile=str(config.parent / "tls" / "fullchain.pem"))
    proxy = Proxy(ports, gateway, process, tls)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
async def stand_in(aiohttp_server: ServerFactory) -> tuple[StandInGateway, int]:
    gateway = StandInGateway([], asyncio.Event())
    server = await aiohttp_server(gateway.app())
    return gateway, server.port


@pytest.fixture
def proxy(tmp_path: Path, stand_in: tuple[StandInGateway, int]) -> Iterator[Proxy]:
    gateway, port = stand_in
    yield from make_proxy(tmp_path, [port], gateway)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


FORGED_HEADERS = {
    "X-Forwarded-For": FORGED_ADDRESS,
    "X-Real-IP": FORGED_ADDRESS,
    "Forwarded": f"for={FORGED_ADDRESS}",
    "True-Client-IP": FORGED_ADDRESS,
    "CF-Connecting-IP": FORGED_ADDRESS,
    "X-Client-IP": FORGED_ADDRESS,
    "Via": f"1.1 {FORGED_ADDRESS}",
    "User-Agent": "Mozilla/5.0 (a browser's fingerprint)",
}


def assert_anonymous(headers: dict[str, str]) -> None:
    for name in ADDRESS_HEADERS:
        assert name not in headers, f"{name} reached the gateway"
    assert "user-agent" not in headers
    assert FORGED_ADDRESS not in " ".join(headers.values())


@pytest.mark.parametrize("entrance", ["https", "onion"])
async def test_the_gateway_receives_no_client_address_and_no_user_agent(
    proxy: Proxy, session: aiohttp.ClientSession, entrance: str
) -> None:
    base = proxy.https if entrance == "https" else proxy.onion
    async with session.get(f"{base}/api/v1/directory", headers=FORGED_HEADERS, ssl=proxy.tls) as r:
        assert r.status == 200
        seen = (await r.json())["headers"]

    assert_anonymous(seen)
    assert seen["host"]


async def test_a_websocket_reaches_the_events_route_without_client_address(
    proxy: Proxy, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(
        f"wss://127.0.0.1:{proxy.ports.https}/api/v1/events", headers=FORGED_HEADERS, ssl=proxy.tls
    ) as socket:
        first = await socket.receive_json(timeout=5)
        await socket.send_str("still there?")
        echo = await socket.receive_str(timeout=5)

    assert_anonymous(first["headers"])
    assert first["headers"]["upgrade"].lower() == "websocket"
    assert echo == "still there?"


async def test_a_json_body_above_the_gateways_limit_is_refused_by_nginx_in_the_gateways_shape(
    proxy: Proxy, session: aiohttp.ClientSession
) -> None:
    limit = gateway_defaults().max_body_bytes
    async with session.post(
        f"{proxy.https}/api/v1/cases", data=io.BytesIO(b"x" * (limit + 1)), ssl=proxy.tls
    ) as response:
        assert response.status == 413
        assert (await response.json())["error"]["code"] == "payload_too_large"

    async with session.post(
        f"{proxy.https}/api/v1/cases", data=io.BytesIO(b"x" * limit), ssl=proxy.tls
    ) as response:
        assert response.status == 200
        assert (await response.json())["bytes"] == limit


async def test_an_attachment_above_the_gateways_limit_is_refused_before_it_is_sent(
    proxy: Proxy,
) -> None:
    limit = gateway_defaults().max_attachment_bytes
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.ports.onion)
    writer.write(
        (
            "POST /api/v1/reporter/attachments HTTP/1.1\r\nHost: onion\r\n"
            f"Content-Length: {limit + 1}\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
    )
    answer = await asyncio.wait_for(reader.read(4096), timeout=5)
    writer.close()

    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"payload_too_large"' in answer
    assert proxy.gateway.seen == []


async def test_attachment_uploads_stream_through_to_the_gateway_while_they_arrive(
    proxy: Proxy, session: aiohttp.ClientSession
) -> None:
    chunk = b"c" * 65536

    async def body() -> AsyncIterator[bytes]:
        yield chunk
        # With request buffering, nothing would reach the gateway before the body ended.
        await asyncio.wait_for(proxy.gateway.first_upload_chunk.wait(), timeout=5)
        for _ in range(15):
            yield chunk

    async with session.post(
        f"{proxy.https}/api/v1/reporter/attachments", data=body(), ssl=proxy.tls
    ) as response:
        assert response.status == 200
        assert (await response.json())["bytes"] == 16 * len(chunk)


async def test_operator_endpoints_are_not_served_to_the_public(
    proxy: Proxy, session: aiohttp.ClientSession
) -> None:
    for path in ("/metrics", "/readyz"):
        async with session.get(f"{proxy.https}{path}", ssl=proxy.tls) as response:
            assert response.status == 404, path
    async with session.get(f"{proxy.https}/healthz", ssl=proxy.tls) as response:
        assert response.status == 200
    assert len(proxy.gateway.seen) == 1


async def test_plain_http_is_redirected_to_https(
    proxy: Proxy, session: aiohttp.ClientSession
) -> None:
    async with session.get(
        f"http://127.0.0.1:{proxy.ports.http}/some/where?x=1", allow_redirects=False
    ) as response:
        assert response.status == 301
        assert response.headers["Location"] == "https://127.0.0.1/some/where?x=1"
    assert proxy.gateway.seen == []


@pytest.fixture
def proxy_to_nowhere(tmp_path: Path) -> Iterator[Proxy]:
    yield from make_proxy(tmp_path, [free_port(), free_port()], StandInGateway([], asyncio.Event()))


async def test_gateways_that_are_all_down_give_a_json_503_with_retry_after(
    proxy_to_nowhere: Proxy, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{proxy_to_nowhere.https}/api/v1/pow", ssl=proxy_to_nowhere.tls) as r:
        assert r.status == 503
        assert r.headers["Retry-After"] == "5"
        assert (await r.json())["error"]["code"] == "unavailable"


async def test_one_gateway_down_is_stepped_around(
    tmp_path: Path, stand_in: tuple[StandInGateway, int], session: aiohttp.ClientSession
) -> None:
    gateway, port = stand_in
    for proxy in make_proxy(tmp_path, [free_port(), port], gateway):
        for _ in range(4):
            async with session.post(f"{proxy.https}/api/v1/cases", data=b"{}", ssl=proxy.tls) as r:
                assert r.status == 200
    assert len(gateway.seen) == 4, "each request reached the live gateway exactly once"


async def test_nginx_logs_nothing_about_its_clients(
    tmp_path: Path, stand_in: tuple[StandInGateway, int], session: aiohttp.ClientSession
) -> None:
    gateway, port = stand_in
    proxies = make_proxy(tmp_path, [port, free_port()], gateway)
    proxy = next(proxies)
    requests: list[tuple[str, str, int | None]] = [
        ("GET", "/", None),
        ("POST", "/api/v1/cases", 3 * 2**20),
        ("GET", "/metrics", None),
        ("GET", "/nothing/here", None),
    ]
    for method, path, size in requests * 3:
        data = None if size is None else io.BytesIO(b"x" * size)
        async with session.request(
            method, proxy.https + path, data=data, headers=FORGED_HEADERS, ssl=proxy.tls
        ) as response:
            await response.read()
    # A broken TLS handshake, which nginx would otherwise log with the client's address.
    with socket.create_connection(("127.0.0.1", proxy.ports.https)) as raw:
        raw.sendall(b"this is not TLS\r\n\r\n")
        raw.recv(100)
    log = proxy.stop()

    assert "127.0.0.1" not in log
    assert FORGED_ADDRESS not in log
    assert log == ""


def test_the_body_limits_and_routes_match_the_gateway() -> None:
    """nginx's limits are the gateway's defaults, and every streamed upload is unbuffered."""
    defaults = gateway_defaults()
    config = (NGINX / "nginx.conf").read_text()
    locations = (NGINX / "locations.conf").read_text()
    assert re.search(r"^\s*client_max_body_size 2m;", config, re.MULTILINE)
    assert defaults.max_body_bytes == 2 * 2**20
    upload_block = re.search(r"location ~ (\S+) \{([^}]*)\}", locations)
    assert upload_block is not None
    pattern, body = upload_block.groups()
    assert "client_max_body_size 2g;" in body
    assert defaults.max_attachment_bytes == 2 * 2**30
    assert "proxy_request_buffering off;" in body

    document = build_document(all_endpoints())
    streamed = [
        path
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in {"post", "put"}
        and "application/octet-stream" in operation.get("requestBody", {}).get("content", {})
    ]
    assert streamed, "the gateway has streamed uploads"
    for path in streamed:
        concrete = re.sub(r"\{[^}]+\}", "0f1e2d3c", path)
        assert re.fullmatch(pattern.strip("^$"), concrete), f"{path} is buffered by nginx"
    assert "location = /api/v1/events {" in locations
