"""Security headers on every answer: strict CSP, no referrer, no caching, no framing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# 'wasm-unsafe-eval' lets libsodium.js compile its WebAssembly; it does not allow eval()
# of JavaScript text or any inline script.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

BASE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    # Tips, codes and case views must never linger in a shared browser's cache.
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}

HSTS: Final = "max-age=63072000; includeSubDomains"


async def apply_security_headers(
    request: web.Request, response: web.StreamResponse, *, hsts: bool
) -> None:
    """Set on every response, including errors raised by aiohttp itself."""
    for name, value in BASE_HEADERS.items():
        response.headers.setdefault(name, value)
    if hsts:
        response.headers["Strict-Transport-Security"] = HSTS
    # aiohttp's default banner names exact library versions: useful only to an attacker.
    response.headers["Server"] = "tipline"
