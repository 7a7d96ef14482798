"""Request shapes of the Management API: Auth0's limits, path parameters and bodies as schemas.

Kept apart from the handlers so the limits the seeds document (10 members per request, 100 roles per member,
50 roles and a 300-character inviter name per invitation, ttl_sec up to 30 days) are in one place.
"""

from __future__ import annotations

from orginvite.devtenant.management_schema import JSON, Array, Boolean, Integer, Metadata, Object, QueryParam, String

__all__ = [
    "CREATE_INVITATION",
    "CREATE_ORGANIZATION",
    "CREATE_ROLE",
    "CREATE_USER",
    "DEFAULT_TTL_SEC",
    "ENABLE_CONNECTION",
    "FIELDS_QUERY",
    "INVITATION_FIELDS",
    "MAX_MEMBERS_PER_REQUEST",
    "MAX_ROLES_PER_INVITATION",
    "MAX_ROLES_PER_MEMBER",
    "MAX_TTL_SEC",
    "MEMBERS",
    "MEMBER_FIELDS",
    "MEMBER_ROLES",
    "PATH_NAMES",
    "PATH_SCHEMAS",
    "UPDATE_ENABLED_CONNECTION",
    "UPDATE_ENABLED_CONNECTION_UNSUPPORTED",
    "UPDATE_ORGANIZATION",
    "UPDATE_ORGANIZATION_UNSUPPORTED",
    "UPDATE_USER",
    "UPDATE_USER_UNSUPPORTED",
    "USER_FIELDS",
    "USER_ID",
]

DEFAULT_TTL_SEC = 604_800  # 7 days
MAX_TTL_SEC = 2_592_000  # 30 days
MAX_MEMBERS_PER_REQUEST = 10
MAX_ROLES_PER_MEMBER = 100
MAX_ROLES_PER_INVITATION = 50

ORG_ID = String(min_length=1, max_length=50)
ORG_NAME = String(min_length=1, max_length=50, pattern=r"[a-z0-9_-]+")
USER_ID = String(min_length=1, max_length=300)
ROLE_ID = String(min_length=1, max_length=255)
INVITATION_ID = String(min_length=1, max_length=255)
CONNECTION_ID = String(min_length=1, max_length=255)
METADATA = Metadata()
HEX_COLOR = String(pattern=r"#[0-9a-fA-F]{6}")

PATH_SCHEMAS: dict[str, String] = {
    "org_id": ORG_ID,
    "connection_id": CONNECTION_ID,
    "org_name": String(min_length=1, max_length=50),
    "user_id": USER_ID,
    "role_id": ROLE_ID,
    "invitation_id": INVITATION_ID,
}
PATH_NAMES = {
    "org_id": "id",
    "connection_id": "connectionId",
    "org_name": "name",
    "user_id": "user_id",
    "role_id": "id",
    "invitation_id": "invitation_id",
}

BRANDING = Object(
    properties={
        "logo_url": String(max_length=2048, format="uri"),
        "colors": Object(
            properties={"primary": HEX_COLOR, "page_background": HEX_COLOR},
            required=frozenset({"primary", "page_background"}),
        ),
    }
)
# What POST and PATCH /organizations both take.
ORGANIZATION_PROPERTIES = {
    "name": ORG_NAME,
    "display_name": String(min_length=1, max_length=255),
    "branding": BRANDING,
    "metadata": Object(additional=String(max_length=255), max_properties=25),
}
CREATE_ORGANIZATION = Object(
    properties={
        **ORGANIZATION_PROPERTIES,
        "enabled_connections": Array(
            Object(
                properties={"connection_id": CONNECTION_ID, "assign_membership_on_login": Boolean()},
                required=frozenset({"connection_id"}),
            ),
            max_items=10,
        ),
    },
    required=frozenset({"name"}),
)
# Fields Auth0 takes that the dev tenant does not implement: accepted by the schema so the handler can answer 501
# naming them (a 400 "Additional properties not allowed" would say Auth0 refuses them, which it does not).
UPDATE_ORGANIZATION_UNSUPPORTED = ("token_quota", "third_party_client_access", "is_app_entitlement_active")
UPDATE_ORGANIZATION = Object(
    properties={**ORGANIZATION_PROPERTIES, **dict.fromkeys(UPDATE_ORGANIZATION_UNSUPPORTED, JSON)}
)
UPDATE_USER_UNSUPPORTED = (
    "email",
    "phone_number",
    "phone_verified",
    "verify_email",
    "verify_phone_number",
    "password",
    "connection",
    "client_id",
    "username",
)
UPDATE_USER = Object(
    properties={
        "blocked": Boolean(),
        "email_verified": Boolean(),
        "name": String(min_length=1, max_length=300),
        "nickname": String(min_length=1, max_length=300),
        "given_name": String(min_length=1, max_length=150),
        "family_name": String(min_length=1, max_length=150),
        "picture": String(max_length=2048, format="uri"),
        "user_metadata": METADATA,
        "app_metadata": METADATA,
        **dict.fromkeys(UPDATE_USER_UNSUPPORTED, JSON),
    }
)
UPDATE_ENABLED_CONNECTION_UNSUPPORTED = ("is_signup_enabled", "show_as_button")
UPDATE_ENABLED_CONNECTION = Object(
    properties={
        "assign_membership_on_login": Boolean(),
        **dict.fromkeys(UPDATE_ENABLED_CONNECTION_UNSUPPORTED, JSON),
    }
)
ENABLE_CONNECTION = Object(
    properties={"connection_id": CONNECTION_ID, "assign_membership_on_login": Boolean()},
    required=frozenset({"connection_id"}),
)
MEMBERS = Object(
    properties={"members": Array(USER_ID, min_items=1, max_items=MAX_MEMBERS_PER_REQUEST)},
    required=frozenset({"members"}),
)
MEMBER_ROLES = Object(
    properties={"roles": Array(ROLE_ID, min_items=1, max_items=MAX_ROLES_PER_MEMBER)},
    required=frozenset({"roles"}),
)
CREATE_INVITATION = Object(
    properties={
        "inviter": Object(properties={"name": String(min_length=1, max_length=300)}, required=frozenset({"name"})),
        "invitee": Object(
            properties={"email": String(min_length=3, max_length=254, format="email")},
            required=frozenset({"email"}),
        ),
        "client_id": String(min_length=1, max_length=255),
        "connection_id": CONNECTION_ID,
        "app_metadata": METADATA,
        "user_metadata": METADATA,
        "ttl_sec": Integer(minimum=0, maximum=MAX_TTL_SEC),
        "roles": Array(ROLE_ID, max_items=MAX_ROLES_PER_INVITATION),
        "send_invitation_email": Boolean(),
    },
    required=frozenset({"inviter", "invitee", "client_id"}),
)
CREATE_USER = Object(
    properties={
        "email": String(min_length=3, max_length=254, format="email"),
        "password": String(min_length=1, max_length=512),
        "name": String(min_length=1, max_length=300),
        "connection": String(min_length=1, max_length=128),
        "user_metadata": METADATA,
        "app_metadata": METADATA,
        "email_verified": Boolean(),
        "verify_email": Boolean(),
        "user_id": String(min_length=1, max_length=255, pattern=r"[^|]+"),
    },
    required=frozenset({"connection"}),
)
CREATE_ROLE = Object(
    properties={"name": String(min_length=1, max_length=255), "description": String(max_length=255)},
    required=frozenset({"name"}),
)

FIELDS_QUERY = {
    "fields": QueryParam("string", max_length=1000, pattern=r"[A-Za-z_.]+(,[A-Za-z_.]+)*"),
    "include_fields": QueryParam("boolean"),
}
INVITATION_FIELDS = frozenset(
    {
        "id",
        "organization_id",
        "inviter",
        "invitee",
        "invitation_url",
        "created_at",
        "expires_at",
        "client_id",
        "connection_id",
        "app_metadata",
        "user_metadata",
        "roles",
        "ticket_id",
    }
)
MEMBER_FIELDS = frozenset({"user_id", "email", "picture", "name", "roles"})
USER_FIELDS = frozenset(
    {
        "user_id",
        "email",
        "email_verified",
        "name",
        "nickname",
        "given_name",
        "family_name",
        "picture",
        "user_metadata",
        "app_metadata",
        "identities",
        "created_at",
        "updated_at",
        "last_login",
        "last_ip",
        "logins_count",
        "blocked",
    }
)
