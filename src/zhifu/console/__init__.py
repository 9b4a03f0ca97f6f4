"""The console: people's logins, roles and sessions, and the pages merchants, operators and the regulator use."""

from zhifu.console.service import (
    ROLES,
    LoginThrottled,
    Session,
    User,
    create_user,
    login,
    logout,
    session_user,
)

__all__ = ["ROLES", "LoginThrottled", "Session", "User", "create_user", "login", "logout", "session_user"]
