"""The demo's dashboard logins: an admin and an analyst with TOTP enrolled, a viewer without,
each able to log in with what the demo prints; a second demo on the same home makes new names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from fraudwatch.bootstrap import Container, bootstrap
from fraudwatch.cli.demo import _dashboard_logins
from fraudwatch.cli.demo_live import create_demo_users, publish_starter_rules
from fraudwatch.settings import load_settings
from fraudwatch.users.service import UserService


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    for name in list(__import__("os").environ):
        if name.startswith("FRAUDWATCH_"):
            monkeypatch.delenv(name)
    container = bootstrap(load_settings(home=tmp_path / "home", warmup_days=0))
    yield container
    container.close()


def test_each_demo_user_logs_in_with_what_the_demo_prints(app: Container) -> None:
    users = create_demo_users(app)
    assert [(u.role, u.totp_secret is not None) for u in users] == [
        ("admin", True), ("analyst", True), ("viewer", False)
    ]  # fmt: skip
    service = UserService(app.store.engine, app.keyring)
    for user in users:
        session = service.login(user.username, user.password)
        assert session.mfa_required == (user.totp_secret is not None)
        if user.totp_secret:
            assert user.otpauth_uri and pyotp.parse_uri(user.otpauth_uri).secret == user.totp_secret
            done = service.verify_second_factor(session.token, pyotp.TOTP(user.totp_secret).now())
            assert done.complete
    text = _dashboard_logins("http://127.0.0.1:8000", users, app.settings.home / "no-dist")
    assert "http://127.0.0.1:8000/" in text and "not built" in text
    for user in users:
        assert user.username in text and user.password in text
        if user.totp_secret:
            assert user.totp_secret in text and str(user.otpauth_uri) in text


def test_a_second_demo_on_the_same_home_makes_fresh_users(app: Container) -> None:
    first = create_demo_users(app)
    second = create_demo_users(app)
    assert [u.username for u in second] == [f"{u.username}-2" for u in first]


def test_the_starter_rules_are_published_once(app: Container) -> None:
    version = publish_starter_rules(app)
    active = app.control.active_rule_set()
    assert active is not None and active.version == version and len(active.rules) > 10
    assert publish_starter_rules(app) == version
    assert len(app.control.rule_sets()) == 1
