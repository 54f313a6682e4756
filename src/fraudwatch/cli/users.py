"""`fraudwatch users`: create, list and disable the people who use the dashboard and the API."""

from __future__ import annotations

from typing import Annotated

import typer

from fraudwatch.cli.common import JsonOption, container
from fraudwatch.cli.output import console, emit_json, table
from fraudwatch.users.service import UserRole, UserService

users_app = typer.Typer(
    help="Users: create, list, disable, reset a second factor.", no_args_is_help=True
)


@users_app.command("create")
def create_command(
    username: Annotated[str, typer.Option(help="Login name.")],
    role: Annotated[UserRole, typer.Option(help="admin, analyst or viewer.")],
    password: Annotated[
        str | None, typer.Option(help="At least 12 characters; prompted (hidden) when not given.")
    ] = None,
) -> None:
    """Create a user. Admins and analysts set up a second factor (TOTP or a passkey) at their
    first login."""
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with container() as app:
        UserService(app.store.engine, app.keyring).create(
            username, role, password, by="command line"
        )
    console.print(f"created {username} ({role.value})")


@users_app.command("list")
def list_command(json_output: JsonOption = False) -> None:
    """Users, their roles and state (never their secrets)."""
    with container() as app:
        users = UserService(app.store.engine, app.keyring).users()
    if json_output:
        emit_json({"users": users})
        return
    rows: list[list[object]] = [
        [u["username"], u["role"], _factors(u), u["disabled"], u["last_login_at"]] for u in users
    ]
    table("users", ["username", "role", "second factor", "disabled", "last login"], rows)


def _factors(user: dict[str, object]) -> str:
    found = ["totp"] * bool(user["mfa_enabled"]) + [f"{user['passkeys']} passkey(s)"] * bool(
        user["passkeys"]
    )
    return ", ".join(found) or "none"


@users_app.command("disable")
def disable_command(username: Annotated[str, typer.Option(help="Login name.")]) -> None:
    """Disable a user and end their sessions."""
    with container() as app:
        UserService(app.store.engine, app.keyring).disable(username, by="command line")
    console.print(f"disabled {username}")


@users_app.command("reset-second-factor")
def reset_command(username: Annotated[str, typer.Option(help="Login name.")]) -> None:
    """Remove a user's TOTP, passkeys and recovery codes (a lost device) and end their sessions;
    they set up a new second factor at their next login."""
    with container() as app:
        UserService(app.store.engine, app.keyring).reset_second_factor(username, by="command line")
    console.print(f"second factor of {username} reset")
