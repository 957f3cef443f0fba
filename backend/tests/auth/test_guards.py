"""Every non-public route needs a token; roles and the active flag are read per request
(reliability A1, A8, A11, A12, B1, B2, B5, B6)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, select, update

from app.connection.database import Database
from app.models import RoleEnum, User
from app.routes import PUBLIC_ROUTES
from tests.factories import change_user, create_user, local_user_signed_in, sign_in_local

_METHODS = ("get", "post", "put", "patch", "delete")


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    operations = []
    for path, item in app.openapi()["paths"].items():
        for method in _METHODS:
            if method in item:
                operations.append((method.upper(), path, item[method]))
    return operations


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_every_non_public_route_requires_a_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    protected = [(m, p) for m, p, _ in _operations(app) if (m, p) not in PUBLIC_ROUTES]
    assert len(protected) >= 5  # the walk found the API, not an empty schema
    for method, path in protected:
        for headers, code in (
            ({}, "TOKEN_MISSING"),
            ({"Authorization": "Bearer not.a.token"}, "TOKEN_INVALID"),
            ({"Authorization": "Basic dXNlcjpwYXNz"}, "TOKEN_MISSING"),
        ):
            response = await client.request(method, _concrete(path), headers=headers, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error_code"] == code, (method, path)
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_every_route_declares_its_error_statuses(app: FastAPI) -> None:
    for method, path, operation in _operations(app):
        declared = set(operation["responses"])
        assert {"422", "500"} <= declared, (method, path)
        if (method, path) not in PUBLIC_ROUTES:
            assert "401" in declared, (method, path)
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, status)


async def test_refresh_token_as_bearer_is_wrong_type(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="mix")
    response = await client.get(
        "/auth/me", headers={"Authorization": f"Bearer {session.refresh_token}"}
    )
    assert response.status_code == 401
    assert response.json()["error_code"] == "TOKEN_WRONG_TYPE"


async def test_me_returns_the_user_and_no_secrets(
    client: httpx.AsyncClient, database: Database
) -> None:
    session = await local_user_signed_in(client, database, username="me")
    response = await client.get("/auth/me", headers=session.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] == session.user_id
    assert data["username"] == "me"
    for secret in ("password", "hash", "argon2", "guid_encrypted"):
        assert secret not in response.text


async def test_deleted_or_deactivated_user_token_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    disabled = await local_user_signed_in(client, database, username="disabled")
    deleted = await local_user_signed_in(client, database, username="deleted")
    async with database.session() as db:
        await db.execute(update(User).where(User.id == disabled.user_id).values(is_disabled=True))
        await db.execute(delete(User).where(User.id == deleted.user_id))
        await db.commit()
    for session in (disabled, deleted):
        response = await client.get("/auth/me", headers=session.headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_member_on_admin_routes_is_forbidden_without_side_effects(
    client: httpx.AsyncClient, database: Database
) -> None:
    member = await local_user_signed_in(client, database, username="member")
    target = await create_user(database, username="target")
    calls = [
        ("GET", "/admin/users", None),
        ("PATCH", f"/admin/users/{target.id}/role", {"role": "admin"}),
        ("POST", f"/admin/users/{target.id}/deactivate", None),
        ("PATCH", f"/admin/users/{member.user_id}/role", {"role": "admin"}),
    ]
    for method, path, body in calls:
        response = await client.request(method, path, headers=member.headers, json=body)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error_code"] == "FORBIDDEN"
    async with database.session() as db:
        roles = dict((await db.execute(select(User.username, User.role))).all())
        disabled = await db.scalar(select(User.is_disabled).where(User.id == target.id))
    assert roles == {"member": RoleEnum.member, "target": RoleEnum.member}
    assert disabled is False


async def test_demoted_admin_loses_access_at_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await local_user_signed_in(client, database, username="admin", role=RoleEnum.admin)
    assert (await client.get("/admin/users", headers=admin.headers)).status_code == 200
    await change_user(database, admin.user_id, role=RoleEnum.member)
    response = await client.get("/admin/users", headers=admin.headers)
    assert response.status_code == 403


async def test_admin_lists_users_of_their_own_account_only(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await local_user_signed_in(client, database, username="admin", role=RoleEnum.admin)
    await create_user(database, username="colleague")
    outsider = await create_user(database, username="outsider", account_id="other")
    response = await client.get("/admin/users", headers=admin.headers)
    data = response.json()["data"]
    assert {u["username"] for u in data["items"]} == {"admin", "colleague"}
    assert data["total"] == 2
    foreign = await client.patch(
        f"/admin/users/{outsider.id}/role", headers=admin.headers, json={"role": "manager"}
    )
    assert foreign.status_code == 404
    assert foreign.json()["error_code"] == "NOT_FOUND"


async def test_admin_changes_a_role_and_deactivates_a_user(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await local_user_signed_in(client, database, username="admin", role=RoleEnum.admin)
    worker = await local_user_signed_in(client, database, username="worker")
    promoted = await client.patch(
        f"/admin/users/{worker.user_id}/role", headers=admin.headers, json={"role": "manager"}
    )
    assert promoted.status_code == 200
    assert promoted.json()["data"]["role"] == "manager"
    me = await client.get("/auth/me", headers=worker.headers)
    assert me.json()["data"]["role"] == "manager"

    off = await client.post(f"/admin/users/{worker.user_id}/deactivate", headers=admin.headers)
    assert off.status_code == 200
    assert (await client.get("/auth/me", headers=worker.headers)).status_code == 401
    refresh = await client.patch("/auth/refresh", json={"refresh_token": worker.refresh_token})
    assert refresh.status_code == 401

    on = await client.post(f"/admin/users/{worker.user_id}/reactivate", headers=admin.headers)
    assert on.status_code == 200
    # The deactivation ended the user's sessions: the old token stays dead, a new login works.
    old = await client.get("/auth/me", headers=worker.headers)
    assert (old.status_code, old.json()["error_code"]) == (401, "TOKEN_REVOKED")
    again = await sign_in_local(client, account_id="acme", username="worker")
    assert (await client.get("/auth/me", headers=again.headers)).status_code == 200


async def test_role_change_body_refuses_extra_fields(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await local_user_signed_in(client, database, username="admin", role=RoleEnum.admin)
    worker = await create_user(database, username="worker")
    response = await client.patch(
        f"/admin/users/{worker.id}/role",
        headers=admin.headers,
        json={"role": "manager", "account_id": "other", "is_disabled": True},
    )
    assert response.status_code == 422
    assert {tuple(p["loc"]) for p in response.json()["data"]} == {
        ("body", "account_id"),
        ("body", "is_disabled"),
    }


async def test_admin_cannot_demote_or_deactivate_themself(
    client: httpx.AsyncClient, database: Database
) -> None:
    admin = await local_user_signed_in(client, database, username="admin", role=RoleEnum.admin)
    demote = await client.patch(
        f"/admin/users/{admin.user_id}/role", headers=admin.headers, json={"role": "member"}
    )
    off = await client.post(f"/admin/users/{admin.user_id}/deactivate", headers=admin.headers)
    assert demote.status_code == off.status_code == 409


async def test_login_body_refuses_server_owned_fields(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/login",
        json={"account_id": "a", "username": "u", "password": "p", "role": "admin"},
    )
    assert response.status_code == 422
    assert response.json()["data"][0]["loc"] == ["body", "role"]


async def test_nul_bytes_in_credentials_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/login", json={"account_id": "a\u0000", "username": "u", "password": "p"}
    )
    assert response.status_code == 422
