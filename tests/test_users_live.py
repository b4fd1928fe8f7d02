"""The users API over HTTP against a real server (SPEC §4.3, §5, §10): the default policy's rows, the list
parameters and filters, the error format, write-only scrypt passwords, unique emails, deletion and
deactivation of users, admin safety, and `users.update_privileged`."""

from __future__ import annotations

import json
import uuid as uuidlib

import pytest

from authserver.passwords import verify_password

from .live_api import assert_error, call
from .support import REPO, LiveServer

BASE = "/arvados/v1/users"
TOKENS = "/arvados/v1/api_client_authorizations"
CLASSES = ("system", "trusted", "untrusted", "api_created")


@pytest.fixture(scope="module")
def server(live_server):
    return live_server


def wrapped(**fields):
    return {"user": fields}


def unique_email(prefix="someone"):
    return f"{prefix}-{uuidlib.uuid4().hex[:10]}@example.org"


def stored_user(server, uuid):
    User = server.actors.storage.models.User
    return User.get_or_none(User.uuid == uuid)


# --- the default policy's rows (SPEC §5) ----------------------------------------------------------------

ALLOW, DENY, ADMIN = "allow", "deny", "admin"
TABLE = {
    "current": {"system": ALLOW, "trusted": ALLOW, "untrusted": ALLOW, "api_created": ALLOW},
    "get self": {"system": ALLOW, "trusted": ALLOW, "untrusted": ALLOW, "api_created": ALLOW},
    "list": {"system": ALLOW, "trusted": ALLOW, "untrusted": ALLOW, "api_created": ALLOW},
    "get other": {"system": ALLOW, "trusted": ADMIN, "untrusted": DENY, "api_created": DENY},
    "system": {"system": ALLOW, "trusted": ADMIN, "untrusted": DENY, "api_created": DENY},
    "create": {"system": ALLOW, "trusted": ADMIN, "untrusted": DENY, "api_created": DENY},
    "update self": {"system": ALLOW, "trusted": ADMIN, "untrusted": DENY, "api_created": DENY},
    "update other": {"system": ALLOW, "trusted": ADMIN, "untrusted": DENY, "api_created": DENY},
    "delete other": {"system": ALLOW, "trusted": ADMIN, "untrusted": DENY, "api_created": DENY},
}
# A denied cell is 403, except where the target is not even visible to the caller: 404 (SPEC §10).
DENIED_STATUS = {"get other": 404}


def exercise(server, row, actor):
    if row == "current":
        return call(server, "GET", f"{BASE}/current", actor)
    if row == "get self":
        return call(server, "GET", f"{BASE}/{actor.user_uuid}", actor)
    if row == "list":
        return call(server, "GET", BASE, actor)
    if row == "system":
        return call(server, "GET", f"{BASE}/system", actor)
    if row == "create":
        return call(server, "POST", BASE, actor, json=wrapped(email=unique_email()))
    if row == "update self":
        return call(server, "PATCH", f"{BASE}/{actor.user_uuid}", actor, json=wrapped(first_name="Self"))
    other = server.actors.user()
    if row == "get other":
        return call(server, "GET", f"{BASE}/{other.uuid}", actor)
    if row == "update other":
        return call(server, "PUT", f"{BASE}/{other.uuid}", actor, json=wrapped(last_name="Other"))
    return call(server, "DELETE", f"{BASE}/{other.uuid}", actor)


CELLS = [(row, token_class, admin) for row in TABLE for token_class in CLASSES for admin in (False, True)
         if not (token_class == "system" and not admin)]


@pytest.mark.parametrize("row, token_class, admin", CELLS)
def test_default_policy_table_over_http(server, row, token_class, admin):
    expected = TABLE[row][token_class]
    allowed = expected == ALLOW or (expected == ADMIN and admin)
    actor = server.actors.token(token_class, admin=admin)
    response = exercise(server, row, actor)
    if allowed:
        assert response.status_code == 200, response.text
        assert response.json()["kind"] in ("arvados#user", "arvados#userList")
    else:
        status = DENIED_STATUS.get(row, 403)
        assert_error(response, status, "Forbidden: " if status == 403 else "Path not found")


def test_forbidden_names_the_rule(server):
    actor = server.actors.token("trusted")
    assert_error(call(server, "POST", BASE, actor, json=wrapped(email=unique_email())), 403,
                 "Forbidden: no policy rule allows users.create for trusted tokens (rule default-deny)")


def test_current_and_system(server):
    actor = server.actors.token("untrusted")
    me = call(server, "GET", f"{BASE}/current", actor).json()
    assert me["uuid"] == actor.user_uuid and me["email"] == actor.email and me["kind"] == "arvados#user"
    assert set(me) >= {"kind", "etag", "uuid", "owner_uuid", "created_at", "modified_at", "modified_by_user_uuid",
                       "email", "username", "first_name", "last_name", "is_admin", "is_active", "prefs"}
    assert "password" not in me and "password_hash" not in me
    system = call(server, "GET", f"{BASE}/system", server.actors.token("trusted", admin=True)).json()
    assert system["uuid"] == "zzzzz-tpzed-000000000000000" and system["email"] == "root" and system["is_admin"]
    root = server.actors.token("system")
    assert call(server, "GET", f"{BASE}/current", root).json()["uuid"] == system["uuid"]


# --- visibility and the list parameters ---------------------------------------------------------------


def test_lists_show_only_visible_users(server):
    for token_class in ("trusted", "untrusted", "api_created"):
        for admin in (False, True):
            actor = server.actors.token(token_class, admin=admin)
            listing = call(server, "GET", BASE, actor).json()
            if token_class == "trusted" and admin:
                assert listing["items_available"] > 1
                assert actor.user_uuid in {item["uuid"] for item in listing["items"]}
            else:
                assert [item["uuid"] for item in listing["items"]] == [actor.user_uuid], (token_class, admin)
                assert listing["items_available"] == 1
    # an invisible user cannot be found by filtering for it either
    other = server.actors.user()
    actor = server.actors.token("trusted")
    found = call(server, "GET", BASE, actor, params={"filters": json.dumps([["uuid", "=", other.uuid]])}).json()
    assert found["items"] == [] and found["items_available"] == 0


def test_list_envelope_and_common_parameters(server):
    admin = server.actors.token("trusted", admin=True)
    tag = uuidlib.uuid4().hex[:8]
    made = [call(server, "POST", BASE, admin, json=wrapped(email=f"{tag}-{n}@example.org", first_name=f"N{n}")).json()
            for n in range(3)]
    mine = json.dumps([["email", "like", f"{tag}-%"]])
    listing = call(server, "GET", BASE, admin, params={"filters": mine}).json()
    assert {key: listing[key] for key in ("kind", "etag", "self_link", "offset", "limit", "items_available")} == {
        "kind": "arvados#userList", "etag": "", "self_link": "", "offset": 0, "limit": 100, "items_available": 3}
    assert [item["uuid"] for item in listing["items"]] == [user["uuid"] for user in reversed(made)]  # newest first
    ordered = call(server, "GET", BASE, admin, params={"filters": mine, "order": json.dumps(["email asc"]),
                                                        "limit": 2, "offset": 1}).json()
    assert [item["email"] for item in ordered["items"]] == [f"{tag}-1@example.org", f"{tag}-2@example.org"]
    selected = call(server, "GET", BASE, admin, params={"filters": mine, "select": json.dumps(["email"]),
                                                         "count": "none"}).json()
    assert "items_available" not in selected
    assert all(set(item) == {"kind", "email"} for item in selected["items"])
    where = call(server, "GET", BASE, admin, params={"where": json.dumps({"email": f"{tag}-0@example.org"})}).json()
    assert [item["uuid"] for item in where["items"]] == [made[0]["uuid"]]


@pytest.mark.parametrize("params, fragment", [
    ({"limit": "-1"}, "limit"),
    ({"offset": "x"}, "offset"),
    ({"count": "some"}, "count"),
    ({"order": json.dumps(["password asc"])}, "order[0]"),
    ({"select": json.dumps(["password_hash"])}, "select"),
    ({"filters": json.dumps([["password_hash", "=", "x"]])}, "cannot filter by 'password_hash'"),
    ({"filters": json.dumps([["email", "~", "x"]])}, "operator '~'"),
    ({"filters": json.dumps([["is_admin", "like", "t%"]])}, "operator 'like'"),
    ({"filters": json.dumps([["is_admin", "=", "yes"]])}, "'is_admin' with '=': needs true or false"),
    ({"filters": json.dumps([["email", "in", "x"]])}, "'email' with 'in': needs a list"),
    ({"filters": json.dumps([["created_at", ">", "yesterday"]])}, "'created_at' with '>'"),
    ({"filters": json.dumps([["email", "=", None]])}, "never null"),
    ({"filters": "not json"}, "filters"),
    ({"where": json.dumps({"prefs": {}})}, "where.prefs"),
])
def test_bad_list_parameters_are_422(server, params, fragment):
    admin = server.actors.token("trusted", admin=True)
    assert_error(call(server, "GET", BASE, admin, params=params), 422, fragment)


def test_filters_on_users_over_http(server):
    admin = server.actors.token("trusted", admin=True)
    tag = uuidlib.uuid4().hex[:8]
    alice = call(server, "POST", BASE, admin, json=wrapped(email=f"Alice-{tag}@Example.org", username=f"alice{tag}",
                                                           first_name="Alice")).json()
    bob = call(server, "POST", BASE, admin, json=wrapped(email=f"bob-{tag}@example.org", first_name="bob",
                                                         is_admin=True)).json()

    def emails(*conditions):
        conditions = [["email", "ilike", f"%-{tag}@%"], *conditions]
        response = call(server, "GET", BASE, admin, params={"filters": json.dumps(conditions),
                                                             "order": json.dumps(["email asc"])})
        assert response.status_code == 200, response.text
        return [item["email"] for item in response.json()["items"]]

    both = [alice["email"], bob["email"]]
    assert emails() == both
    assert emails(["email", "like", "Alice%"]) == [alice["email"]]
    assert emails(["email", "like", "alice%"]) == []  # like is case-sensitive
    assert emails(["email", "ilike", "ALICE%"]) == [alice["email"]]  # ilike is not
    assert emails(["first_name", "=", "bob"]) == [bob["email"]]
    assert emails(["first_name", "!=", "bob"]) == [alice["email"]]
    assert emails(["is_admin", "=", True]) == [bob["email"]]
    assert emails(["is_admin", "!=", True]) == [alice["email"]]
    assert emails(["is_active", "in", [True]]) == both
    assert emails(["uuid", "in", [alice["uuid"], "zzzzz-tpzed-000000000000000"]]) == [alice["email"]]
    assert emails(["uuid", "not in", [alice["uuid"]]]) == [bob["email"]]
    assert emails(["username", "=", None]) == [bob["email"]]
    assert emails(["username", "!=", f"alice{tag}"]) == [bob["email"]]  # a missing username is "not alice"
    assert emails(["username", "not in", [f"alice{tag}"]]) == [bob["email"]]
    assert emails(["created_at", ">=", alice["created_at"]]) == both
    assert emails(["created_at", ">", alice["created_at"]]) == [bob["email"]]
    assert emails(["created_at", "<", bob["created_at"]]) == [alice["email"]]
    assert emails(["created_at", "<=", alice["created_at"]]) == [alice["email"]]
    assert emails(["email", ">", "A"], ["email", "<", "c"]) == both
    assert emails(["email", ">", "a"]) == [bob["email"]]  # comparisons are case-sensitive: "A" < "a"
    assert emails(["email", "like", f"bob\\_{tag}%"]) == []  # an escaped _ is a literal underscore
    assert emails(["email", "like", f"bob_{tag}%"]) == [bob["email"]]


# --- create, update: payloads, unique emails, write-only passwords ----------------------------------------


def test_create_user_with_password_stores_only_an_scrypt_hash(server):
    admin = server.actors.token("trusted", admin=True)
    email = unique_email("pw")
    response = call(server, "POST", BASE, admin, json=wrapped(email=email, password="correct horse battery",
                                                              first_name="Pat", prefs={"theme": {"dark": True}}))
    assert response.status_code == 200, response.text
    user = response.json()
    assert "password" not in response.text and "correct horse" not in response.text
    assert user["email"] == email and user["first_name"] == "Pat" and user["full_name"] == "Pat"
    assert user["prefs"] == {"theme": {"dark": True}} and user["is_active"] and not user["is_admin"]
    assert user["modified_by_user_uuid"] == admin.user_uuid
    stored = stored_user(server, user["uuid"]).password_hash
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert verify_password("correct horse battery", stored)
    fetched = call(server, "GET", f"{BASE}/{user['uuid']}", admin)
    assert "password" not in fetched.json() and "scrypt" not in fetched.text
    # changing it: write-only again, the old one stops working
    response = call(server, "PATCH", f"{BASE}/{user['uuid']}", admin, json=wrapped(password="another good one"))
    assert response.status_code == 200 and "another good one" not in response.text
    stored = stored_user(server, user["uuid"]).password_hash
    assert verify_password("another good one", stored) and not verify_password("correct horse battery", stored)


@pytest.mark.parametrize("fields, fragment", [
    ({}, "'email' is a required property"),
    ({"email": "not an email"}, "user.email"),
    ({"email": "nul\u0000@example.org"}, "user.email"),
    ({"email": "line@example.org\n"}, "user.email"),
    ({"email": "x" * 64 + "@" + "y" * 300}, "user.email"),
    ({"first_name": "tab\there"}, "user.first_name"),
    ({"last_name": "esc\u001b[31m"}, "user.last_name"),
    ({"first_name": "x" * 256}, "user.first_name"),
    ({"username": "1abc"}, "user.username"),
    ({"username": "a b"}, "user.username"),
    ({"prefs": {"a": ["ok", "bell\u0007"]}}, "user.prefs.a[1]"),
    ({"prefs": "dark"}, "user.prefs"),
    ({"is_admin": "yes"}, "user.is_admin"),
    ({"password": "short"}, "user.password"),
    ({"password": "has a\nnewline"}, "user.password"),
    ({"uuid": "zzzzz-tpzed-aaaaaaaaaaaaaaa"}, "user.uuid: cannot be set"),
    ({"full_name": "X Y"}, "user.full_name: cannot be set"),
    ({"password_hash": "scrypt$1$1$1$AA==$AA=="}, "user.password_hash: unknown attribute"),
])
def test_create_refuses_bad_payloads_and_writes_nothing(server, fields, fragment):
    admin = server.actors.token("trusted", admin=True)
    payload = {"email": unique_email(), **fields} if fields and "email" not in fields else fields
    before = server.actors.storage.models.User.select().count()
    errors = assert_error(call(server, "POST", BASE, admin, json=wrapped(**payload)), 422, fragment)
    if "password" in payload:
        assert not any(payload["password"] in message for message in errors)  # never echoed
    assert server.actors.storage.models.User.select().count() == before


def test_emails_are_unique_ignoring_case(server):
    admin = server.actors.token("trusted", admin=True)
    email = unique_email("Case")
    first = call(server, "POST", BASE, admin, json=wrapped(email=email))
    assert first.status_code == 200
    assert_error(call(server, "POST", BASE, admin, json=wrapped(email=email.upper())), 422, "user.email", "exists")
    # an admin changing their own email to someone else's, in another case: 422, nothing written
    me = server.actors.token("trusted", admin=True)
    assert_error(call(server, "PATCH", f"{BASE}/{me.user_uuid}", me, json=wrapped(email=email.lower())), 422,
                 "user.email", "exists")
    assert stored_user(server, me.user_uuid).email == me.email
    # changing the case of one's own email is fine
    response = call(server, "PATCH", f"{BASE}/{me.user_uuid}", me, json=wrapped(email=me.email.upper()))
    assert response.status_code == 200 and response.json()["email"] == me.email.upper()


def test_update_rules(server):
    admin = server.actors.token("trusted", admin=True)
    user = server.actors.user()
    url = f"{BASE}/{user.uuid}"
    response = call(server, "PUT", url, admin, json=wrapped(first_name="Ada", last_name="Lovelace", username="ada" +
                                                             uuidlib.uuid4().hex[:6], prefs={"x": 1}))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["full_name"] == "Ada Lovelace" and body["prefs"] == {"x": 1}
    assert body["modified_at"] > body["created_at"] and body["modified_by_user_uuid"] == admin.user_uuid
    # an unchanged uuid and owner_uuid are accepted (clients send whole records back), changed ones are not
    same = call(server, "PATCH", url, admin, json=wrapped(uuid=user.uuid, owner_uuid=body["owner_uuid"],
                                                          first_name="Ada"))
    assert same.status_code == 200, same.text
    assert_error(call(server, "PATCH", url, admin, json=wrapped(uuid="zzzzz-tpzed-aaaaaaaaaaaaaaa")), 422,
                 "user.uuid: cannot be changed")
    assert_error(call(server, "PATCH", url, admin, json=wrapped(owner_uuid=admin.user_uuid)), 422,
                 "user.owner_uuid: cannot be changed")
    taken = call(server, "POST", BASE, admin, json=wrapped(email=unique_email(), username="taken" +
                                                           uuidlib.uuid4().hex[:6])).json()["username"]
    assert_error(call(server, "PATCH", url, admin, json=wrapped(username=taken)), 422, "user.username")
    assert_error(call(server, "PATCH", f"{BASE}/zzzzz-tpzed-nosuchuser12345", admin, json=wrapped(first_name="x")),
                 404, "Path not found")
    assert_error(call(server, "PATCH", url, admin, data="{", headers={"Content-Type": "application/json"}), 400)
    assert_error(call(server, "PATCH", url, admin, json=wrapped(first_name="\u0000")), 422, "user.first_name")
    assert stored_user(server, user.uuid).first_name == "Ada"


# --- deletion and deactivation revoke access --------------------------------------------------------------


def test_deleting_a_user_revokes_all_its_tokens(server):
    admin = server.actors.token("trusted", admin=True)
    user = server.actors.user()
    tokens = [server.actors.token(token_class, user=user) for token_class in ("trusted", "untrusted", "api_created")]
    for token in tokens:
        assert call(server, "GET", f"{BASE}/current", token).status_code == 200
    response = call(server, "DELETE", f"{BASE}/{user.uuid}", admin)
    assert response.status_code == 200 and response.json()["uuid"] == user.uuid  # the deleted user
    for token in tokens:
        assert_error(call(server, "GET", f"{BASE}/current", token), 401, "Not logged in")
        assert_error(call(server, "GET", f"{TOKENS}/current", token), 401, "Not logged in")
    Token = server.actors.storage.models.Token
    assert not Token.select().where(Token.uuid.in_([token.token_uuid for token in tokens])).exists()
    assert_error(call(server, "GET", f"{BASE}/{user.uuid}", admin), 404)
    assert_error(call(server, "DELETE", f"{BASE}/{user.uuid}", admin), 404)


def test_deactivating_a_user_makes_its_tokens_fail_until_reactivated(server):
    admin = server.actors.token("trusted", admin=True)
    user = server.actors.user(password="password one")
    token = server.actors.token("trusted", user=user)
    response = call(server, "PATCH", f"{BASE}/{user.uuid}", admin, json=wrapped(is_active=False))
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert_error(call(server, "GET", f"{BASE}/current", token), 401, "Not logged in")
    assert_error(call(server, "GET", f"{TOKENS}/current", token), 401, "Not logged in")
    # the admin still sees the deactivated user
    listing = call(server, "GET", BASE, admin, params={"filters": json.dumps([["is_active", "=", False],
                                                                                ["uuid", "=", user.uuid]])})
    assert [item["uuid"] for item in listing.json()["items"]] == [user.uuid]
    # deactivation does not revoke: reactivating gives the same tokens back
    assert call(server, "PATCH", f"{BASE}/{user.uuid}", admin, json=wrapped(is_active=True)).status_code == 200
    assert call(server, "GET", f"{BASE}/current", token).status_code == 200


def test_a_deactivated_user_cannot_log_in(server):
    from .login_session import LoginSession

    admin = server.actors.token("trusted", admin=True)
    user = server.actors.user(password="password one")
    return_to = f"{server.base_url}/app"
    # login on this server allows no return_to origin by default; register the app as an API client
    call(server, "POST", "/arvados/v1/api_clients", admin, json={"api_client": {"url_prefix": server.base_url}})
    assert LoginSession(server.base_url).sign_in(return_to, user.email, "password one").status_code == 303
    call(server, "PATCH", f"{BASE}/{user.uuid}", admin, json=wrapped(is_active=False))
    refused = LoginSession(server.base_url).sign_in(return_to, user.email, "password one")
    assert refused.status_code == 401 and "api_token" not in refused.headers.get("Location", "")


# --- admin safety (a server of its own: it counts the admins) --------------------------------------------


@pytest.fixture
def fresh(tmp_path):
    server = LiveServer(tmp_path).start()
    yield server
    server.stop()


def test_nobody_can_remove_the_last_active_admin(fresh):
    root = fresh.actors.token("system")
    only = fresh.actors.token("trusted", admin=True)
    url = f"{BASE}/{only.user_uuid}"
    for actor in (only, root):
        assert_error(call(fresh, "PATCH", url, actor, json=wrapped(is_admin=False)), 422,
                     "user.is_admin: cannot demote the last active admin")
        assert_error(call(fresh, "PATCH", url, actor, json=wrapped(is_active=False)), 422,
                     "user.is_active: cannot deactivate the last active admin")
        assert_error(call(fresh, "DELETE", url, actor), 422, "cannot delete the last active admin")
    assert stored_user(fresh, only.user_uuid).is_admin
    # with a second active admin, the first may step down; then the second is the last one
    second = fresh.actors.token("trusted", admin=True)
    assert call(fresh, "PATCH", url, only, json=wrapped(is_admin=False)).status_code == 200
    assert_error(call(fresh, "DELETE", f"{BASE}/{second.user_uuid}", root), 422, "last active admin")
    # an inactive admin does not count
    third = fresh.actors.user(admin=True)
    assert call(fresh, "PATCH", f"{BASE}/{third.uuid}", root, json=wrapped(is_active=False)).status_code == 200
    assert_error(call(fresh, "PATCH", f"{BASE}/{second.user_uuid}", root, json=wrapped(is_admin=False)), 422,
                 "last active admin")
    # the system user is no admin to fall back on: it cannot be changed into a non-admin or removed
    system_url = f"{BASE}/zzzzz-tpzed-000000000000000"
    assert_error(call(fresh, "DELETE", system_url, root), 422, "the system user cannot be deleted")
    assert_error(call(fresh, "PATCH", system_url, root, json=wrapped(is_admin=False)), 422, "system user")
    assert_error(call(fresh, "PATCH", system_url, root, json=wrapped(is_active=False)), 422, "system user")
    assert_error(call(fresh, "PATCH", system_url, root, json=wrapped(email="me@example.org")), 422, "system user")
    assert_error(call(fresh, "PATCH", system_url, root, json=wrapped(password="a long password")), 422,
                 "system user cannot have a password")
    assert call(fresh, "PATCH", system_url, root, json=wrapped(first_name="Root")).status_code == 200


def _policy(tmp_path, *methods):
    path = tmp_path / "self-service.yaml"
    path.write_text(
        f"name: self-service\nextends: {REPO / 'policies' / 'default.yaml'}\nrules:\n"
        f"  - id: users-edit-themselves\n    description: Users change their own record.\n    effect: allow\n"
        f"    methods: {json.dumps(list(methods))}\n"
        f"    classes: [trusted]\n    when:\n      target: self\n"
    )
    return str(path)


@pytest.fixture
def self_service(tmp_path):
    """A policy that lets trusted tokens update their own user, without users.update_privileged."""
    server = LiveServer(tmp_path, policy=_policy(tmp_path, "users.update")).start()
    yield server
    server.stop()


def test_privileged_attributes_need_users_update_privileged(self_service):
    server = self_service
    actor = server.actors.token("trusted")
    url = f"{BASE}/{actor.user_uuid}"
    response = call(server, "PATCH", url, actor, json=wrapped(first_name="Me", is_admin=False, is_active=True))
    assert response.status_code == 200, response.text  # unchanged privileged values need no privilege
    for fields in ({"is_admin": True}, {"is_active": False}, {"password": "a new password"}):
        assert_error(call(server, "PATCH", url, actor, json=wrapped(**fields)), 403,
                     "Forbidden: no policy rule allows users.update_privileged for trusted tokens (rule default-deny)",
                     f"to set {next(iter(fields))}")
    stored = stored_user(server, actor.user_uuid)
    assert not stored.is_admin and stored.is_active and stored.password_hash is None
    # and a trusted admin (trusted-admin-manages-users) may
    admin = server.actors.token("trusted", admin=True)
    assert call(server, "PATCH", url, admin, json=wrapped(password="a new password")).status_code == 200


def test_a_user_cannot_make_themselves_admin_whatever_the_policy(tmp_path):
    policy = _policy(tmp_path, "users.update", "users.update_privileged")
    server = LiveServer(tmp_path, policy=policy).start()
    try:
        actor = server.actors.token("trusted")
        url = f"{BASE}/{actor.user_uuid}"
        assert_error(call(server, "PATCH", url, actor, json=wrapped(is_admin=True)), 403,
                     "Forbidden: admin safety rule no-self-promotion")
        assert not stored_user(server, actor.user_uuid).is_admin
        # the policy did allow the other privileged attributes on oneself
        assert call(server, "PATCH", url, actor, json=wrapped(password="my own password")).status_code == 200
    finally:
        server.stop()
