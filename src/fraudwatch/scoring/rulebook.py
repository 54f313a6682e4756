"""The rules a running scorer applies, reloaded when an analyst publishes or a list changes (and
the policy thresholds, when an admin changes them).

`Rulebook.refresh()` reads the control plane's revision counters (one small query) and reloads
only what changed: the active rule set (recompiled) or the named lists (swapped in place, so
compiled rules see them at once). A background thread calls it every `poll_s` seconds, so a
published rule reaches every running scorer within about that long, without a restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from fraudwatch.control.repository import ControlPlane
from fraudwatch.decisions.policy import Thresholds
from fraudwatch.rules.engine import CompiledRuleSet
from fraudwatch.rules.language import Vocabulary
from fraudwatch.rules.model import RuleSet

log = logging.getLogger(__name__)
THRESHOLDS_KEY = "policy.thresholds"


class Rulebook:
    """The active compiled rule set (or none), the live named lists and threshold overrides."""

    def __init__(
        self,
        control: ControlPlane | None,
        vocabulary: Callable[[RuleSet], Vocabulary],
        *,
        fallback: RuleSet | None = None,
    ) -> None:
        """`vocabulary(rule_set)`: what its rules may name; `fallback`: the rules to run while
        no version is active (e.g. the starter set), or None for no rules."""
        self._control = control
        self._vocabulary = vocabulary
        self._fallback = fallback
        self.lists: dict[str, frozenset[str]] = {}
        self.compiled: CompiledRuleSet | None = None
        self.thresholds: Thresholds | None = None  # set by an admin; else the configured ones
        self._seen: dict[str, int] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh()

    @property
    def version(self) -> str | None:
        if self.compiled is None:
            return None
        rule_set = self.compiled.rule_set
        if rule_set is self._fallback:
            return "starter"
        return f"{rule_set.version}" if rule_set.published_at else f"{rule_set.version}-draft"

    def refresh(self) -> bool:
        """Reload what changed since the last call; True when anything did."""
        with self._lock:
            revisions = self._control.revisions() if self._control is not None else {}
            if revisions == self._seen:
                return False
            seen = self._seen or {}
            if self._control is not None and revisions.get("lists") != seen.get("lists"):
                fresh = self._control.lists()
                self.lists.clear()  # in place: compiled rules hold this very mapping
                self.lists.update(fresh)
            if self._control is not None and revisions.get("policy") != seen.get("policy"):
                stored = self._control.setting(THRESHOLDS_KEY)
                self.thresholds = None if stored is None else Thresholds(**stored)
            if self._seen is None or revisions.get("rules") != seen.get("rules"):
                active = self._control.active_rule_set() if self._control is not None else None
                rule_set = active or self._fallback
                if rule_set is None:
                    self.compiled = None
                else:
                    for name in rule_set.lists:
                        self.lists.setdefault(name, frozenset())
                    self.compiled = CompiledRuleSet(
                        rule_set, self._vocabulary(rule_set), self.lists
                    )
                log.info("rules reloaded: version %s", self.version)
            self._seen = revisions
            return True

    def start(self, poll_s: float = 1.0) -> None:
        """Refresh every `poll_s` seconds in a daemon thread until `stop()`."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(poll_s):
                try:
                    self.refresh()
                except Exception:  # keep scoring with the rules we have
                    log.exception("could not refresh the rules; keeping version %s", self.version)

        self._thread = threading.Thread(target=loop, name="rulebook", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
