"""Context: what every service function needs besides its database session.

One :class:`Context` is built when the app (or a command) starts and passed to
the service layer, so pages, API and command line share the same rules.

Building a Context also builds its domain event bus and subscribes every layer
to it (`vardmote.wiring`), so no Context in use can miss a subscription.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from vardmote.audit.log import use_key as use_audit_key
from vardmote.db import Database
from vardmote.lib.events import EventBus
from vardmote.lib.tokens import Sealer
from vardmote.settings import Settings


@dataclass
class Context:
    """Context is the settings, the database, the token sealer and the event bus of one process."""

    settings: Settings
    db: Database
    sealer: Sealer = field(init=False)
    tz: ZoneInfo = field(init=False)
    events: EventBus[Context] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.sealer = Sealer(self.settings.effective_secret_key())
        use_audit_key(self.db.engine, self.settings.effective_audit_key())
        self.tz = ZoneInfo(self.settings.timezone)
        self.events = EventBus(self)
        # Imported here, not at the top: the subscribing layers' modules import this one.
        from vardmote.wiring import subscribe_all

        subscribe_all(self.events)

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        """from_settings opens the configured database."""
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings, Database(settings.effective_database_url, settings.db_pool_size))

    def url(self, path: str) -> str:
        """url makes an absolute address from a path, for links people receive."""
        return self.settings.effective_public_url + path
