"""Bootstrapping people and checking the audit log through the `fraudwatch` command: create (the
password typed at the prompt), list, disable, reset a second factor; `audit verify` passes on
the untouched chain and, once a row is edited in the database, exits 1 naming that entry."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.test_cli_end_to_end import as_json, fraudwatch


def test_users_and_a_tampered_audit_log(tmp_path: Path) -> None:
    home = tmp_path / "home"
    password = "a long enough password\n"
    fraudwatch(home, "users", "create", "--username", "ada", "--role", "admin",
               stdin=password + password)  # fmt: skip
    fraudwatch(home, "users", "create", "--username", "vic", "--role", "viewer",
               "--password", "another long password")  # fmt: skip
    too_short = fraudwatch(home, "users", "create", "--username", "x", "--role", "viewer",
                           "--password", "short", check=False)  # fmt: skip
    assert too_short.returncode != 0 and "12 characters" in too_short.stderr + too_short.stdout
    fraudwatch(home, "users", "disable", "--username", "vic")
    fraudwatch(home, "users", "reset-second-factor", "--username", "ada")
    nobody = fraudwatch(home, "users", "reset-second-factor", "--username", "eve", check=False)
    assert nobody.returncode != 0 and "no user 'eve'" in nobody.stderr + nobody.stdout
    listed = as_json(fraudwatch(home, "users", "list", "--json"))
    users = {u["username"]: u for u in listed["users"]}
    assert (users["ada"]["role"], users["vic"]["disabled"]) == ("admin", True)
    assert "password" not in json.dumps(listed)

    intact = as_json(fraudwatch(home, "audit", "verify", "--json"))
    assert intact == {"entries": 4, "ok": True, "bad_seq": None, "problem": None}
    with sqlite3.connect(home / "fraudwatch.db") as db:  # someone edits history
        db.execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = 2")
    tampered = fraudwatch(home, "audit", "verify", check=False)
    assert tampered.returncode == 1
    assert "entry 2 was edited" in tampered.stderr + tampered.stdout
