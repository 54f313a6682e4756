"""Logging in (password, then the second factor), TOTP and passkey enrolment, and user
administration. The `/auth/...` routes act on the session sent as the bearer token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from fraudwatch.api.auth import ANYONE, Principal, allow, require
from fraudwatch.security.access import Permission, permissions
from fraudwatch.users.second_factor import UserPasskeys
from fraudwatch.users.service import UserRole, UserService

router = APIRouter(prefix="/v1", tags=["users"])
Admin = Annotated[Principal, Depends(allow(Permission.USERS_ADMIN))]
Anyone = Annotated[Principal, Depends(require(*ANYONE))]


class LoginIn(BaseModel):
    username: str
    password: str


class CodeIn(BaseModel):
    code: str = Field(min_length=6, max_length=20, description="A TOTP code or a recovery code")


class UserIn(BaseModel):
    username: str
    role: UserRole
    password: str = Field(min_length=12)


def _users(request: Request) -> UserService:
    users: UserService = request.app.state.users
    return users


def _token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "send the session as `Authorization: Bearer <session>`")
    return token.strip()


@router.post("/auth/login", summary="Password login; a session, pending the second factor if any")
def login(body: LoginIn, request: Request) -> dict[str, Any]:
    session = _users(request).login(body.username, body.password)
    return {
        "session": session.token,
        "role": session.role.value,
        "expires_at": session.expires_at.isoformat(),
        "second_factor": "required" if session.mfa_required else "none",
        "methods": list(session.methods),
    }


@router.post("/auth/mfa", summary="Complete the login with a TOTP or recovery code")
def second_factor(body: CodeIn, request: Request) -> dict[str, Any]:
    user = _users(request).verify_second_factor(_token(request), body.code)
    return {"username": user.username, "role": user.role.value, "complete": True}


@router.post("/auth/totp", summary="Start TOTP enrolment: an otpauth:// URI for the app")
def totp_setup(request: Request) -> dict[str, str]:
    return {"otpauth_uri": _users(request).setup_totp(_token(request))}


@router.post("/auth/totp/confirm", summary="Confirm TOTP with a first code; recovery codes")
def totp_confirm(body: CodeIn, request: Request) -> dict[str, Any]:
    codes = _users(request).confirm_totp(_token(request), body.code)
    return {"recovery_codes": codes, "note": "store them now: they are not shown again"}


Credential = Annotated[
    dict[str, Any],
    Body(description="The PublicKeyCredential as JSON (base64url fields), as the browser gave it"),
]


def _passkeys(request: Request) -> UserPasskeys:
    return UserPasskeys(_users(request))


@router.post("/auth/passkeys/register/options", summary="Options to create a passkey")
def passkey_register_options(request: Request) -> dict[str, Any]:
    return _passkeys(request).registration_options(_token(request))


@router.post("/auth/passkeys/register", summary="Store the new passkey the browser created")
def passkey_register(credential: Credential, request: Request) -> dict[str, Any]:
    registered = _passkeys(request).register(_token(request), credential)
    if registered["recovery_codes"]:
        registered["note"] = "store the recovery codes now: they are not shown again"
    return registered


@router.post("/auth/passkeys/login/options", summary="Options to sign in with a passkey")
def passkey_login_options(request: Request) -> dict[str, Any]:
    return _passkeys(request).login_options(_token(request))


@router.post("/auth/passkeys/login", summary="Complete the login with a passkey assertion")
def passkey_login(credential: Credential, request: Request) -> dict[str, Any]:
    user = _passkeys(request).login(_token(request), credential)
    return {"username": user.username, "role": user.role.value, "complete": True}


@router.get("/auth/passkeys", summary="The session user's passkeys")
def passkey_list(request: Request) -> list[dict[str, Any]]:
    return [
        {"credential_id": p.credential_id, "transports": p.transports,
         "created_at": p.created_at.isoformat(),
         "last_used_at": p.last_used_at.isoformat() if p.last_used_at else None}
        for p in _passkeys(request).of(_token(request))
    ]  # fmt: skip


@router.delete("/auth/passkeys/{credential_id}", summary="Remove one of your passkeys")
def passkey_remove(credential_id: str, request: Request) -> dict[str, str]:
    _passkeys(request).remove(_token(request), credential_id)
    return {"removed": credential_id}


@router.get("/auth/me", summary="Who is calling, and what their role may do")
def me(principal: Anyone) -> dict[str, Any]:
    return {
        "username": principal.name,
        "kind": principal.kind,
        "role": principal.role.value,
        "permissions": permissions(principal.role),
    }


@router.post("/auth/logout", summary="End the session")
def logout(request: Request) -> dict[str, bool]:
    _users(request).logout(_token(request))
    return {"logged_out": True}


@router.post("/users", status_code=201, summary="Create a user")
def create_user(body: UserIn, request: Request, key: Admin) -> dict[str, str]:
    _users(request).create(body.username, body.role, body.password, by=key.actor)
    return {"username": body.username, "role": body.role.value}


@router.get("/users", summary="Users (never their secrets)")
def list_users(request: Request, _: Admin) -> list[dict[str, Any]]:
    return _users(request).users()


@router.post(
    "/users/{username}/reset-second-factor",
    summary="Remove a user's TOTP, passkeys and recovery codes (a lost device)",
)
def reset_second_factor(username: str, request: Request, key: Admin) -> dict[str, str]:
    _users(request).reset_second_factor(username, by=key.actor)
    return {"reset": username}


@router.post("/users/{username}/disable", summary="Disable a user and end their sessions")
def disable_user(username: str, request: Request, key: Admin) -> dict[str, str]:
    _users(request).disable(username, by=key.actor)
    return {"disabled": username}
