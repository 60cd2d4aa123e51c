"""A fake OpenID Connect provider on 127.0.0.1 for the real sign-in path (Streamlit's st.login through Authlib):
discovery document, authorize (no login form: it signs in whoever the test put in `next_user` and redirects back
with a code), token (checks the client's secret and PKCE verifier, returns an RS256 ID token with the request's
nonce), JWKS and userinfo. It refuses like a provider: an unknown client, a wrong secret, a reused code or a bad
verifier get `invalid_client` / `invalid_grant`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

from bot.webserver import serve_app

CLIENT_ID, CLIENT_SECRET = "bitrag-test-client", "bitrag-test-secret"


@dataclass
class FakeOIDC:
    next_user: dict[str, Any] = field(default_factory=dict)  # the claims of whoever signs in next
    authorized: list[dict[str, str]] = field(default_factory=list)  # the authorize requests seen
    url: str = ""
    _key: Any = None
    _codes: dict[str, tuple[dict[str, Any], str, str | None]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeOIDC:
        self._key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/userinfo", self._userinfo)
        self._runner, port = await serve_app(app, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    async def _discovery(self, _: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
            "userinfo_endpoint": f"{self.url}/userinfo", "response_types_supported": ["code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"], "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})

    async def _authorize(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.authorized.append(query)
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return web.json_response({"error": "unauthorized_client"}, status=400)
        code = secrets.token_urlsafe(16)
        self._codes[code] = (dict(self.next_user), query.get("nonce", ""), query.get("code_challenge"))
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        raise web.HTTPFound(target)

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        if client_id != CLIENT_ID or client_secret != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        claims, nonce, challenge = self._codes.pop(str(form.get("code")), (None, "", None))
        if claims is None:
            return web.json_response({"error": "invalid_grant"}, status=400)
        if challenge is not None:
            verifier = str(form.get("code_verifier", ""))
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if digest != challenge:
                return web.json_response({"error": "invalid_grant", "error_description": "PKCE"}, status=400)
        now = int(time.time())
        payload = {"iss": self.url, "aud": CLIENT_ID, "iat": now, "exp": now + 3600, "nonce": nonce, **claims}
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, payload, self._key)
        return web.json_response({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                  "expires_in": 3600, "id_token": id_token, "scope": "openid email profile"})

    async def _jwks(self, _: web.Request) -> web.Response:
        return web.json_response({"keys": [self._key.as_dict(private=False)]})

    async def _userinfo(self, _: web.Request) -> web.Response:
        return web.json_response(self.next_user)
