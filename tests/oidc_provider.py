"""An OpenID Connect provider on 127.0.0.1 for the sign-in tests, built on Authlib's server parts.

Authlib's `AuthorizationServer`, its authorization-code grant with PKCE (`CodeChallenge`, RFC 7636)
and its OpenID Connect extension (`OpenIDCode`) do the protocol: they check the client, the
redirect URI, the state, nonce and code verifier, and sign the ID token (RS256, with the key
served at `jwks_uri`). This module only stores codes in memory, serves the discovery document
(OpenID Connect Discovery 1.0 §3), and stands in for the provider's sign-in page: a form with one
button per test user, like an account chooser. Streamlit's st.login (Authlib's Starlette
client) talks to it unchanged, as it would to Microsoft Entra ID or Google.
"""

from __future__ import annotations

import html
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import KeySet, RSAKey


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        return " ".join(word for word in (scope or "").split() if word in ("openid", "email", "profile"))

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return None


class _Payload(OAuth2Payload):
    def __init__(self, values: dict[str, str]):
        self._values = values

    @property
    def data(self):
        return self._values

    @property
    def datalist(self):
        return {key: [value] for key, value in self._values.items()}


class _Request(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: dict, query: dict, form: dict):
        super().__init__(method, uri, headers=headers)
        self._query, self._form = query, form
        self.payload = _Payload({**query, **form})

    @property
    def args(self):
        return self._query

    @property
    def form(self):
        return self._form


@dataclass
class OpenIDProvider:
    """A running provider: `users` (e-mail → extra ID-token claims) may sign in to the client
    `client_id`/`client_secret` at `redirect_uri`. `metadata_url` is what [auth]
    server_metadata_url names. Use it as a context manager."""

    redirect_uri: str
    users: dict[str, dict] = field(default_factory=dict)
    client_id: str = "ledgerlight-tests"
    client_secret: str = field(default_factory=lambda: generate_token(32))
    codes: dict[str, Code] = field(default_factory=dict)
    signed_in: list[str] = field(default_factory=list)

    def __enter__(self) -> "OpenIDProvider":
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"}, private=True)
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.issuer = f"http://127.0.0.1:{self._http.server_address[1]}"
        self.metadata_url = f"{self.issuer}/.well-known/openid-configuration"
        self.server = _server(self, Client(self.client_id, self.client_secret, [self.redirect_uri]))
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()

    def metadata(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "email", "email_verified", "name", "iss", "aud", "exp", "iat", "nonce"],
        }


def _server(provider: OpenIDProvider, client: Client) -> AuthorizationServer:
    class Server(AuthorizationServer):
        def query_client(self, client_id):
            return client if client_id == client.client_id else None

        def save_token(self, token, request):
            provider.signed_in.append(request.user["email"])

        def create_oauth2_request(self, request):
            return request

        def create_json_request(self, request):
            raise NotImplementedError

        def handle_response(self, status, body, headers):
            return status, body, headers

        def send_signal(self, name, *args, **kwargs):
            pass

    class CodeGrant(AuthorizationCodeGrant):
        def save_authorization_code(self, code, request):
            payload = request.payload.data
            provider.codes[code] = Code(code, client.client_id, payload.get("redirect_uri"), request.scope,
                                        request.user, payload.get("nonce"), payload.get("code_challenge"),
                                        payload.get("code_challenge_method"))

        def query_authorization_code(self, code, client_):
            found = provider.codes.get(code)
            return found if found and found.client_id == client_.client_id else None

        def delete_authorization_code(self, authorization_code):
            provider.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code):
            return authorization_code.user

    class IdToken(OpenIDCode):
        def exists_nonce(self, nonce, request):
            return any(code.nonce == nonce for code in provider.codes.values())

        def resolve_client_private_key(self, client_):
            return provider.key

        def get_client_algorithm(self, client_):
            return "RS256"

        def get_encode_header(self, client_):
            return {"alg": "RS256", "kid": provider.key.kid}

        def get_client_claims(self, client_):
            return {"iss": provider.issuer, "aud": [client_.get_client_id()]}

        def generate_user_info(self, user, scope):
            return UserInfo(sub=user["email"], **user)

    server = Server()
    server.register_token_generator("default", BearerTokenGenerator(lambda *args, **kwargs: generate_token(42)))
    server.register_grant(CodeGrant, [CodeChallenge(required=True), IdToken(require_nonce=True)])
    return server


def _handler(provider: OpenIDProvider):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _request(self) -> _Request:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode())) if length else {}
            return _Request(self.command, provider.issuer + self.path, dict(self.headers),
                            dict(parse_qsl(parts.query)), form)

        def _send(self, status: int, body, headers=()) -> None:
            data = (json.dumps(body) if isinstance(body, dict) else body or "").encode()
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            if not any(name.lower() == "content-type" for name, _ in headers):
                self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path = urlsplit(self.path).path
            if path == "/.well-known/openid-configuration":
                return self._send(200, provider.metadata())
            if path == "/jwks":
                return self._send(200, KeySet([provider.key]).as_dict(private=False))
            if path == "/authorize":
                request = self._request()
                try:
                    provider.server.get_consent_grant(request)
                except OAuth2Error as error:
                    return self._send(error.status_code, {"error": error.error, "error_description": error.description})
                hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                                 for k, v in request.args.items())
                buttons = "".join(f'<button name="login_as" value="{html.escape(email)}">Sign in as {html.escape(email)}</button>'
                                  for email in provider.users)
                return self._send(200, f"<html><body><h1>Test provider</h1><form method='post' action='/authorize'>"
                                       f"{hidden}{buttons}</form></body></html>")
            return self._send(404, {"error": "not_found"})

        def do_POST(self):
            path = urlsplit(self.path).path
            request = self._request()
            if path == "/authorize":
                email = request.form.pop("login_as", None)
                request.payload = _Payload(request.form)
                user = {"email": email, **provider.users[email]} if email in provider.users else None
                try:
                    grant = provider.server.get_consent_grant(request, end_user=user)
                except OAuth2Error as error:
                    return self._send(error.status_code, {"error": error.error, "error_description": error.description})
                status, body, headers = provider.server.create_authorization_response(request, grant_user=user, grant=grant)
                return self._send(status, body, headers)
            if path == "/token":
                status, body, headers = provider.server.create_token_response(request)
                return self._send(status, body, headers)
            return self._send(404, {"error": "not_found"})

    return Handler


def secrets_toml(**tables) -> str:
    """A secrets.toml of the given tables (name → {key: value}), as a deployment writes one."""
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{json.dumps(key)} = {json.dumps(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"
