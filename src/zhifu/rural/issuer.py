"""The issuer's answers a rural bank's core gives about a Class I card: whether it is open and whether it belongs
to the person who says so. One interface; a real bank replaces the simulated one with a call to its core.

The simulated issuer: a card is a 16–19 digit number starting 62 with a valid Luhn check digit; one ending 0000
is closed (a payout to it is returned); one ending 1111 belongs to someone else."""

from __future__ import annotations

from typing import Protocol

from zhifu.reference.validation import luhn_complete as luhn_complete
from zhifu.reference.validation import luhn_ok


class Issuer(Protocol):
    def card_problem(self, card_no: str) -> str | None:
        """None when the card can take money; otherwise why not (Chinese / English)."""
        ...

    def holder_problem(self, card_no: str, id_no: str, name: str, phone: str) -> str | None:
        """None when the card is open and in this person's name with this phone; otherwise why not."""
        ...

    def card_open_by_mask(self, card_masked: str) -> bool:
        """Whether a card known only by its mask (first 6, last 4) is open: the bulk path's question."""
        ...


class SimulatedIssuer:
    def card_problem(self, card_no: str) -> str | None:
        if not (card_no.isdigit() and 16 <= len(card_no) <= 19 and card_no.startswith("62")):
            return "卡号格式错误 / not a bank card number (16–19 digits from 62)"
        if not luhn_ok(card_no):
            return "卡号校验位错误 / the card number's check digit is wrong"
        if card_no.endswith("0000"):
            return "卡片已销户 / the card is closed"
        return None

    def holder_problem(self, card_no: str, id_no: str, name: str, phone: str) -> str | None:
        problem = self.card_problem(card_no)
        if problem:
            return problem
        if card_no.endswith("1111"):
            return "卡片户名与身份信息不符 / the card is not in this person's name"
        return None

    def card_open_by_mask(self, card_masked: str) -> bool:
        return not card_masked.endswith("0000")


_issuer: Issuer = SimulatedIssuer()


def issuer() -> Issuer:
    return _issuer


def use_issuer(i: Issuer) -> None:
    """Replace the simulated issuer (a bank's core connector)."""
    global _issuer
    _issuer = i
