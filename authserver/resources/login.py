"""Browser login and logout (SPEC §7): plain HTML routes outside /arvados/v1, not in the policy's route table.

    GET  /login?return_to=URL   the sign-in form (400 page when return_to is not allowed)
    POST /login                 CSRF check (403) → return_to (400) → throttle (429) → password (401)
                                → find or create the API client, issue a token → 303 to return_to?api_token=
    GET  /logout?return_to=URL  expire the presented token → 303 to return_to, or a signed-out page

Every token comes from a password check: there is no "already signed in" shortcut. The password is checked
with no database transaction open (scrypt takes ~50 ms), and a token is written only after it succeeded.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import parse_qsl

import falcon

from ..audit import AuditLog
from ..authn import Authenticator, TrustResolver, presented_token
from ..clients import ClientService
from ..csrf import FIELD_NAME as CSRF_FIELD
from ..csrf import CsrfGuard
from ..db import Storage
from ..ids import utcnow, v2_token
from ..login_pages import Application, LoginHeadersMiddleware, LoginPages
from ..passwords import verify_password
from ..return_to import ReturnTo, ReturnToRefused, ReturnToValidator
from ..throttle import LoginThrottle, Throttled
from ..tokens import TokenService
from ..users import UserService

log = logging.getLogger("authserver.login")

FAILURE_MESSAGE = "Invalid email or password."
MAX_EMAIL_LENGTH = 320
FORM_FIELDS = ("return_to", CSRF_FIELD, "email", "password")


def _form_fields(req: falcon.Request) -> dict[str, str]:
    """The sign-in form's fields, from the (already bounded) form body only: never from the URL.

    A field sent twice is treated as missing.
    """
    if req.context.body_type != "form":
        return {}
    fields: dict[str, str | None] = {}
    for name, value in parse_qsl(req.context.raw_body.decode("utf-8"), keep_blank_values=True,
                                 max_num_fields=1000):
        if name in FORM_FIELDS:
            fields[name] = None if name in fields else value
    return {name: value for name, value in fields.items() if value is not None}


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


class Login:
    def __init__(
        self,
        *,
        storage: Storage,
        users: UserService,
        clients: ClientService,
        tokens: TokenService,
        trust: TrustResolver,
        return_to: ReturnToValidator,
        throttle: LoginThrottle,
        csrf: CsrfGuard,
        pages: LoginPages,
        token_lifetime_seconds: int | None,
        audit: AuditLog,
    ):
        self.storage = storage
        self.audit = audit
        self.users = users
        self.clients = clients
        self.tokens = tokens
        self.trust = trust
        self.return_to = return_to
        self.throttle = throttle
        self.csrf = csrf
        self.pages = pages
        self.token_lifetime = timedelta(seconds=token_lifetime_seconds) if token_lifetime_seconds else None

    def _application(self, target: ReturnTo) -> Application:
        url_prefix = target.origin.url_prefix
        self.storage.connect()
        ApiClient = self.storage.models.ApiClient
        client = ApiClient.get_or_none(ApiClient.url_prefix == url_prefix)
        origin = url_prefix[:-1]
        name = client.name if client is not None and client.name and client.name != url_prefix else None
        return Application(
            name=name or origin.split("://", 1)[1],
            origin=origin,
            is_trusted=self.trust.is_trusted(client.is_trusted if client is not None else False, url_prefix),
        )

    def _refuse_return_to(self, resp: falcon.Response, error: ReturnToRefused) -> None:
        self.pages.refusal(resp, falcon.HTTP_400, "Cannot sign in", str(error))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            target = self.return_to.check(req.params.get("return_to"))
        except ReturnToRefused as error:
            return self._refuse_return_to(resp, error)
        self.pages.login_form(resp, falcon.HTTP_200, application=self._application(target),
                              return_to=target.url, csrf_token=self.csrf.issue(req, resp))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = _form_fields(req)
        refusal = self.csrf.refusal(req, form.get(CSRF_FIELD))
        if refusal:
            log.warning("login form refused from %s: %s", req.remote_addr, refusal)
            return self.pages.refusal(resp, falcon.HTTP_403, "Cannot sign in", refusal)
        try:
            target = self.return_to.check(form.get("return_to"))
        except ReturnToRefused as error:
            return self._refuse_return_to(resp, error)
        email = form.get("email", "").strip()
        password = form.get("password", "")

        def show_form(status: str, alert: str) -> None:
            self.pages.login_form(resp, status, application=self._application(target), return_to=target.url,
                                  csrf_token=form[CSRF_FIELD], email=email, alert=alert)

        if not email or not password or len(email) > MAX_EMAIL_LENGTH:
            return show_form(falcon.HTTP_401, FAILURE_MESSAGE)
        attempt = self.throttle.reserve(email, req.remote_addr)
        if isinstance(attempt, Throttled):
            log.warning("login throttled from %s for %d s", req.remote_addr, attempt.retry_after)
            self._audit_failure(req, target, None, "throttled")
            show_form(falcon.HTTP_429, f"Too many failed sign-in attempts. Try again in {_minutes(attempt.retry_after)}.")
            resp.set_header("Retry-After", str(attempt.retry_after))
            return None
        user = self.users.find_by_email(email)
        # verify_password checks against a dummy hash when there is no user (or no password), so an
        # unknown email costs the same time as a wrong password.
        password_ok = verify_password(password, user.password_hash if user is not None else None)
        if not password_ok or not user.is_active:
            log.warning("login failed from %s", req.remote_addr)
            self._audit_failure(req, target, user, "inactive user" if password_ok else "wrong password or unknown email")
            return show_form(falcon.HTTP_401, FAILURE_MESSAGE)
        now = utcnow()
        # Rows added (a token, perhaps a client, an audit event) and failures forgotten: no identity that
        # exists changes, so no process needs to drop its token cache (changes.py).
        with self.storage.write(changes_identities=False):
            self.throttle.succeeded(attempt)
            client, _ = self.clients.find_or_create(target.origin.url_prefix, modified_by_user_uuid=user.uuid)
            token, secret = self.tokens.issue(
                user_id=user.id,
                api_client_id=client.id,
                scopes=["all"],
                expires_at=now + self.token_lifetime if self.token_lifetime else None,
                ip_address=req.remote_addr,
                modified_by_user_uuid=user.uuid,
            )
            self.audit.record("login.success", actor_uuid=user.uuid, token_uuid=token.uuid, object_uuid=token.uuid,
                              ip_address=req.remote_addr, request_id=req.context.request_id,
                              details={"client": client.url_prefix})
        log.info("login: user %s signed in to %s from %s, token %s", user.uuid, client.url_prefix,
                 req.remote_addr, token.uuid)
        resp.status = falcon.HTTP_303
        resp.set_header("Location", target.with_token(v2_token(token.uuid, secret)))
        return None


    def _audit_failure(self, req: falcon.Request, target: ReturnTo, user, reason: str) -> None:
        # The attempted email is not recorded: people type passwords into the email field.
        self.audit.record("login.failure", object_uuid=user.uuid if user is not None else None,
                          ip_address=req.remote_addr, request_id=req.context.request_id,
                          details={"reason": reason, "client": target.origin.url_prefix})


class Logout:
    def __init__(self, *, storage: Storage, authenticator: Authenticator, return_to: ReturnToValidator,
                 pages: LoginPages, audit: AuditLog):
        self.storage = storage
        self.audit = audit
        self.authenticator = authenticator
        self.return_to = return_to
        self.pages = pages

    def _expire(self, req: falcon.Request) -> None:
        identity = self.authenticator.authenticate(presented_token(req.params, req.get_header("Authorization")))
        if identity is None or identity.token_id is None:  # nothing valid presented, or the root token (no row)
            return
        Token = self.storage.models.Token
        now = utcnow()
        with self.storage.write():
            Token.update(expires_at=now, modified_at=now, modified_by_user_uuid=identity.user_uuid).where(
                (Token.id == identity.token_id) & (Token.expires_at.is_null() | (Token.expires_at > now))
            ).execute()
            self.audit.record("logout", actor_uuid=identity.user_uuid, token_uuid=identity.token_uuid,
                              object_uuid=identity.token_uuid, ip_address=req.remote_addr,
                              request_id=req.context.request_id)
        log.info("logout: token %s of user %s expired", identity.token_uuid, identity.user_uuid)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # The token is expired first: a refused return_to must not keep a token alive (SPEC §10).
        self._expire(req)
        raw = req.params.get("return_to")
        if not raw:
            return self.pages.signed_out(resp)
        try:
            target = self.return_to.check(raw)
        except ReturnToRefused as error:
            return self.pages.refusal(resp, falcon.HTTP_400, "Signed out, but cannot return", str(error))
        resp.status = falcon.HTTP_303
        resp.set_header("Location", target.url)
        return None


def add_login_routes(app: falcon.App, services) -> None:
    """Wire /login and /logout into `app`, built from the app's `Services`."""
    config = services.config
    storage = services.storage
    trust = services.authenticator.trust
    return_to = ReturnToValidator(
        storage,
        trusted_clients=config.trusted_clients,
        allowed_clients=config.allowed_clients,
        trust_private_networks=config.trust_private_networks,
    )
    pages = LoginPages()
    # Make the dummy hash now (once per process), so the first unknown email is not slower than the rest.
    verify_password("warm-up", None)
    app.add_middleware(LoginHeadersMiddleware())
    app.add_route("/login", Login(
        storage=storage,
        users=UserService(storage, config.cluster_id),
        clients=ClientService(storage, config.cluster_id),
        tokens=services.tokens,
        trust=trust,
        return_to=return_to,
        throttle=LoginThrottle(storage),
        csrf=CsrfGuard(config.external_url),
        pages=pages,
        token_lifetime_seconds=config.login_token_lifetime,
        audit=services.audit,
    ))
    app.add_route("/logout", Logout(storage=storage, authenticator=services.authenticator, return_to=return_to,
                                    pages=pages, audit=services.audit))
