"""The `authserver` command (SPEC §8). Every failure is one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import signal
import sys
from datetime import timedelta

from . import __version__
from .apidocs.command import add_docs_commands
from .audit import AuditLog, set_audit_context
from .config import Config, ConfigError, load_config
from .db import DatabaseError, Storage, open_database
from .durations import parse_duration
from .ids import USER_TYPE, fixed_uuid, utcnow, v2_token
from .policy import PolicyError
from .policy.tools import add_policy_commands
from .scopes import scope_problem

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A one-line message for the operator."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(EXIT_USAGE)


def _storage(config: Config) -> Storage:
    storage = Storage(open_database(config.database_url, config.base_dir))
    storage.upgrade(config.cluster_id)
    return storage


def _print_json(value: dict) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


# --- commands ------------------------------------------------------------------------------------------


def cmd_serve(args, config: Config) -> int:
    from . import serving
    from .app import create_app

    overrides = {}
    if args.host:
        overrides["listen.host"] = args.host
    if args.port is not None:
        overrides["listen.port"] = args.port
    if overrides:
        config = config.with_overrides(**overrides)
    app = create_app(config)
    # Hot reload: poll the policy files, and reload at once on SIGHUP (the handler only sets an event).
    reloaders = [app.services.reloader]
    if app.services.shadow is not None:  # config `policy_shadow`: the candidate reloads the same way
        reloaders.append(app.services.shadow.reloader)
    for reloader in reloaders:
        reloader.start()

    def reload_policies(signum, frame) -> None:
        for reloader in reloaders:
            reloader.request_reload()

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, reload_policies)
    logging.getLogger("authserver").info(
        "authserver %s serving on http://%s:%s/ (policy %s)",
        __version__, config.listen_host, config.listen_port, config.policy_path,
    )
    serving.serve(app, config)
    return 0


def cmd_db_upgrade(args, config: Config) -> int:
    storage = Storage(open_database(config.database_url, config.base_dir))
    applied = storage.upgrade(config.cluster_id)
    print(f"database at schema version {storage.schema_version()}" + (f" (applied {applied})" if applied else " (nothing to do)"))
    return 0


def _stdin_line() -> str:
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def _read_password(args) -> str | None:
    return _stdin_line() if getattr(args, "password_stdin", False) else None


def _validated(schema: str, payload: dict, root: str) -> dict:
    """`payload` checked against the API's own schema, so the CLI accepts exactly what the API would."""
    from .errors import ApiError
    from .validation import SchemaSet

    try:
        SchemaSet().validate(schema, payload, root)
    except ApiError as error:
        raise CliError("; ".join(error.messages)) from None
    return payload


def _system_uuid(config: Config) -> str:
    return fixed_uuid(config.cluster_id, USER_TYPE)


def _find_user(storage: Storage, config: Config, email_or_uuid: str):
    from .ids import UUID_RE
    from .users import UserService

    users = UserService(storage, config.cluster_id)
    if UUID_RE.match(email_or_uuid):
        user = users.User.get_or_none(users.User.uuid == email_or_uuid)
    else:
        user = users.find_by_email(email_or_uuid)
    if user is None:
        raise CliError(f"no user with the email or uuid {email_or_uuid!r}")
    return user


def _list_json(kind: str, items: list[dict]) -> dict:
    """The API's list envelope for everything there is (the command line sees every row)."""
    from .listing import ListQuery, list_envelope

    return list_envelope(kind, items, ListQuery(limit=len(items)), len(items))


def cmd_user_create(args, config: Config) -> int:
    from .users import UserError, UserService, user_json

    storage = _storage(config)
    users = UserService(storage, config.cluster_id)
    password = _read_password(args)
    payload = {"email": args.email, "is_admin": args.admin}
    for key in ("first_name", "last_name", "username"):
        if getattr(args, key) is not None:
            payload[key] = getattr(args, key)
    if password is not None:
        payload["password"] = password
    _validated("UserCreate", payload, "user")
    try:
        with storage.write():
            row = users.create(**payload, modified_by_user_uuid=_system_uuid(config))
    except UserError as error:
        raise CliError(f"user.{error}") from None
    _print_json(user_json(row, config.cluster_id))
    return 0


def cmd_user_list(args, config: Config) -> int:
    from .users import user_json

    storage = _storage(config)
    User = storage.models.User
    rows = User.select().order_by(User.created_at, User.id)
    _print_json(_list_json("arvados#userList", [user_json(row, config.cluster_id) for row in rows]))
    return 0


def _change_user(config: Config, email_or_uuid: str, changes: dict) -> int:
    """Apply `changes` with the API's rules (UserService.update: admin safety included); print the user."""
    from .users import UserError, UserService, user_json

    storage = _storage(config)
    users = UserService(storage, config.cluster_id)
    try:
        with storage.write():
            row = _find_user(storage, config, email_or_uuid)
            _validated("UserUpdate", changes, "user")
            row = users.update(row, changes, actor_user_id=None, modified_by_user_uuid=_system_uuid(config))
    except UserError as error:
        raise CliError(f"user.{error}") from None
    _print_json(user_json(row, config.cluster_id))
    return 0


def cmd_user_set_password(args, config: Config) -> int:
    if sys.stdin.isatty() and not args.password_stdin:
        import getpass

        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise CliError("the two passwords differ")
    else:
        password = _stdin_line()
    return _change_user(config, args.user, {"password": password})


def cmd_user_deactivate(args, config: Config) -> int:
    return _change_user(config, args.user, {"is_active": False})


def cmd_user_activate(args, config: Config) -> int:
    return _change_user(config, args.user, {"is_active": True})


def _mint_token(config: Config, storage: Storage, user, *, scopes: list[str], expires_in: int | None,
                client_prefix: str) -> str:
    from .clients import CLI_CLIENT_PREFIX, ClientService
    from .tokens import TokenService

    clients = ClientService(storage, config.cluster_id)
    tokens = TokenService(storage, config.cluster_id, config.max_token_lifetime)
    with storage.write():
        client, _ = clients.find_or_create(
            client_prefix,
            name="authserver command line" if client_prefix == CLI_CLIENT_PREFIX else "",
            is_trusted=client_prefix == CLI_CLIENT_PREFIX,
        )
        row, secret = tokens.issue(
            user_id=user.id,
            api_client_id=client.id,
            scopes=scopes,
            expires_at=utcnow() + timedelta(seconds=expires_in) if expires_in else None,
            ip_address=None,
            modified_by_user_uuid=fixed_uuid(config.cluster_id, USER_TYPE),
        )
        AuditLog(storage).record("token.created", actor_uuid=fixed_uuid(config.cluster_id, USER_TYPE),
                                 object_uuid=row.uuid,
                                 details={"owner_uuid": user.uuid, "scopes": scopes, "via": "command line",
                                          "client": client_prefix})
    return v2_token(row.uuid, secret)


def _parse_scopes(text: str | None) -> list[str]:
    if text is None:
        return ["all"]
    try:
        scopes = json.loads(text)
    except json.JSONDecodeError:
        raise CliError('--scopes: not JSON; give a list such as \'["GET /arvados/v1/users/current"]\'') from None
    if not isinstance(scopes, list):
        raise CliError("--scopes: must be a JSON list of scopes")
    for scope in scopes:
        problem = scope_problem(scope)
        if problem:
            raise CliError(f"--scopes: {scope!r} {problem}")
    return scopes


def _client_prefix(url: str | None) -> str:
    """The API client a minted token belongs to: the built-in trusted CLI client, or the canonical prefix of
    URL (the same client a browser login to that origin uses)."""
    from .clients import CLI_CLIENT_PREFIX, ClientError, canonical_prefix

    if not url or url == CLI_CLIENT_PREFIX:
        return CLI_CLIENT_PREFIX
    try:
        return canonical_prefix(url)
    except ClientError as error:
        raise CliError(f"--client: {str(error).removeprefix('url_prefix: ')}") from None


def cmd_token_create(args, config: Config) -> int:
    from .users import UserService

    scopes = _parse_scopes(args.scopes)
    try:
        expires_in = parse_duration(args.expires_in) if args.expires_in is not None else None
    except ValueError as error:
        raise CliError(f"--expires-in: {error}") from None
    storage = _storage(config)
    user = UserService(storage, config.cluster_id).find_by_email(args.email)
    if user is None:
        raise CliError(f"no user with the email {args.email!r}")
    if not user.is_active:
        raise CliError(f"the user {args.email!r} is deactivated")
    print(_mint_token(config, storage, user, scopes=scopes, expires_in=expires_in,
                      client_prefix=_client_prefix(args.client)))
    return 0


def _client_json(config: Config, row) -> dict:
    from .authn import TrustResolver
    from .clients import client_json

    return client_json(row, config.cluster_id, TrustResolver(config.trusted_clients))


def cmd_client_create(args, config: Config) -> int:
    from .clients import ClientError, ClientService

    payload = {"url_prefix": args.url_prefix, "is_trusted": args.trusted}
    if args.name is not None:
        payload["name"] = args.name
    _validated("ApiClientCreate", payload, "api_client")
    storage = _storage(config)
    try:
        with storage.write():
            row = ClientService(storage, config.cluster_id).create(
                args.url_prefix, name=args.name or "", is_trusted=args.trusted,
                modified_by_user_uuid=_system_uuid(config))
    except ClientError as error:
        raise CliError(f"api_client.{error}") from None
    _print_json(_client_json(config, row))
    return 0


def cmd_client_list(args, config: Config) -> int:
    storage = _storage(config)
    ApiClient = storage.models.ApiClient
    rows = ApiClient.select().order_by(ApiClient.created_at, ApiClient.id)
    _print_json(_list_json("arvados#apiClientList", [_client_json(config, row) for row in rows]))
    return 0


def _set_trust(args, config: Config, trusted: bool) -> int:
    from .clients import ClientService

    storage = _storage(config)
    clients = ClientService(storage, config.cluster_id)
    with storage.write():
        row = clients.find(args.client)
        if row is None:
            raise CliError(f"no API client with the uuid or url_prefix {args.client!r}")
        row = clients.update(row, {"is_trusted": trusted}, modified_by_user_uuid=_system_uuid(config))
    result = _client_json(config, row)
    if result["is_trusted"] != trusted:
        print(f"authserver: note: {row.url_prefix} stays trusted: it matches login.trusted_clients in the config",
              file=sys.stderr)
    _print_json(result)
    return 0


def cmd_client_trust(args, config: Config) -> int:
    return _set_trust(args, config, True)


def cmd_client_untrust(args, config: Config) -> int:
    return _set_trust(args, config, False)


def cmd_init(args, config: Config) -> int:
    """Create the database and, on first start, a first admin with a password and a token (make serve)."""
    from .users import UserService

    storage = _storage(config)
    User = storage.models.User
    system_uuid = fixed_uuid(config.cluster_id, USER_TYPE)
    if User.select().where((User.is_admin == True) & (User.uuid != system_uuid)).exists():  # noqa: E712
        print("authserver: database ready; an admin exists already (make a token with `authserver token create EMAIL`)")
        return 0
    password = secrets.token_urlsafe(12)
    with storage.write():
        user = UserService(storage, config.cluster_id).create(
            email=args.email, password=password, is_admin=True, first_name="Admin",
            modified_by_user_uuid=system_uuid,
        )
    token = _mint_token(config, storage, user, scopes=["all"], expires_in=None,
                        client_prefix="ssh://root@localhost/")
    print("authserver: created the first admin (shown once, keep it safe)")
    print(f"  email:    {user.email}")
    print(f"  password: {password}")
    print(f"  token:    {token}")
    print(f"  try:      curl -H 'Authorization: Bearer {token}' "
          f"http://{config.listen_host}:{config.listen_port}/arvados/v1/api_client_authorizations/current")
    return 0


# --- parser --------------------------------------------------------------------------------------------


def cmd_audit(args, config: Config) -> int:
    """Print audit events, newest first, one JSON object per line (for jq and log shippers)."""
    from .audit import EVENT_TYPES, AuditLog

    if args.type and args.type not in EVENT_TYPES:
        raise CliError(f"--type: unknown event type {args.type!r} (one of: {', '.join(EVENT_TYPES)})")
    try:
        since_seconds = parse_duration(args.since) if args.since is not None else None
    except ValueError as error:
        raise CliError(f"--since: {error}") from None
    if args.limit < 1:
        raise CliError("--limit: must be at least 1")
    since = utcnow() - timedelta(seconds=since_seconds) if since_seconds else None
    events = AuditLog(_storage(config)).query(event_type=args.type, since=since, object_uuid=args.object,
                                              limit=args.limit)
    for event in events:
        print(json.dumps(event, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--config", metavar="F", default=argparse.SUPPRESS,
                        help="configuration file (default: $AUTHSERVER_CONFIG, else ./config.yaml, else built-in)")
    parser = _Parser(prog="authserver", description="A policy-driven API authorization server.",
                     parents=[common])
    parser.add_argument("--version", action="version", version=f"authserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", parents=[common], help="serve the API (creates or upgrades the database)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=cmd_serve)

    init = commands.add_parser("init", parents=[common], help="create the database and a first admin")
    init.add_argument("--email", default="admin@example.com")
    init.set_defaults(handler=cmd_init)

    db = commands.add_parser("db", parents=[common], help="database maintenance").add_subparsers(
        dest="db_command", required=True, parser_class=_Parser)
    db.add_parser("upgrade", parents=[common], help="apply schema migrations (safe to run twice)").set_defaults(
        handler=cmd_db_upgrade)

    user = commands.add_parser("user", parents=[common], help="manage users").add_subparsers(
        dest="user_command", required=True, parser_class=_Parser)
    user_create = user.add_parser("create", parents=[common], help="create a user; prints it as JSON")
    user_create.add_argument("email", metavar="EMAIL")
    user_create.add_argument("--admin", action="store_true")
    user_create.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    user_create.add_argument("--first-name")
    user_create.add_argument("--last-name")
    user_create.add_argument("--username")
    user_create.set_defaults(handler=cmd_user_create)
    user.add_parser("list", parents=[common], help="print every user as JSON (the API's list)").set_defaults(
        handler=cmd_user_list)
    user_password = user.add_parser("set-password", parents=[common],
                                    help="set a user's password (asked twice on a terminal, else one line of stdin)")
    user_password.add_argument("user", metavar="EMAIL|UUID")
    user_password.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    user_password.set_defaults(handler=cmd_user_set_password)
    for name, handler, text in (
        ("deactivate", cmd_user_deactivate, "deactivate a user: its tokens get 401 and it cannot log in"),
        ("activate", cmd_user_activate, "activate a deactivated user again"),
    ):
        command = user.add_parser(name, parents=[common], help=text + "; prints it as JSON")
        command.add_argument("user", metavar="EMAIL|UUID")
        command.set_defaults(handler=handler)

    token = commands.add_parser("token", parents=[common], help="mint tokens").add_subparsers(
        dest="token_command", required=True, parser_class=_Parser)
    token_create = token.add_parser("create", parents=[common], help="mint a token; prints it (v2 form) alone")
    token_create.add_argument("email", metavar="EMAIL")
    token_create.add_argument("--scopes", metavar="JSON", help='a JSON list, default ["all"]')
    token_create.add_argument("--expires-in", metavar="DURATION", help="e.g. 3600, 90m, 12h, 7d; 0 for none")
    token_create.add_argument("--client", metavar="URL_PREFIX",
                              help="the API client the token belongs to (default: the trusted ssh://root@localhost/)")
    token_create.set_defaults(handler=cmd_token_create)

    client = commands.add_parser("client", parents=[common], help="manage API clients").add_subparsers(
        dest="client_command", required=True, parser_class=_Parser)
    client_create = client.add_parser("create", parents=[common], help="register a client; prints it as JSON")
    client_create.add_argument("url_prefix", metavar="URL_PREFIX")
    client_create.add_argument("--trusted", action="store_true")
    client_create.add_argument("--name")
    client_create.set_defaults(handler=cmd_client_create)
    client.add_parser("list", parents=[common], help="print every API client as JSON (the API's list)").set_defaults(
        handler=cmd_client_list)
    for name, handler, text in (
        ("trust", cmd_client_trust, "mark a client trusted: its tokens are of class trusted from the next request"),
        ("untrust", cmd_client_untrust, "clear a client's trusted flag (login.trusted_clients still trusts its origin)"),
    ):
        command = client.add_parser(name, parents=[common], help=text + "; prints it as JSON")
        command.add_argument("client", metavar="UUID|URL_PREFIX")
        command.set_defaults(handler=handler)

    audit = commands.add_parser("audit", parents=[common],
                                help="print security events (logins, tokens, trust, admin changes, policy reloads)")
    audit.add_argument("--type", help="only this event type, e.g. token.revoked")
    audit.add_argument("--since", metavar="DURATION", help="only events of the last DURATION, e.g. 24h")
    audit.add_argument("--object", metavar="UUID", help="only events about this token, user or client")
    audit.add_argument("--limit", type=int, default=100, help="at most this many events (default 100)")
    audit.set_defaults(handler=cmd_audit)

    add_policy_commands(commands, common, _Parser)
    add_docs_commands(commands, common, _Parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A server logs what it does (INFO: reloads, audit lines, ...); a one-shot command prints its answer and
    # keeps stderr for warnings and errors (its audit events are still recorded: `authserver audit`).
    logging.basicConfig(level=logging.INFO if args.command == "serve" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(getattr(args, "config", None))
        # Audit events made by commands name the system user and the command line as their source.
        set_audit_context({"actor_uuid": fixed_uuid(config.cluster_id, USER_TYPE), "request_id": "command line"})
        return args.handler(args, config)
    except (CliError, ConfigError, DatabaseError) as error:
        print(f"authserver: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except PolicyError as error:
        print(f"authserver: error: invalid policy: {error.problems[0]}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the promise: one line, never a traceback
        print(f"authserver: error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
