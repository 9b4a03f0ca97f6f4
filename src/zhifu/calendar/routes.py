"""The calendar over HTTP: `GET /v1/calendar` and `GET /v1/calendar/settle-date` (operator keys), and the
operator's page /console/operator/calendar (status, years, import by pasting the notice's CSV)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from zhifu.api.deps import get_db, json_response, operator_principal
from zhifu.calendar import service
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core.errors import InvalidRequest
from zhifu.db import Database
from zhifu.merchants import Principal
from zhifu.web.vocabulary import N_

router = APIRouter()
api = APIRouter(prefix="/v1", tags=["calendar"])
pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console.csrf_guard)]
)
_operator = console.role("operator")
PAGE = "/console/operator/calendar"
WARNING_CACHE_S = 60.0  # the banner is read on every operator page; the calendar changes a few times a year

console.add_nav("operator", ((PAGE, N_("Working-day calendar")),), after=len(console.NAV["operator"]))


@api.get(
    "/calendar", summary="The covered years, the last day and the warning within 30 days of it (operator)"
)
def calendar_status(p: Principal = Depends(operator_principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        st = service.status(c)
        years = service.year_summary(c)
    return json_response({"object": "calendar", **st.to_dict(), "data": years})


@api.get(
    "/calendar/settle-date", summary="The settlement date of a business date on this calendar (operator)"
)
def calendar_settle_date(
    date: dt.date = Query(..., description="The business date, e.g. 2026-12-31"),
    cycle: str = Query("T+1", max_length=6, description="T+n or D+n"),
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    from zhifu.settlement.calendar import settle_date

    with db.read() as c:
        s = settle_date(date, cycle, service.load(c))
    return json_response(
        {
            "object": "settle_date",
            "business_date": date,
            "cycle": cycle,
            "settle_date": s.date,
            "advanced": s.advanced,
        }
    )


_warning_cache: dict[str, tuple[float, str | None]] = {}


def banner(db: Database) -> str | None:
    """The calendar warning for the operator's pages, read at most once a minute per database."""
    hit = _warning_cache.get(db.url)
    now = time.monotonic()
    if hit is not None and now - hit[0] < WARNING_CACHE_S:
        return hit[1]
    with db.read() as c:
        warning = service.status(c).warning
    _warning_cache[db.url] = (now, warning)
    return warning


def _page(
    request: Request,
    *,
    error: str | None = None,
    done: dict[str, Any] | None = None,
    text: str = "",
    status: int = 200,
) -> Response:
    db: Database = request.app.state.db
    with db.read() as c:
        st = service.status(c)
        years = service.year_summary(c)
    return console.page(
        request,
        "console/calendar.html",
        {"status": st, "years": years, "error": error, "done": done, "text": text},
        status=status,
    )


@pages.get(PAGE)
def calendar_page(request: Request, user: User = Depends(_operator)) -> Response:
    return _page(request)


@pages.post(PAGE)
def calendar_import(request: Request, csv_text: str = Form(""), user: User = Depends(_operator)) -> Response:
    db: Database = request.app.state.db
    try:
        done = db.run(lambda c: service.import_csv(c, csv_text.encode(), filename="console"))
    except InvalidRequest as exc:
        return _page(request, error=exc.message, text=csv_text[: service.IMPORT_BYTES_MAX], status=400)
    _warning_cache.pop(db.url, None)
    return _page(request, done=done)


router.include_router(api)
router.include_router(pages)
