"""Error types with stable codes; the API renders them as {"error": {type, code, message, param}}."""

from __future__ import annotations


class ZhifuError(Exception):
    """Base of every error Zhifu raises on purpose. `code` is stable; `message` is for people."""

    type: str = "api_error"
    code: str = "internal_error"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param

    def to_dict(self) -> dict[str, str | None]:
        return {"type": self.type, "code": self.code, "message": self.message, "param": self.param}


class InvalidRequest(ZhifuError):
    type = "invalid_request_error"
    code = "invalid_request"
    http_status = 400


class NotFound(ZhifuError):
    type = "invalid_request_error"
    code = "resource_missing"
    http_status = 404


class PermissionDenied(ZhifuError):
    type = "authentication_error"
    code = "permission_denied"
    http_status = 403


class Unauthenticated(ZhifuError):
    type = "authentication_error"
    code = "unauthenticated"
    http_status = 401


class ConflictError(ZhifuError):
    type = "invalid_request_error"
    code = "conflict"
    http_status = 409


class UnprocessableError(ZhifuError):
    type = "invalid_request_error"
    code = "unprocessable"
    http_status = 422


class MoneyError(InvalidRequest):
    code = "invalid_amount"
