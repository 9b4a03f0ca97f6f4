"""Words the whole console shares, marked with N_ so extraction keeps them in the catalogue."""

from __future__ import annotations

from typing import Final

from zhifu.core.messages import N_

# Payment, refund, code, settlement, reconciliation and merchant statuses as the console shows them.
STATUS_LABELS: Final[dict[str, str]] = {
    "pending": N_("Pending"),
    "processing": N_("Processing"),
    "succeeded": N_("Succeeded"),
    "failed": N_("Failed"),
    "closed": N_("Closed"),
    "expired": N_("Expired"),
    "refunded": N_("Refunded"),
    "partially_refunded": N_("Partially refunded"),
    "revoked": N_("Revoked"),
    "active": N_("Active"),
    "suspended": N_("Suspended"),
    "under_review": N_("Under review"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "settled": N_("Settled"),
    "unsettled": N_("Unsettled"),
    "matched": N_("Matched"),
    "mismatched": N_("Mismatched"),
    "pending_review": N_("Pending review"),
    "changes_requested": N_("Changes requested"),
    "terminated": N_("Terminated"),
}

# Sections of the console, keyed the way routes and nav_items name them.
NAV_LABELS: Final[dict[str, str]] = {
    "home": N_("Home"),
    "dashboard": N_("Dashboard"),
    "merchants": N_("Merchants"),
    "payments": N_("Payments"),
    "refunds": N_("Refunds"),
    "settlements": N_("Settlements"),
    "statements": N_("Statements"),
    "reconciliation": N_("Reconciliation"),
    "campaigns": N_("Campaigns"),
    "bills": N_("Bills"),
    "complaints": N_("Complaints"),
    "risk": N_("Risk alerts"),
    "targets": N_("Targets"),
    "reports": N_("Reports"),
    "work_items": N_("Work items"),
    "users": N_("Users"),
    "settings": N_("Settings"),
}

# Error pages by code: (title, message). Codes a consumer meets after scanning come first.
ERROR_TEXTS: Final[dict[str, tuple[str, str]]] = {
    "code_expired": (N_("This code has expired"), N_("Ask the shop to show a new payment code.")),
    "code_revoked": (
        N_("This code is no longer in use"),
        N_("The shop has stopped using this code. Ask the shop for its current one."),
    ),
    "code_unknown": (
        N_("Unknown code"),
        N_("This is not a payment code we know. Check that you scanned the right one."),
    ),
    "not_found": (N_("Page not found"), N_("The page you asked for does not exist.")),
    "forbidden": (N_("Not allowed"), N_("Your account cannot open this page.")),
    "session_expired": (N_("Please log in again"), N_("Your session has ended.")),
    "csrf_failed": (N_("This form has expired"), N_("Reload the page and try again.")),
    "rate_limited": (N_("Too many requests"), N_("Please wait a moment and try again.")),
    "bad_request": (N_("Please check what you entered"), N_("Part of the request is not right.")),
    "server_error": (
        N_("Something went wrong"),
        N_("Please try again in a moment. If it keeps happening, contact your bank."),
    ),
}

# Everyday words of tables, forms and pages.
WORDS: Final[tuple[str, ...]] = (
    N_("Login"),
    N_("Logout"),
    N_("Merchant"),
    N_("Payment"),
    N_("Refund"),
    N_("Settlement"),
    N_("Today's takings"),
    N_("Amount"),
    N_("Status"),
    N_("Time"),
    N_("Date"),
    N_("Order number"),
    N_("Payment method"),
    N_("Fee"),
    N_("Net amount"),
    N_("Total"),
    N_("Count"),
    N_("Town"),
    N_("Progress"),
    N_("Details"),
    N_("Search"),
    N_("Save"),
    N_("Cancel"),
    N_("Confirm"),
    N_("Submit"),
    N_("Export"),
    N_("Download"),
    N_("Previous page"),
    N_("Next page"),
    N_("No records"),
    N_("Loading…"),
    N_("Required"),
    N_("Yes"),
    N_("No"),
    N_("Wrong username or password."),
    N_("Turn on voice announcements"),
    N_("Received %(amount)s yuan"),
)
