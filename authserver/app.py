"""`create_app(config)`: the whole request path, wired in the order a request meets it.

    request id → CORS → bounded body / form / method override          (wire.py, before routing)
    route → authenticate: token, class, user (401)                     (authn.py)
          → scopes (403)                                               (scope_check.py)
          → policy: is the method open to this class? (403)            (authz.py)
          → resource: target visible (404) and allowed (403), payload  (resources/*, validation.py)
            valid (422), the work in one transaction, JSON out
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import falcon

from .apidocs.discovery import DISCOVERY_PATH, DiscoveryDocument
from .apidocs.openapi import OpenApiDocument
from .apidocs.resources import OPENAPI_PATH, GeneratedDocument
from .authn import AuthenticationMiddleware, Authenticator, TrustResolver
from .audit import AuditContextMiddleware, AuditLog
from .authz import PolicyHolder, PolicyMiddleware
from .config import Config
from .db import Storage, open_database
from .errors import UnexpectedErrorHandler, serialize_error
from .policy import load_policy
from .policy.decision_log import DecisionLog
from .policy.reloader import PolicyReloader
from .policy.shadow import ShadowPolicy
from .clients import ClientService
from .resources.api_client_authorizations import ApiClientAuthorizations
from .resources.health import HEALTH_PATH, Health
from .resources.login import add_login_routes
from .resources.api_clients import ApiClients
from .resources.users import Users
from .routes import RouteTable, build_route_table
from .scope_check import ScopeMiddleware
from .tokens import TokenService
from .usage import UsageRecorder
from .users import UserService
from .validation import SchemaSet
from .wire import BodyMiddleware, CorsMiddleware, ProxyHeadersMiddleware, RequestIdMiddleware

log = logging.getLogger("authserver")


@dataclass
class Services:
    """What the app was built from; the CLI and the tests reach the same objects."""

    config: Config
    storage: Storage
    routes: RouteTable
    policy: PolicyHolder
    authenticator: Authenticator
    tokens: TokenService
    schemas: SchemaSet
    usage: UsageRecorder
    audit: AuditLog
    reloader: PolicyReloader
    decision_log: DecisionLog
    shadow: ShadowPolicy | None = None  # config `policy_shadow`

    def close(self) -> None:
        self.reloader.close()
        if self.shadow is not None:
            self.shadow.reloader.close()
        self.decision_log.close()
        self.usage.close()
        self.storage.close()


def build_services(config: Config, *, upgrade: bool = True) -> Services:
    storage = Storage(open_database(config.database_url, config.base_dir))
    if upgrade:
        storage.upgrade(config.cluster_id)
    routes = build_route_table()
    policy = PolicyHolder(load_policy(config.policy_path, routes.method_targets()))
    audit = AuditLog(storage)
    reloader = PolicyReloader(policy, config.policy_path, routes.method_targets(), audit=audit)  # started by `serve`
    trust = TrustResolver(config.trusted_clients)
    shadow_path = config.policy_shadow_path
    shadow_policy = load_policy(shadow_path, routes.method_targets()) if shadow_path else None
    decision_log = DecisionLog(include_allowed=config.decision_log_allowed, path=config.decision_log_file)
    shadow = ShadowPolicy(shadow_policy, decision_log) if shadow_policy is not None else None
    if shadow is not None:  # the candidate reloads like the active policy (started by `serve`)
        shadow.reloader = PolicyReloader(shadow, shadow_path, routes.method_targets())
    return Services(
        config=config,
        storage=storage,
        routes=routes,
        policy=policy,
        authenticator=Authenticator(storage, config.cluster_id, config.system_root_token, trust,
                                    cache_seconds=config.token_cache_seconds),
        tokens=TokenService(storage, config.cluster_id, config.max_token_lifetime),
        schemas=SchemaSet(),
        usage=UsageRecorder(storage),
        audit=audit,
        reloader=reloader,
        decision_log=decision_log,
        shadow=shadow,
    )


class AuthServerApp(falcon.App):
    """A Falcon app that also carries the services it was built from (`app.services`)."""

    services: Services


def create_app(config: Config, *, services: Services | None = None) -> AuthServerApp:
    services = services or build_services(config)
    route_index = services.routes.by_template_and_verb()
    app = AuthServerApp(
        middleware=[
            RequestIdMiddleware(),
            # Only with `trusted_proxies` configured: without, it would be a no-op on every request.
            *([ProxyHeadersMiddleware(config.trusted_proxies)] if config.trusted_proxies else []),
            CorsMiddleware(),
            BodyMiddleware(config.max_body_bytes),
            AuthenticationMiddleware(services.authenticator, route_index, services.usage),
            AuditContextMiddleware(),
            ScopeMiddleware(),
            PolicyMiddleware(services.policy, services.decision_log, services.shadow),
        ]
    )
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.keep_blank_qs_values = True
    app.resp_options.secure_cookies_by_default = True
    app.set_error_serializer(serialize_error)
    app.add_error_handler(Exception, UnexpectedErrorHandler(services.storage))

    resources = {
        "api_client_authorizations": ApiClientAuthorizations(
            services.storage,
            services.tokens,
            services.schemas,
            config.max_items_per_response,
            services.authenticator.system_user_id,
            services.audit,
        ),
        "users": Users(
            services.storage,
            UserService(services.storage, config.cluster_id),
            services.schemas,
            config.max_items_per_response,
        ),
        "api_clients": ApiClients(
            services.storage,
            ClientService(services.storage, config.cluster_id),
            services.authenticator.trust,
            services.schemas,
            config.max_items_per_response,
        ),
    }
    added = set()
    for route in services.routes.routes:
        if route.template in added:
            continue
        added.add(route.template)
        resource = resources[route.resource]
        suffix = f"_{route.responder}" if route.responder else ""
        # HEAD answers wherever GET does (Falcon drops the body of a HEAD response).
        if hasattr(resource, f"on_get{suffix}") and not hasattr(resource, f"on_head{suffix}"):
            setattr(resource, f"on_head{suffix}", getattr(resource, f"on_get{suffix}"))
        app.add_route(route.template, resource, suffix=route.responder)
    # Public, generated from the same table and schemas; outside the table, so no policy names them.
    discovery = DiscoveryDocument(services.routes, services.schemas, cluster_id=config.cluster_id,
                                  max_body_bytes=config.max_body_bytes,
                                  max_items_per_response=config.max_items_per_response)
    app.add_route(DISCOVERY_PATH, GeneratedDocument(discovery, config.external_url))
    app.add_route(OPENAPI_PATH, GeneratedDocument(OpenApiDocument(services.routes, services.schemas),
                                                  config.external_url))
    add_login_routes(app, services)  # /login, /logout: HTML pages outside the API and its policy
    app.add_route(HEALTH_PATH, Health(services.reloader, services.storage, services.shadow))
    app.services = services
    return app
