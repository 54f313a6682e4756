"""Logging in (password, then the second factor), TOTP enrolment, and user administration."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from fraudwatch.api.auth import ANYONE, Principal, allow, require
from fraudwatch.security.access import Permission, permissions
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


@router.post("/users/{username}/disable", summary="Disable a user and end their sessions")
def disable_user(username: str, request: Request, key: Admin) -> dict[str, str]:
    _users(request).disable(username, by=key.actor)
    return {"disabled": username}
