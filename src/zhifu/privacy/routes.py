"""查看完整个人信息 / Reading personal data in full, audited: `GET /v1/merchants/{id}/personal-data` for operator
keys, and the operator's form on a merchant's console page. Everyone else sees masks."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from zhifu.api.deps import get_db, json_response, operator_principal
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core.errors import ZhifuError
from zhifu.db import Database
from zhifu.merchants import Principal, personal

router = APIRouter()
api = APIRouter(prefix="/v1", tags=["privacy"])
pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console.csrf_guard)]
)
_operator = console.role("operator")
FIELD_LABELS = {
    "legal_person_name": "法定代表人姓名 / legal representative's name",
    "legal_person_id": "法定代表人身份证号 / legal representative's ID number",
    "phone": "联系电话 / phone",
    "settle_account_no": "结算账号 / settlement account number",
}


@api.get(
    "/merchants/{merchant_id}/personal-data",
    summary="One personal field of a merchant in full, with a reason; the read is audited (operator)",
)
def personal_data(
    merchant_id: str,
    field: str = Query(..., max_length=32),
    reason: str = Query(..., max_length=personal.REASON_CHARS_MAX),
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    doc = db.run(lambda c: personal.reveal(c, merchant_id, field, reason, role=p.role))
    response = json_response(doc)
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.post("/console/operator/merchants/{merchant_id}/personal-data")
def reveal_page(
    request: Request,
    merchant_id: str,
    field: str = Form(""),
    reason: str = Form(""),
    user: User = Depends(_operator),
) -> Response:
    back = f"/console/operator/merchants/{merchant_id}"
    ctx = {
        "back": back,
        "merchant_id": merchant_id,
        "field": field,
        "reason": reason[:200],
        "doc": None,
        "error": None,
    }
    try:
        doc = request.app.state.db.run(
            lambda c: personal.reveal(
                c, merchant_id[:32], field, reason, role=user.role, acquirer_id=user.institution_id
            )
        )
    except ZhifuError as exc:
        if exc.http_status == 404:
            raise
        return console.page(
            request,
            "privacy/reveal.html",
            {**ctx, "error": exc.message, "error_field": exc.param},
            status=exc.http_status,
            active="/console/operator",
        )
    response = console.page(
        request,
        "privacy/reveal.html",
        {**ctx, "doc": doc, "label": FIELD_LABELS[doc["field"]]},
        active="/console/operator",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


router.include_router(api)
router.include_router(pages)
