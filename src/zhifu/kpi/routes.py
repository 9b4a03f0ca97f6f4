"""The dashboard over HTTP: `GET /v1/kpi/…` JSON and `POST /v1/submissions` (operator keys), and the regulator's
pages under /console/regulator/kpi (console sessions, role regulator)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from zhifu import audit
from zhifu.api.deps import get_db, json_response, loads, operator_principal, raw_body, run_idempotent
from zhifu.channels import REGISTRY
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core.errors import InvalidRequest, ZhifuError
from zhifu.county import read as county_read
from zhifu.db import Database
from zhifu.kpi import report, service
from zhifu.merchants import Principal
from zhifu.web.i18n import translator
from zhifu.web.templating import request_language
from zhifu.web.vocabulary import N_

router = APIRouter()
api = APIRouter(prefix="/v1", tags=["kpi"])
pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console._csrf_guard)]
)  # noqa: SLF001  (the console's own guard)
_regulator = console._role("regulator")  # noqa: SLF001  (the console's session-and-role dependency)
BASE = "/console/regulator/kpi"
MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}

# The dashboard's pages join the regulator's menu after the console's own first entry.
_ENTRIES = (
    (BASE, N_("Targets and trends")),
    (f"{BASE}/coverage", N_("Coverage")),
    (f"{BASE}/submissions", N_("Issuers' submissions")),
)
if console.NAV.get("regulator") and BASE not in dict(console.NAV["regulator"]):
    nav = console.NAV["regulator"]
    console.NAV["regulator"] = nav[:1] + _ENTRIES + nav[1:]  # type: ignore[index]


def _filters(
    conn: Any,
    start: dt.date | None,
    end: dt.date | None,
    town: str | None,
    institution: str | None,
    channel: str | None,
) -> service.Filters:
    return service.make_filters(
        conn, start=start, end=end, town=town, institution=institution, channel=channel
    )


@dataclasses.dataclass(frozen=True)
class _Scope:
    """The dashboard's filter as a request's query gives it; the routes that take fewer fields leave them None."""

    start: dt.date | None = None
    end: dt.date | None = None
    town: str | None = None
    institution: str | None = None
    channel: str | None = None

    def filters(self, conn: Any) -> service.Filters:
        return _filters(conn, self.start, self.end, self.town, self.institution, self.channel)


def _scope(
    start: dt.date | None = None,
    end: dt.date | None = None,
    town: str | None = None,
    institution: str | None = None,
    channel: str | None = None,
) -> _Scope:
    return _Scope(start, end, town, institution, channel)


def _scope_all_channels(
    start: dt.date | None = None,
    end: dt.date | None = None,
    town: str | None = None,
    institution: str | None = None,
) -> _Scope:
    """For the figures that compare channels (云闪付, the bank-standard share): no channel filter."""
    return _Scope(start, end, town, institution)


# ---------------------------------------------------------------- JSON


def _figures(db: Database, scope: _Scope, figures: Callable[[Any, service.Filters], Any]) -> Response:
    """One of the dashboard's figures over the request's filter, read in a read transaction."""
    with db.read() as c:
        return json_response(figures(c, scope.filters(c)))


@api.get(
    "/kpi/overview", summary="Targets, totals, 云闪付, share, channels, institutions, pilot towns (operator)"
)
def kpi_overview(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    scope: _Scope = Depends(_scope),
) -> Response:
    return _figures(db, scope, service.overview)


@api.get("/kpi/targets", summary="Every target with its value and progress (operator)")
def kpi_targets(
    p: Principal = Depends(operator_principal), db: Database = Depends(get_db), as_of: dt.date | None = None
) -> Response:
    with db.read() as c:
        day = as_of or service.make_filters(c).end
        return json_response({"object": "list", "as_of": day, "data": service.targets(c, day)})


@api.get("/kpi/trend", summary="Count and amount by month with year-over-year growth (operator)")
def kpi_trend(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    scope: _Scope = Depends(_scope),
) -> Response:
    return _figures(db, scope, service.trend)


@api.get("/kpi/unionpay", summary="云闪付 count and amount with year-over-year growth (operator)")
def kpi_unionpay(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    scope: _Scope = Depends(_scope_all_channels),
) -> Response:
    return _figures(db, scope, service.unionpay)


@api.get("/kpi/share", summary="Bank-standard smart pay in all smart pay, by count and amount (operator)")
def kpi_share(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    scope: _Scope = Depends(_scope_all_channels),
) -> Response:
    return _figures(db, scope, service.share)


@api.get("/kpi/active-users", summary="Active mobile-payment users per day (30-day window) (operator)")
def kpi_active(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    scope: _Scope = Depends(_scope),
) -> Response:
    return _figures(db, scope, service.active_series)


@api.get(
    "/kpi/coverage", summary="Merchant coverage by town, urban and rural; one town by village (operator)"
)
def kpi_coverage(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    as_of: dt.date | None = None,
    town: str | None = None,
    village: str | None = None,
    merchants: bool = False,
) -> Response:
    with db.read() as c:
        f = _filters(c, None, as_of, town, None, None)
        doc = service.coverage(c, f.end, town=f.town)
        if merchants:
            if not f.town:
                raise InvalidRequest("merchants are listed for one town: give town", param="town")
            doc["merchants"] = service.coverage_merchants(c, town=f.town, village=village)
        return json_response(doc)


@api.get("/kpi/pilot", summary="The pilot towns' figures (operator)")
def kpi_pilot(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    start: dt.date | None = None,
    end: dt.date | None = None,
    institution: str | None = None,
    channel: str | None = None,
) -> Response:
    with db.read() as c:
        f = _filters(c, start, end, None, institution, channel)
        return json_response({"object": "list", "data": service.pilot(c, f), "circles": service.circles(c)})


@api.get(
    "/kpi/operations", summary="Subsidy spend, settlement timeliness, reconciliation exceptions (operator)"
)
def kpi_operations(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> Response:
    with db.read() as c:
        return json_response(service.operations(c, _filters(c, start, end, None, None, None)))


@api.post("/submissions", summary="Record an issuer's monthly cards issued and app users (operator)")
def create_submission(
    request: Request,
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    body: bytes = Depends(raw_body),
) -> Response:
    def run() -> Any:
        try:
            doc = loads(body)
        except ValueError:
            raise InvalidRequest("the body is not JSON", param="body") from None
        if not isinstance(doc, dict):
            raise InvalidRequest("the body is a JSON object", param="body")
        correction = doc.pop("correction", False)
        if not isinstance(correction, bool):
            raise InvalidRequest("correction is true or false", param="correction")
        return db.run(
            lambda c: service.submit(c, [doc], source="api", submitted_by=p.key_id, correction=correction)
        )[0]

    return run_idempotent(request, p, body, run)


@api.get("/submissions", summary="Issuers' submissions, every version (operator)")
def get_submissions(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    institution: str | None = None,
    month: str | None = None,
    limit: int = Query(100, ge=1, le=500),
) -> Response:
    with db.read() as c:
        return json_response(
            {
                "object": "list",
                "data": service.list_submissions(c, institution=institution, month=month, limit=limit),
            }
        )


@api.get("/kpi/report", summary="The monthly report as xlsx or pdf (operator)")
def kpi_report(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    month: str = Query(...),
    format: Literal["xlsx", "pdf"] = "xlsx",
) -> Response:
    with db.read() as c:
        data = report.render(c, month, format)
    audit.exported(db, "kpi_report", month, {"format": format})
    return Response(
        data,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="zhifu-report-{month}.{format}"'},
    )


# ---------------------------------------------------------------- pages


def _pct(ppm: int | None) -> str:
    return "—" if ppm is None else f"{ppm / 10_000:.1f}%"


def _choices(conn: Any) -> dict[str, Any]:
    return {
        "towns": county_read.towns(conn),
        "institutions": county_read.institutions(conn),
    }


def _opt_date(value: str, param: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{param} must be a date like 2022-06-30", param=param) from None


def _target_view(rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    out = []
    for g in service.target_lines(rows):
        lines = []
        for period in ("2021", "2022", "annual", "pilot"):
            t = g["lines"].get(period)
            if t is None:
                continue
            fmt = _pct if t["unit"] == "ppm" else (lambda v: "—" if v is None else f"{v:,}")
            lines.append(
                {
                    "period": period,
                    "target": fmt(t["target"]),
                    "value": fmt(t["value"]),
                    "progress": _pct(t["progress_ppm"]),
                    "met": t["met"],
                    "missing": t["value"] is None,
                    "bar": min(100, (t["progress_ppm"] or 0) // 10_000),
                    "deadline": t["deadline"],
                }
            )
        out.append(
            {
                "label": g["label_zh"] if lang == "zh" else g["label_en"],
                "institution": g["institution"],
                "lines": lines,
            }
        )
    return out


@pages.get(BASE)
def dashboard(
    request: Request,
    start: str = "",
    end: str = "",
    town: str = "",
    institution: str = "",
    channel: str = "",
    user: User = Depends(_regulator),
) -> Response:
    lang = request_language(request)
    _ = translator(lang).gettext
    db: Database = request.app.state.db
    try:
        with db.read() as c:
            f = _filters(c, _opt_date(start, "start"), _opt_date(end, "end"), town, institution, channel)
            doc = service.overview(c, f)
            active = service.active_series(c, f)
            choices = _choices(c)
            audit_status = audit.status(c)  # the log's latest signed checkpoint and last verification
    except InvalidRequest as exc:
        return console._error_page(request, "server_error", 400, exc.message)  # noqa: SLF001
    up, sh = doc["unionpay"], doc["share"]
    months = [m["month"] for m in up["months"]]
    trend_chart = {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [_("This year"), _("A year earlier"), _("Growth (%)")]},
        "grid": {"left": 56, "right": 56, "bottom": 40},
        "xAxis": {"type": "category", "data": months},
        "yAxis": [{"type": "value", "name": _("Count")}, {"type": "value", "name": "%"}],
        "series": [
            {"name": _("This year"), "type": "bar", "data": [m["count"] for m in up["months"]]},
            {"name": _("A year earlier"), "type": "bar", "data": [m["prior_count"] for m in up["months"]]},
            {
                "name": _("Growth (%)"),
                "type": "line",
                "yAxisIndex": 1,
                "data": [
                    None if m["count_growth_ppm"] is None else m["count_growth_ppm"] / 10_000
                    for m in up["months"]
                ],
            },
        ],
    }
    share_chart = {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [_("By count"), _("By amount")]},
        "grid": {"left": 48, "right": 24, "bottom": 40},
        "xAxis": {"type": "category", "data": [m["month"] for m in sh["months"]]},
        "yAxis": {"type": "value", "max": 100, "name": "%"},
        "series": [
            {
                "name": _("By count"),
                "type": "line",
                "data": [
                    None if m["count_share_ppm"] is None else m["count_share_ppm"] / 10_000
                    for m in sh["months"]
                ],
            },
            {
                "name": _("By amount"),
                "type": "line",
                "data": [
                    None if m["amount_share_ppm"] is None else m["amount_share_ppm"] / 10_000
                    for m in sh["months"]
                ],
            },
        ],
    }
    active_chart = {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 56, "right": 24, "bottom": 40},
        "xAxis": {"type": "category", "data": [d["day"].isoformat() for d in active["days"]]},
        "yAxis": {"type": "value"},
        "series": [
            {
                "name": _("Active users"),
                "type": "line",
                "showSymbol": False,
                "data": [d["users"] for d in active["days"]],
            }
        ],
    }
    ops = doc["operations"]
    ctx = {
        "doc": doc,
        "f": f,
        "filters": dataclasses.asdict(f),
        "targets": _target_view(doc["targets"], lang),
        "pct": _pct,
        "trend_chart": trend_chart,
        "share_chart": share_chart,
        "active_chart": active_chart,
        "active": active,
        "ops": ops,
        "channel_names": {n: (r.label_zh if lang == "zh" else r.label_en) for n, r in REGISTRY.items()},
        "charts": True,
        "report_month": f.end.strftime("%Y-%m"),
        "audit": audit_status,
        **choices,
    }
    return console._page(request, "kpi/dashboard.html", ctx, active=BASE)  # noqa: SLF001


@pages.get(f"{BASE}/coverage")
def coverage_page(
    request: Request, as_of: str = "", town: str = "", village: str = "", user: User = Depends(_regulator)
) -> Response:
    lang = request_language(request)
    _ = translator(lang).gettext
    db: Database = request.app.state.db
    try:
        with db.read() as c:
            f = _filters(c, None, _opt_date(as_of, "as_of"), town, None, None)
            county = service.coverage(c, f.end)
            detail = service.coverage(c, f.end, town=f.town) if f.town else None
            shops = service.coverage_merchants(c, town=f.town, village=village or None) if f.town else []
            vnames = county_read.village_names(c)
    except InvalidRequest as exc:
        return console._error_page(request, "server_error", 400, exc.message)  # noqa: SLF001
    rows = county["towns"]
    chart = {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 96, "right": 32, "bottom": 32},
        "xAxis": {"type": "value", "max": 100, "name": "%"},
        "yAxis": {"type": "category", "data": [r["name"] for r in rows]},
        "series": [
            {"name": _("Coverage"), "type": "bar", "data": [(r["coverage_ppm"] or 0) / 10_000 for r in rows]}
        ],
    }
    town_name = next((r["name"] for r in rows if r["town_code"] == f.town), "")
    return console._page(
        request,
        "kpi/coverage.html",
        {  # noqa: SLF001
            "county": county,
            "detail": detail,
            "shops": shops,
            "town": f.town or "",
            "town_name": town_name,
            "village": village,
            "village_names": vnames,
            "as_of": f.end,
            "pct": _pct,
            "chart": chart,
            "charts": True,
            "base": f"{BASE}/coverage",
        },
        active=f"{BASE}/coverage",
    )


@pages.get(f"{BASE}/report")
def report_download(
    request: Request, month: str = "", format: str = "xlsx", user: User = Depends(_regulator)
) -> Response:
    db: Database = request.app.state.db
    try:
        with db.read() as c:
            data = report.render(c, month, format)
    except InvalidRequest as exc:
        return console._error_page(request, "server_error", 400, exc.message)  # noqa: SLF001
    audit.exported(db, "kpi_report", month, {"format": format})
    return Response(
        data,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="zhifu-report-{month}.{format}"'},
    )


def _submissions_page(
    request: Request, *, error: str | None = None, done: int | None = None, text: str = ""
) -> Response:
    db: Database = request.app.state.db
    with db.read() as c:
        rows = service.list_submissions(c, limit=200)
    return console._page(
        request,
        "kpi/submissions.html",
        {  # noqa: SLF001
            "rows": rows,
            "error": error,
            "done": done,
            "text": text,
            "action": f"{BASE}/submissions",
        },
        status=400 if error else 200,
        active=f"{BASE}/submissions",
    )


@pages.get(f"{BASE}/submissions")
def submissions_page(request: Request, user: User = Depends(_regulator)) -> Response:
    return _submissions_page(request)


@pages.post(f"{BASE}/submissions")
def submissions_upload(
    request: Request, csv_text: str = Form(""), correction: str = Form(""), user: User = Depends(_regulator)
) -> Response:
    db: Database = request.app.state.db
    try:
        rows, lines = service.parse_csv(csv_text.encode("utf-8"))
        done = db.run(
            lambda c: service.submit(
                c, rows, source="csv", submitted_by=user.username, correction=bool(correction), lines=lines
            )
        )
    except ZhifuError as exc:
        return _submissions_page(request, error=exc.message, text=csv_text)
    return _submissions_page(request, done=len(done))


router.include_router(api)
router.include_router(pages)
