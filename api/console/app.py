"""The console's web app: server-rendered pages (jinja2) for each role, static files served by the console.

``create_console(...)`` builds the Starlette app; each role's pages are in their own module (``privacy``,
``auditor``, ``window``, ``lead``), the proofs shared by all in ``proofs``, and the audit's background job in
``verify``. JavaScript only adds to what the server renders: the proof checks in the page, the audit's
progress, the print button.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from api.console.client import LedgerClient, LedgerUnreachable, Reads
from api.console.security import Guard, Secret

HERE = Path(__file__).parent
ROLES = ("privacy_officer", "auditor", "service_window", "authority")
ROLE_TITLES = {"privacy_officer": "Privacy officer", "auditor": "Auditor", "service_window": "Service window",
               "authority": "Lead department"}
BEIJING = timezone(timedelta(hours=8))


@dataclass
class Console:
    """What every page needs: the ledger client, the secret, the roles shown, the keys pinned for audits."""

    client: LedgerClient
    secret: Secret
    roles: tuple[str, ...] = ROLES
    authority_key: bytes | None = None
    log_verifier_key: str | None = None
    jobs: dict[str, Any] = field(default_factory=dict)
    env: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                      undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["local"] = local_time
        self.env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.0f}%"
        self.env.filters["num"] = lambda v: "–" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))

    def verifier_key(self) -> str:
        """The log's verifier key: the one pinned at start, else the ledger's own."""
        if self.log_verifier_key:
            return self.log_verifier_key
        status, body = self.client.get("/v1/log/verifier-key")
        if status != 200 or not isinstance(body, str):
            raise LedgerUnreachable("the ledger did not give its verifier key")
        return body.strip()

    def page(self, request: Request, template: str, reads: Reads | None = None, status: int = 200,
             **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            request=request, console=self, reads=reads.items if reads else [], csrf=self.secret.csrf,
            role_titles=ROLE_TITLES, path=request.url.path, **context)
        return HTMLResponse(html, status_code=status)

    def reads(self) -> Reads:
        return Reads(self.client)


def local_time(value: str | None, with_seconds: bool = False) -> str:
    """An RFC 3339 UTC timestamp as Beijing time (``YYYY-MM-DD HH:MM``)."""
    if not value:
        return ""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(BEIJING)
    except ValueError:
        return value
    return when.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def today() -> date:
    """Today in Beijing."""
    return datetime.now(BEIJING).date()


def day_start(text: str | None, days: int = 0) -> str | None:
    """The start of a Beijing-time day (``YYYY-MM-DD``, plus ``days``) as RFC 3339 UTC (None if not a date)."""
    try:
        day = date.fromisoformat(text or "")
    except ValueError:
        return None
    start = datetime.combine(day + timedelta(days=days), datetime.min.time(), BEIJING).astimezone(timezone.utc)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


def number(text: str | None, default: int | None = None, low: int = 0, high: int = 2**62) -> int | None:
    """A whole number from a form field, within bounds (``default`` if absent or not a number)."""
    try:
        value = int(text or "")
    except ValueError:
        return default
    return min(max(value, low), high)


def create_console(console: Console) -> Any:
    """The app, behind the guard."""
    from api.console import auditor, lead, privacy, proofs, window

    def home(request: Request) -> Response:
        status, health = console.client.get("/healthz")
        return console.page(request, "home.html", health=health if status == 200 else None)

    routes: list[Any] = [Route("/", home)]
    for module in (privacy, auditor, window, lead, proofs):
        routes += module.routes(console)
    routes.append(Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"))

    async def unreachable(request: Request, exc: Exception) -> Response:
        return console.page(request, "error.html", status=502, message=str(exc))

    app = Starlette(routes=routes, exception_handlers={LedgerUnreachable: unreachable})
    app.state.console = console
    return Guard(app, console.secret)
