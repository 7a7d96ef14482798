"""The dev tenant's SQLite store: records in Auth0's shape, conflicts, cascades, atomicity under threads."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orginvite.devtenant.store import (
    ConflictError,
    InvalidCheckpointError,
    NotFoundError,
    Store,
    StoreError,
    generate_id,
    generate_ticket,
    generate_user_id,
    iso8601,
)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Iterator[Store]:
    with Store(":memory:", clock=clock) as store:
        yield store


def _org_with_member(store: Store) -> tuple[dict, dict]:
    org = store.create_organization("acme", "Acme Inc.")
    user = store.create_user("ada@acme.test", "s3cret-pass")
    store.add_members(org["id"], [user["user_id"]])
    return org, user


def _invitation(store: Store, org_id: str, email: str = "new@acme.test", roles: list[str] | None = None) -> dict:
    return store.create_invitation(
        {
            "organization_id": org_id,
            "inviter": {"name": "Ada"},
            "invitee": {"email": email},
            "client_id": "web",
            "roles": roles or [],
            "invitation_url": "http://127.0.0.1:8000/login?invitation=x",
            "expires_at": "2030-01-01T00:00:00.000Z",
            "send_invitation_email": False,
        }
    )


# -- ids and timestamps


def test_generated_ids_have_auth0_shapes() -> None:
    assert re.fullmatch(r"org_[A-Za-z0-9]{16}", generate_id("org_"))
    assert re.fullmatch(r"uinv_[A-Za-z0-9]{16}", generate_id("uinv_"))
    assert re.fullmatch(r"auth0\|[0-9a-f]{24}", generate_user_id())
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", generate_ticket())
    assert len({generate_id("rol_") for _ in range(100)}) == 100


def test_iso8601_has_milliseconds_and_z() -> None:
    assert iso8601(0) == "1970-01-01T00:00:00.000Z"
    assert iso8601(1_700_000_000.1234) == "2023-11-14T22:13:20.123Z"


# -- tenant, clients, connections


def test_tenant_settings_round_trip_and_replace(store: Store) -> None:
    assert store.get_tenant() == {}
    store.set_tenant({"friendly_name": "Acme", "default_locale": "fr"})
    store.set_tenant({"friendly_name": "Acme Dev"})
    assert store.get_tenant() == {"friendly_name": "Acme Dev"}


def test_clients_insert_replace_list_delete(store: Store) -> None:
    store.put_client({"client_id": "b", "name": "B", "callbacks": ["http://x/cb"]})
    store.put_client({"client_id": "a", "name": "A"})
    store.put_client({"client_id": "b", "name": "B2", "callbacks": []})
    assert store.get_client("b") == {"client_id": "b", "name": "B2", "callbacks": []}
    assert [c["client_id"] for c in store.list_clients()] == ["b", "a"]  # insertion order survives a replace
    assert store.get_client("nope") is None
    assert store.delete_client("a") is True
    assert store.delete_client("a") is False
    with pytest.raises(StoreError):
        store.put_client({"name": "no id"})


def test_connections_by_id_and_name_and_unique_name(store: Store) -> None:
    store.put_connection({"id": "con_1", "name": "Username-Password-Authentication", "strategy": "auth0"})
    store.put_connection({"name": "other"})
    generated = store.get_connection_by_name("other")
    assert generated is not None and re.fullmatch(r"con_[A-Za-z0-9]{16}", generated["id"])
    assert generated["strategy"] == "auth0"
    assert store.get_connection("con_1")["name"] == "Username-Password-Authentication"
    with pytest.raises(ConflictError):
        store.put_connection({"id": "con_2", "name": "other"})
    assert [c["name"] for c in store.list_connections()] == ["Username-Password-Authentication", "other"]
    assert store.get_connection("con_2") is None


def test_updating_a_connection_keeps_it_enabled_on_organizations(store: Store) -> None:
    store.put_connection({"id": "con_1", "name": "db"})
    org = store.create_organization("acme")
    store.enable_connection(org["id"], "con_1")
    store.put_connection({"id": "con_1", "name": "db-renamed"})
    assert store.list_enabled_connections(org["id"])[0]["connection"]["name"] == "db-renamed"


# -- organizations


def test_create_get_list_organizations(store: Store) -> None:
    org = store.create_organization(
        "acme", "Acme Inc.", branding={"logo_url": "https://x/logo.png"}, metadata={"lang": "fr"}
    )
    assert re.fullmatch(r"org_[A-Za-z0-9]{16}", org["id"])
    assert org == {
        "id": org["id"],
        "name": "acme",
        "display_name": "Acme Inc.",
        "branding": {"logo_url": "https://x/logo.png"},
        "metadata": {"lang": "fr"},
    }
    fixed = store.create_organization("globex", id="org_AAAAAAAAAAAAAAAA")
    assert fixed == {"id": "org_AAAAAAAAAAAAAAAA", "name": "globex", "display_name": "globex", "metadata": {}}
    assert store.get_organization(org["id"]) == org
    assert store.get_organization_by_name("globex") == fixed
    assert store.get_organization("org_missing") is None
    assert store.get_organization_by_name("missing") is None
    items, total = store.list_organizations(offset=1, limit=5)
    assert total == 2 and [o["name"] for o in items] == ["globex"]


def test_organization_conflicts(store: Store) -> None:
    store.create_organization("acme", id="org_AAAAAAAAAAAAAAAA")
    with pytest.raises(ConflictError) as by_name:
        store.create_organization("acme")
    assert by_name.value.field == "name"
    with pytest.raises(ConflictError) as by_id:
        store.create_organization("other", id="org_AAAAAAAAAAAAAAAA")
    assert by_id.value.field == "id"
    assert store.list_organizations()[1] == 1


def test_enable_connection_shape_update_and_not_found(store: Store) -> None:
    store.put_connection({"id": "con_1", "name": "db"})
    org = store.create_organization("acme")
    enabled = store.enable_connection(org["id"], "con_1")
    assert enabled == {
        "connection_id": "con_1",
        "assign_membership_on_login": False,
        "connection": {"name": "db", "strategy": "auth0"},
    }
    assert store.enable_connection(org["id"], "con_1", True)["assign_membership_on_login"] is True
    assert len(store.list_enabled_connections(org["id"])) == 1
    with pytest.raises(NotFoundError):
        store.enable_connection(org["id"], "con_missing")
    with pytest.raises(NotFoundError):
        store.enable_connection("org_missing", "con_1")
    assert store.disable_connection(org["id"], "con_1") is True
    assert store.list_enabled_connections(org["id"]) == []


def test_delete_organization_cascades(store: Store) -> None:
    store.put_connection({"id": "con_1", "name": "db"})
    org, user = _org_with_member(store)
    other = store.create_organization("globex")
    store.add_members(other["id"], [user["user_id"]])
    role = store.create_role("admin")
    store.add_member_roles(org["id"], user["user_id"], [role["id"]])
    store.add_member_roles(other["id"], user["user_id"], [role["id"]])
    store.enable_connection(org["id"], "con_1")
    invitation = _invitation(store, org["id"])

    assert store.delete_organization(org["id"]) is True
    assert store.delete_organization(org["id"]) is False
    assert store.get_organization(org["id"]) is None
    assert store.list_members(org["id"]) == ([], 0)
    assert store.list_member_roles(org["id"], user["user_id"]) == ([], 0)
    assert store.list_enabled_connections(org["id"]) == []
    assert store.get_invitation_by_ticket(invitation["ticket_id"]) is None
    # the rest of the tenant is untouched
    assert store.get_user(user["user_id"]) is not None
    assert store.is_member(other["id"], user["user_id"])
    assert store.list_member_roles(other["id"], user["user_id"])[1] == 1
    assert store.get_connection("con_1") is not None


# -- roles


def test_roles(store: Store) -> None:
    admin = store.create_role("admin", "Manages the workspace")
    store.create_role("billing", id="rol_BBBBBBBBBBBBBBBB")
    assert re.fullmatch(r"rol_[A-Za-z0-9]{16}", admin["id"])
    assert store.get_role(admin["id"]) == {"id": admin["id"], "name": "admin", "description": "Manages the workspace"}
    assert store.get_role_by_name("billing")["id"] == "rol_BBBBBBBBBBBBBBBB"
    assert store.get_role("rol_missing") is None
    with pytest.raises(ConflictError):
        store.create_role("admin")
    with pytest.raises(ConflictError):
        store.create_role("x", id="rol_BBBBBBBBBBBBBBBB")
    items, total = store.list_roles(limit=1)
    assert total == 2 and [r["name"] for r in items] == ["admin"]


def test_deleting_a_role_takes_it_from_members(store: Store) -> None:
    org, user = _org_with_member(store)
    role = store.create_role("admin")
    store.add_member_roles(org["id"], user["user_id"], [role["id"]])
    assert store.delete_role(role["id"]) is True
    assert store.list_member_roles(org["id"], user["user_id"]) == ([], 0)


# -- users and passwords


def test_create_user_shape(store: Store, clock: Clock) -> None:
    user = store.create_user("Ada@Acme.TEST", "pw-123456", name="Ada", user_metadata={"lang": "fr"})
    assert re.fullmatch(r"auth0\|[0-9a-f]{24}", user["user_id"])
    assert user["email"] == "ada@acme.test"
    assert user["email_verified"] is False
    assert user["name"] == "Ada" and user["nickname"] == "ada"
    assert user["user_metadata"] == {"lang": "fr"} and user["app_metadata"] == {}
    assert user["created_at"] == user["updated_at"] == iso8601(clock.now)
    assert user["identities"] == [
        {
            "connection": "Username-Password-Authentication",
            "provider": "auth0",
            "user_id": user["user_id"].removeprefix("auth0|"),
            "isSocial": False,
        }
    ]
    stored = store.get_user(user["user_id"])
    assert stored == user and "pw-123456" not in str(stored) and "scrypt" not in str(stored)
    assert store.get_user_by_email("ADA@acme.test") == user
    assert store.get_user("auth0|missing") is None


def test_user_conflicts_are_case_insensitive(store: Store) -> None:
    store.create_user("ada@acme.test", user_id="auth0|aaaaaaaaaaaaaaaaaaaaaaaa")
    with pytest.raises(ConflictError) as by_email:
        store.create_user("ADA@acme.test")
    assert by_email.value.field == "email"
    with pytest.raises(ConflictError) as by_id:
        store.create_user("bob@acme.test", user_id="auth0|aaaaaaaaaaaaaaaaaaaaaaaa")
    assert by_id.value.field == "user_id"


def test_verify_password(store: Store) -> None:
    user = store.create_user("ada@acme.test", "correct horse")
    store.create_user("nopass@acme.test")
    assert store.verify_password("ADA@acme.test", "correct horse") == user
    assert store.verify_password("ada@acme.test", "correct horsE") is None
    assert store.verify_password("ada@acme.test", "") is None
    assert store.verify_password("nobody@acme.test", "correct horse") is None
    assert store.verify_password("nopass@acme.test", "") is None
    assert store.has_password(user["user_id"]) and not store.has_password(
        store.get_user_by_email("nopass@acme.test")["user_id"]
    )


def test_passwords_are_salted_scrypt_hashes(store: Store) -> None:
    a = store.create_user("a@acme.test", "same password")
    b = store.create_user("b@acme.test", "same password")
    rows = store._all("SELECT user_id, password_hash FROM users ORDER BY email")
    hashes = {row["user_id"]: row["password_hash"] for row in rows}
    assert hashes[a["user_id"]].startswith("scrypt$") and "same password" not in hashes[a["user_id"]]
    assert hashes[a["user_id"]] != hashes[b["user_id"]]


def test_set_password_update_user_record_login(store: Store, clock: Clock) -> None:
    user = store.create_user("ada@acme.test", "old password")
    store.set_password(user["user_id"], "new password")
    assert store.verify_password("ada@acme.test", "old password") is None
    assert store.verify_password("ada@acme.test", "new password") is not None
    clock.now += 60
    updated = store.update_user(user["user_id"], {"email_verified": True, "user_metadata": {"lang": "de"}})
    assert updated["email_verified"] is True and updated["user_metadata"] == {"lang": "de"}
    assert updated["updated_at"] == iso8601(clock.now) != user["created_at"]
    with pytest.raises(StoreError):
        store.update_user(user["user_id"], {"email": "x@y.z"})
    with pytest.raises(NotFoundError):
        store.update_user("auth0|missing", {"name": "x"})
    with pytest.raises(NotFoundError):
        store.set_password("auth0|missing", "pw")
    assert "last_login" not in user and user["logins_count"] == 0
    store.record_login(user["user_id"])
    store.record_login(user["user_id"])
    after = store.get_user(user["user_id"])
    assert after["logins_count"] == 2 and after["last_login"] == iso8601(clock.now)
    with pytest.raises(NotFoundError):
        store.record_login("auth0|missing")


def test_list_and_delete_users(store: Store) -> None:
    org, user = _org_with_member(store)
    store.create_user("bob@acme.test")
    items, total = store.list_users()
    assert total == 2 and [u["email"] for u in items] == ["ada@acme.test", "bob@acme.test"]
    assert store.delete_user(user["user_id"]) is True
    assert store.list_members(org["id"]) == ([], 0)
    assert store.delete_user(user["user_id"]) is False


# -- memberships


def test_members_add_idempotent_list_remove(store: Store) -> None:
    org = store.create_organization("acme")
    users = [store.create_user(f"u{i}@acme.test", user_id=f"auth0|{i:024x}") for i in range(3)]
    ids = [u["user_id"] for u in users]
    store.add_members(org["id"], ids[::-1])
    store.add_members(org["id"], ids[:1])
    items, total = store.list_members(org["id"])
    assert total == 3
    assert [m["user_id"] for m in items] == ids
    assert items[0] == {
        "user_id": ids[0],
        "email": "u0@acme.test",
        "picture": users[0]["picture"],
        "name": "u0@acme.test",
    }
    assert [m["user_id"] for m in store.list_members(org["id"], offset=1, limit=1)[0]] == [ids[1]]
    assert store.is_member(org["id"], ids[2])
    store.remove_members(org["id"], ids[1:])
    assert store.list_members(org["id"])[1] == 1
    assert not store.is_member(org["id"], ids[2])


def test_add_members_names_the_unknown_and_changes_nothing(store: Store) -> None:
    org = store.create_organization("acme")
    user = store.create_user("ada@acme.test")
    with pytest.raises(NotFoundError) as unknown_user:
        store.add_members(org["id"], [user["user_id"], "auth0|ghost"])
    assert "auth0|ghost" in str(unknown_user.value) and unknown_user.value.kind == "user"
    assert store.list_members(org["id"]) == ([], 0)
    with pytest.raises(NotFoundError) as unknown_org:
        store.add_members("org_ghost", [user["user_id"]])
    assert unknown_org.value.kind == "organization" and unknown_org.value.id == "org_ghost"


def test_removing_a_member_removes_their_roles_there(store: Store) -> None:
    org, user = _org_with_member(store)
    role = store.create_role("admin")
    store.add_member_roles(org["id"], user["user_id"], [role["id"]])
    store.remove_members(org["id"], [user["user_id"]])
    store.add_members(org["id"], [user["user_id"]])
    assert store.list_member_roles(org["id"], user["user_id"]) == ([], 0)


def test_checkpoint_paging_walks_every_member_once(store: Store) -> None:
    org = store.create_organization("acme")
    ids = [store.create_user(f"u{i}@acme.test")["user_id"] for i in range(7)]
    store.add_members(org["id"], ids)
    seen, checkpoint, pages = [], None, 0
    while True:
        items, checkpoint = store.list_members_from(org["id"], checkpoint, 3)
        seen += [m["user_id"] for m in items]
        pages += 1
        if checkpoint is None:
            break
        assert "auth0" not in checkpoint  # opaque, not the raw id
    assert seen == sorted(ids) and pages == 3
    assert store.list_members_from(org["id"], None, 7)[1] is None
    assert store.list_members_from(org["id"], None, 0) == ([], None)
    for bad in ["%%%", "a", "\u00e9t\u00e9"]:
        with pytest.raises(InvalidCheckpointError):
            store.list_members_from(org["id"], bad, 3)


def test_list_user_organizations(store: Store) -> None:
    user = store.create_user("ada@acme.test")
    for name in ["globex", "acme", "initech"]:
        org = store.create_organization(name)
        if name != "initech":
            store.add_members(org["id"], [user["user_id"]])
    items, total = store.list_user_organizations(user["user_id"])
    assert total == 2 and [o["name"] for o in items] == ["acme", "globex"]
    assert store.list_user_organizations("auth0|nobody") == ([], 0)


def test_member_roles(store: Store) -> None:
    org, user = _org_with_member(store)
    admin, billing = store.create_role("admin", "A"), store.create_role("billing", "B")
    store.add_member_roles(org["id"], user["user_id"], [billing["id"], admin["id"]])
    store.add_member_roles(org["id"], user["user_id"], [admin["id"]])
    items, total = store.list_member_roles(org["id"], user["user_id"])
    assert total == 2 and items == [admin, billing]
    store.remove_member_roles(org["id"], user["user_id"], [admin["id"]])
    assert store.list_member_roles(org["id"], user["user_id"]) == ([billing], 1)


def test_member_roles_need_a_member_and_known_roles(store: Store) -> None:
    org, user = _org_with_member(store)
    outsider = store.create_user("out@acme.test")
    role = store.create_role("admin")
    with pytest.raises(NotFoundError) as not_member:
        store.add_member_roles(org["id"], outsider["user_id"], [role["id"]])
    assert not_member.value.kind == "member"
    with pytest.raises(NotFoundError) as unknown_role:
        store.add_member_roles(org["id"], user["user_id"], [role["id"], "rol_ghost"])
    assert unknown_role.value.id == "rol_ghost"
    assert store.list_member_roles(org["id"], user["user_id"]) == ([], 0)  # nothing half-applied


# -- invitations


def test_invitation_round_trip(store: Store, clock: Clock) -> None:
    org = store.create_organization("acme")
    invitation = _invitation(store, org["id"])
    assert re.fullmatch(r"uinv_[A-Za-z0-9]{16}", invitation["id"])
    assert invitation["ticket_id"] and invitation["created_at"] == iso8601(clock.now)
    assert store.get_invitation(org["id"], invitation["id"]) == invitation
    assert store.get_invitation_by_ticket(invitation["ticket_id"]) == invitation
    assert store.get_invitation("org_other", invitation["id"]) is None
    assert store.get_invitation_by_ticket("nope") is None
    explicit = store.create_invitation({**invitation, "id": "uinv_XXXXXXXXXXXXXXXX", "ticket_id": "tkt"})
    assert store.get_invitation_by_ticket("tkt") == explicit
    with pytest.raises(ConflictError):
        store.create_invitation({**invitation, "ticket_id": "other"})
    with pytest.raises(ConflictError):
        store.create_invitation({**invitation, "id": None, "ticket_id": "tkt"})
    with pytest.raises(NotFoundError):
        _invitation(store, "org_missing")
    with pytest.raises(StoreError):
        store.create_invitation({"organization_id": org["id"]})


def test_invitations_newest_first_delete_and_revoke_by_email(store: Store) -> None:
    org = store.create_organization("acme")
    first = _invitation(store, org["id"], "bob@acme.test")
    second = _invitation(store, org["id"], "carol@acme.test")
    third = _invitation(store, org["id"], "BOB@acme.test")
    items, total = store.list_invitations(org["id"])
    assert total == 3 and [i["id"] for i in items] == [third["id"], second["id"], first["id"]]
    assert [i["id"] for i in store.list_invitations(org["id"], offset=2, limit=10)[0]] == [first["id"]]
    assert store.delete_invitations_for_email(org["id"], "bob@ACME.test") == 2
    assert store.delete_invitation(org["id"], second["id"]) is True
    assert store.delete_invitation(org["id"], second["id"]) is False
    assert store.list_invitations(org["id"]) == ([], 0)


def test_accept_invitation_makes_a_member_with_roles_and_consumes_it(store: Store) -> None:
    org = store.create_organization("acme")
    admin, billing = store.create_role("admin"), store.create_role("billing")
    invitation = _invitation(store, org["id"], roles=[admin["id"], billing["id"]])
    user = store.create_user("new@acme.test")
    store.delete_role(billing["id"])  # deleted since the invitation was sent: skipped, not an error
    assert store.accept_invitation(invitation["id"], user["user_id"]) is True
    assert store.is_member(org["id"], user["user_id"])
    assert store.list_member_roles(org["id"], user["user_id"]) == ([admin], 1)
    assert store.get_invitation_by_ticket(invitation["ticket_id"]) is None
    assert store.accept_invitation(invitation["id"], user["user_id"]) is False


def test_accept_invitation_for_unknown_user_changes_nothing(store: Store) -> None:
    org = store.create_organization("acme")
    invitation = _invitation(store, org["id"])
    with pytest.raises(NotFoundError):
        store.accept_invitation(invitation["id"], "auth0|ghost")
    assert store.get_invitation(org["id"], invitation["id"]) == invitation


def test_concurrent_acceptance_has_exactly_one_winner(store: Store) -> None:
    org = store.create_organization("acme")
    role = store.create_role("admin")
    invitation = _invitation(store, org["id"], roles=[role["id"]])
    users = [store.create_user(f"u{i}@acme.test") for i in range(12)]
    barrier = threading.Barrier(len(users))
    results: dict[str, bool] = {}

    def accept(user_id: str) -> None:
        barrier.wait()
        results[user_id] = store.accept_invitation(invitation["id"], user_id)

    threads = [threading.Thread(target=accept, args=(u["user_id"],)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [user_id for user_id, won in results.items() if won]
    assert len(results) == 12 and len(winners) == 1
    members, total = store.list_members(org["id"])
    assert total == 1 and members[0]["user_id"] == winners[0]
    assert store.list_member_roles(org["id"], winners[0])[1] == 1


def test_concurrent_acceptances_of_different_invitations_lose_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "tenant.sqlite3") as store:
        org = store.create_organization("acme")
        role = store.create_role("member")
        pairs = []
        for i in range(20):
            user = store.create_user(f"u{i}@acme.test")
            pairs.append((_invitation(store, org["id"], f"u{i}@acme.test", [role["id"]])["id"], user["user_id"]))
        barrier = threading.Barrier(len(pairs))
        outcomes: list[bool] = []

        def accept(invitation_id: str, user_id: str) -> None:
            barrier.wait()
            outcomes.append(store.accept_invitation(invitation_id, user_id))

        threads = [threading.Thread(target=accept, args=pair) for pair in pairs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes.count(True) == 20
        assert store.list_members(org["id"])[1] == 20
        assert all(store.list_member_roles(org["id"], user_id)[1] == 1 for _, user_id in pairs)
        assert store.list_invitations(org["id"]) == ([], 0)


# -- transients


def test_transients_expire(store: Store, clock: Clock) -> None:
    store.put_transient("code", "abc", {"user_id": "u"}, ttl_seconds=60)
    assert store.get_transient("code", "abc") == {"user_id": "u"}
    assert store.get_transient("state", "abc") is None  # kinds are separate namespaces
    clock.now += 59.9
    assert store.get_transient("code", "abc") == {"user_id": "u"}
    clock.now += 0.2
    assert store.get_transient("code", "abc") is None
    assert store.take_transient("code", "abc") is None


def test_take_transient_is_single_use(store: Store) -> None:
    store.put_transient("code", "abc", {"n": 1}, ttl_seconds=60)
    assert store.take_transient("code", "abc") == {"n": 1}
    assert store.take_transient("code", "abc") is None
    store.put_transient("code", "abc", {"n": 2}, ttl_seconds=60)
    store.delete_transient("code", "abc")
    assert store.get_transient("code", "abc") is None


def test_take_transient_under_threads_has_one_taker(store: Store) -> None:
    for round_ in range(5):
        store.put_transient("code", "k", {"round": round_}, ttl_seconds=60)
        barrier = threading.Barrier(16)
        taken: list[dict | None] = []

        def take(barrier: threading.Barrier, taken: list[dict | None]) -> None:
            barrier.wait()
            taken.append(store.take_transient("code", "k"))

        threads = [threading.Thread(target=take, args=(barrier, taken)) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [value for value in taken if value is not None] == [{"round": round_}]


def test_expired_transients_are_swept(store: Store, clock: Clock) -> None:
    for i in range(5):
        store.put_transient("code", str(i), {}, ttl_seconds=1)
    clock.now += 2
    store.put_transient("code", "fresh", {}, ttl_seconds=1)
    assert store._count("SELECT COUNT(*) FROM transients") == 1


# -- signing keys and persistence


def test_signing_keys_round_trip(store: Store) -> None:
    assert store.load_signing_keys() == []
    store.save_signing_keys([{"kid": "new", "kty": "RSA"}, {"kid": "old", "kty": "RSA"}])
    assert [k["kid"] for k in store.load_signing_keys()] == ["new", "old"]


def test_file_database_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "tenant.sqlite3"
    with Store(path) as store:
        org, user = _org_with_member(store)
        role = store.create_role("admin")
        store.add_member_roles(org["id"], user["user_id"], [role["id"]])
        invitation = _invitation(store, org["id"])
        store.set_tenant({"friendly_name": "Acme"})
        store.put_client({"client_id": "web"})
        store.put_transient("refresh_token", "rt", {"user_id": user["user_id"]}, ttl_seconds=3600)
        store.save_signing_keys([{"kid": "k1"}])
        journal = store._one("PRAGMA journal_mode")[0]
    assert journal == "wal"
    with Store(path) as reopened:
        assert reopened.get_organization(org["id"]) == org
        assert reopened.list_member_roles(org["id"], user["user_id"]) == ([role], 1)
        assert reopened.verify_password("ada@acme.test", "s3cret-pass") is not None
        assert reopened.get_invitation_by_ticket(invitation["ticket_id"]) == invitation
        assert reopened.get_tenant() == {"friendly_name": "Acme"}
        assert reopened.get_client("web") == {"client_id": "web"}
        assert reopened.get_transient("refresh_token", "rt") == {"user_id": user["user_id"]}
        assert reopened.load_signing_keys() == [{"kid": "k1"}]
        assert reopened._one("PRAGMA foreign_keys")[0] == 1


def test_two_connections_to_one_file_still_have_one_winner(tmp_path: Path) -> None:
    # Two Store objects are two SQLite connections (as two processes would be): the Python lock does not
    # serialize them, so this checks the SQL transaction itself (BEGIN IMMEDIATE + DELETE ... RETURNING).
    path = tmp_path / "tenant.sqlite3"
    with Store(path) as first, Store(path) as second:
        org = first.create_organization("acme")
        invitations = [_invitation(first, org["id"], f"u{i}@acme.test")["id"] for i in range(10)]
        user = first.create_user("winner@acme.test")
        results: list[bool] = []

        def accept(store: Store, barrier: threading.Barrier) -> None:
            barrier.wait()
            for invitation_id in invitations:
                results.append(store.accept_invitation(invitation_id, user["user_id"]))

        barrier = threading.Barrier(4)
        threads = [threading.Thread(target=accept, args=(s, barrier)) for s in (first, second, first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results.count(True) == 10 and results.count(False) == 30
        assert second.list_invitations(org["id"]) == ([], 0)
        assert first.is_member(org["id"], user["user_id"])
