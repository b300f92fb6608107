"""Investigator authentication over HTTP: enrollment, prelogin, login, logout, the key bundle,
and the one helper every investigator endpoint uses to find its caller.

A session token reaches the server either as the `tipline_session` cookie (browsers:
HttpOnly, SameSite=Strict, Path=/api, Secure behind https) or as `Authorization: Session
<token>` (API clients). A request that relies on the cookie to change something must carry
an `Origin` of this gateway, or it is refused before anything happens (CSRF).
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import hdrs, web
from yarl import URL

from gateway.crypto.encoding import JsonObject, b64decode, b64encode
from gateway.crypto.keybundle import parse_key_bundle
from gateway.crypto.keys import PUBLIC_KEY_BYTES, fingerprint
from gateway.crypto.shape import read_object, read_str
from gateway.domain.accounts import Caller
from gateway.domain.enrollment import EnrollmentForm, enroll
from gateway.domain.errors import Forbidden, InvalidInput, Unauthenticated
from gateway.domain.limits import ACCOUNTS
from gateway.domain.live import nudge
from gateway.domain.login import LoginDesk
from gateway.domain.sessions import IssuedSession, SessionBook
from gateway.web.bodies import read_json_object
from gateway.web.keys import HOTLINE, SETTINGS
from gateway.web.limits import admit_anonymous
from gateway.web.openapi import Endpoint, Reply

SESSION_COOKIE: Final = "tipline_session"
SESSION_SCHEME: Final = "Session"
MAX_AUTH_BODY_BYTES: Final = 16 * 1024
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


class OriginRefused(Forbidden):
    code = "origin_refused"
    default_message = "This request must come from the gateway's own pages."


def session_book(request: web.Request) -> SessionBook:
    hotline = request.app[HOTLINE]
    settings = request.app[SETTINGS]
    return SessionBook(
        hotline.broker,
        hotline.database,
        hotline.directory,
        idle_seconds=settings.session_idle_seconds,
        absolute_seconds=settings.session_absolute_seconds,
    )


def own_origin(request: web.Request) -> str:
    """This gateway's origin: from the configured public URL, else as this request reached it."""
    public_url = request.app[SETTINGS].public_url
    url = URL(public_url) if public_url else request.url
    return str(url.origin())


def check_origin(request: web.Request, *, required: bool) -> None:
    """Refuse a foreign `Origin`; with `required`, refuse a missing one too."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        if required:
            raise OriginRefused
        return
    if origin.rstrip("/") != own_origin(request):
        raise OriginRefused


def presented_token(request: web.Request) -> tuple[str, bool] | None:
    """The session token and whether it came as the cookie (ambient) rather than a header."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme == SESSION_SCHEME and token:
            return token.strip(), False
        return None
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else None


async def require_caller(request: web.Request, *, touch: bool = True) -> Caller:
    """The vetted investigator behind this request, re-checked now; 401 otherwise.

    Cookie-borne requests that change state (and WebSocket upgrades) need our own Origin,
    so that another site cannot ride on a logged-in browser.
    """
    presented = presented_token(request)
    if presented is None:
        raise Unauthenticated("Log in first.")
    token, ambient = presented
    if ambient:
        upgrade = request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
        check_origin(request, required=request.method not in _SAFE_METHODS or upgrade)
    return await session_book(request).caller(token, touch=touch)


def _session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    settings = request.app[SETTINGS]
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_absolute_seconds,
        path="/api",
        # HttpOnly: a script injected into a page cannot read the token.
        httponly=True,
        # Strict: no other site's link or form sends it along.
        samesite="Strict",
        secure=settings.public_url is not None and settings.public_url.startswith("https://"),
    )


def _read_key(body: JsonObject, name: str) -> bytes:
    return b64decode(body.get(name), what=name, length=PUBLIC_KEY_BYTES)


async def enroll_handler(request: web.Request) -> web.Response:
    check_origin(request, required=False)
    await admit_anonymous(request, scope=ACCOUNTS)
    body = await read_json_object(request, max_bytes=MAX_AUTH_BODY_BYTES, what="enrollment")
    read_object(
        body,
        what="enrollment",
        required={
            "invite",
            "username",
            "display_name",
            "enc_pk",
            "sig_pk",
            "key_bundle",
            "auth_key",
            "totp_secret",
            "totp_code",
        },
    )
    form = EnrollmentForm(
        invite_token=read_str(body, "invite", what="enrollment", max_length=128),
        username=read_str(body, "username", what="enrollment", max_length=64),
        display_name=read_str(body, "display_name", what="enrollment", max_length=256),
        enc_public_key=_read_key(body, "enc_pk"),
        sig_public_key=_read_key(body, "sig_pk"),
        key_bundle=parse_key_bundle(body["key_bundle"]),
        auth_key=b64decode(body.get("auth_key"), what="auth_key", length=32),
        totp_secret=b64decode(body.get("totp_secret"), what="totp_secret", max_length=64),
        totp_code=read_str(body, "totp_code", what="enrollment", max_length=16),
    )
    enrolled = await enroll(request.app[HOTLINE], form)
    investigator = enrolled.investigator
    return web.json_response(
        {
            "investigator_id": str(investigator.id),
            "enrollment_id": str(enrolled.enrollment.id),
            "username": investigator.username,
            "status": investigator.status.value,
            "enc_fingerprint": fingerprint(investigator.enc_public_key),
            "sig_fingerprint": fingerprint(investigator.sig_public_key),
        },
        status=201,
    )


def _login_desk(request: web.Request) -> LoginDesk:
    return LoginDesk(request.app[HOTLINE], session_book(request))


async def prelogin_handler(request: web.Request) -> web.Response:
    check_origin(request, required=False)
    await admit_anonymous(request, scope=ACCOUNTS)
    body = await read_json_object(request, max_bytes=MAX_AUTH_BODY_BYTES, what="prelogin")
    read_object(body, what="prelogin", required={"username"})
    answer = await _login_desk(request).prelogin(
        read_str(body, "username", what="prelogin", max_length=64)
    )
    return web.json_response({"salt": b64encode(answer.salt), "kdf": answer.kdf.to_json()})


async def login_handler(request: web.Request) -> web.Response:
    # A foreign page must not log a browser into some account (login CSRF).
    check_origin(request, required=False)
    await admit_anonymous(request, scope=ACCOUNTS)
    body = await read_json_object(request, max_bytes=MAX_AUTH_BODY_BYTES, what="login")
    read_object(
        body, what="login", required={"username", "auth_key", "totp"}, optional={"token_in_body"}
    )
    want_token = body.get("token_in_body", False)
    if not isinstance(want_token, bool):
        raise InvalidInput("token_in_body is true or false.")
    session: IssuedSession = await _login_desk(request).login(
        read_str(body, "username", what="login", max_length=64),
        b64decode(body.get("auth_key"), what="auth_key", length=32),
        read_str(body, "totp", what="login", max_length=16),
    )
    answer: dict[str, Any] = {
        "investigator_id": str(session.investigator_id),
        "expires_in": int(session.expires_in),
    }
    # Browsers never ask for the token in the body: there it would be readable by scripts.
    if want_token:
        answer["session"] = session.token
    response = web.json_response(answer)
    _session_cookie(request, response, session.token)
    return response


async def logout_handler(request: web.Request) -> web.Response:
    presented = presented_token(request)
    if presented is not None:
        token, ambient = presented
        if ambient:
            check_origin(request, required=True)
        book = session_book(request)
        owner = await book.owner(token, touch=False)
        await book.close(token)
        if owner is not None:
            # Open sockets of this session notice at once instead of at their next check.
            await nudge(request.app[HOTLINE].broker, [owner])
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/api")
    return response


def profile(caller: Caller) -> dict[str, Any]:
    account = caller.account
    return {
        "investigator_id": str(account.id),
        "username": account.username,
        "display_name": account.display_name,
        "roles": sorted(caller.roles),
        "enc_pk": b64encode(account.enc_public_key),
        "sig_pk": b64encode(account.sig_public_key),
        "not_after": caller.member.not_after,
    }


async def me_handler(request: web.Request) -> web.Response:
    return web.json_response(profile(await require_caller(request)))


async def key_bundle_handler(request: web.Request) -> web.Response:
    caller = await require_caller(request)
    answer = profile(caller)
    answer["key_bundle"] = parse_key_bundle(caller.account.key_bundle).to_json()
    return web.json_response(answer)


_KDF_SCHEMA: Final = {
    "type": "object",
    "required": ["alg", "opslimit", "memlimit"],
    "properties": {
        "alg": {"type": "string", "enum": ["argon2id13"]},
        "opslimit": {"type": "integer"},
        "memlimit": {"type": "integer"},
    },
}
_BUNDLE_SCHEMA: Final = {
    "type": "object",
    "required": ["v", "kind", "kdf", "salt", "nonce", "ciphertext"],
    "properties": {
        "v": {"type": "integer"},
        "kind": {"type": "string"},
        "kdf": _KDF_SCHEMA,
        "salt": {"type": "string"},
        "nonce": {"type": "string"},
        "ciphertext": {"type": "string"},
    },
}
_B64: Final = {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"}
_PROFILE_PROPERTIES: Final = {
    "investigator_id": {"type": "string", "format": "uuid"},
    "username": {"type": "string"},
    "display_name": {"type": "string"},
    "roles": {"type": "array", "items": {"type": "string"}},
    "enc_pk": _B64,
    "sig_pk": _B64,
    "not_after": {"type": "integer"},
}
_PROFILE_SCHEMA: Final = {
    "type": "object",
    "required": sorted(_PROFILE_PROPERTIES),
    "properties": _PROFILE_PROPERTIES,
}

ENDPOINTS: Final = (
    Endpoint(
        "POST",
        "/api/v1/enroll",
        enroll_handler,
        "enroll",
        "Enroll with an invite: public keys, key bundle, auth key, confirmed TOTP secret",
        "investigators",
        {
            201: Reply("A pending account waiting to be vetted with the organisation key."),
            400: Reply("Malformed body."),
            403: Reply("The invite is unknown, used or expired."),
            409: Reply("The username is taken."),
            422: Reply("The TOTP code does not match the secret, or weak KDF parameters."),
            429: Reply("Too many requests; see Retry-After."),
        },
        request_schema={
            "type": "object",
            "additionalProperties": False,
            "required": [
                "invite",
                "username",
                "display_name",
                "enc_pk",
                "sig_pk",
                "key_bundle",
                "auth_key",
                "totp_secret",
                "totp_code",
            ],
            "properties": {
                "invite": {"type": "string", "maxLength": 128},
                "username": {"type": "string", "maxLength": 64},
                "display_name": {"type": "string", "maxLength": 256},
                "enc_pk": _B64,
                "sig_pk": _B64,
                "key_bundle": _BUNDLE_SCHEMA,
                "auth_key": _B64,
                "totp_secret": _B64,
                "totp_code": {"type": "string", "maxLength": 16},
            },
        },
    ),
    Endpoint(
        "POST",
        "/api/v1/auth/prelogin",
        prelogin_handler,
        "prelogin",
        "The salt and KDF parameters to derive the auth key from (fake ones for unknown names)",
        "investigators",
        {
            200: Reply(
                "Salt and parameters.",
                {
                    "type": "object",
                    "required": ["salt", "kdf"],
                    "properties": {"salt": _B64, "kdf": _KDF_SCHEMA},
                },
            ),
            400: Reply("Malformed body or username."),
            429: Reply("Too many requests; see Retry-After."),
        },
        request_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["username"],
            "properties": {"username": {"type": "string", "maxLength": 64}},
        },
    ),
    Endpoint(
        "POST",
        "/api/v1/auth/login",
        login_handler,
        "login",
        "Log in with the auth key and a TOTP code; sets the session cookie",
        "investigators",
        {
            200: Reply(
                "Logged in.",
                {
                    "type": "object",
                    "required": ["investigator_id", "expires_in"],
                    "properties": {
                        "investigator_id": {"type": "string", "format": "uuid"},
                        "expires_in": {"type": "integer"},
                        "session": {"type": "string"},
                    },
                },
            ),
            400: Reply("Malformed body."),
            401: Reply("login_failed: one answer for every reason a login fails."),
            429: Reply("Too many attempts; see Retry-After."),
        },
        request_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["username", "auth_key", "totp"],
            "properties": {
                "username": {"type": "string", "maxLength": 64},
                "auth_key": _B64,
                "totp": {"type": "string", "maxLength": 16},
                "token_in_body": {"type": "boolean"},
            },
        },
    ),
    Endpoint(
        "POST",
        "/api/v1/auth/logout",
        logout_handler,
        "logout",
        "End this session",
        "investigators",
        {
            204: Reply("Logged out (also when there was no session)."),
            403: Reply("A cookie-borne request without this gateway's Origin."),
        },
    ),
    Endpoint(
        "GET",
        "/api/v1/me",
        me_handler,
        "getMe",
        "Who the session belongs to",
        "investigators",
        {200: Reply("The caller's profile.", _PROFILE_SCHEMA), 401: Reply("No live session.")},
    ),
    Endpoint(
        "GET",
        "/api/v1/me/key-bundle",
        key_bundle_handler,
        "getKeyBundle",
        "The caller's passphrase-encrypted key bundle (only to a live session)",
        "investigators",
        {
            200: Reply(
                "Profile plus the key bundle.",
                {
                    "type": "object",
                    "required": [*sorted(_PROFILE_PROPERTIES), "key_bundle"],
                    "properties": {**_PROFILE_PROPERTIES, "key_bundle": _BUNDLE_SCHEMA},
                },
            ),
            401: Reply("No live session."),
        },
    ),
)
