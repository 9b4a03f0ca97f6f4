"""Class II and III personal account limits (银发〔2016〕302号, 〔2018〕16号) as configuration, and the pure rule
that checks one movement against them. Days and years are Beijing days and years: the year's counter starts
again at 00:00 on 1 January Asia/Shanghai.

Counted out: spending at merchants and transfers out to the bound card. Counted in: money from accounts that
are not the bound card (a buyer's payout). A top-up from the bound Class I card is not limited for Class II; for
Class III only the balance cap applies to it."""

from __future__ import annotations

import dataclasses
import datetime as dt

from pydantic_settings import BaseSettings, SettingsConfigDict

from zhifu.core.clock import SHANGHAI
from zhifu.core.money import fen_to_yuan_str


class RuralSettings(BaseSettings):
    """ZHIFU_RURAL_* overrides the regulation's figures (in fen) where a bank's own policy is stricter."""

    model_config = SettingsConfigDict(env_prefix="ZHIFU_RURAL_", extra="ignore")

    class2_out_day_fen: int = 1_000_000  # 10,000 yuan a day of spending and transfers out
    class2_out_year_fen: int = 20_000_000  # 200,000 yuan a year
    class2_in_day_fen: int = 1_000_000  # deposits from unbound accounts: 10,000 a day
    class2_in_year_fen: int = 20_000_000  # and 200,000 a year
    class3_balance_max_fen: int = 200_000  # 2,000 yuan
    class3_out_day_fen: int = 200_000  # 2,000 yuan a day
    class3_out_year_fen: int = 5_000_000  # 50,000 yuan a year


@dataclasses.dataclass(frozen=True, slots=True)
class ClassLimits:
    out_day_fen: int
    out_year_fen: int
    in_day_fen: int | None
    in_year_fen: int | None
    balance_max_fen: int | None


def limits_for(account_class: str, settings: RuralSettings | None = None) -> ClassLimits:
    s = settings or RuralSettings()
    if account_class == "II":
        return ClassLimits(
            s.class2_out_day_fen, s.class2_out_year_fen, s.class2_in_day_fen, s.class2_in_year_fen, None
        )
    if account_class == "III":
        return ClassLimits(s.class3_out_day_fen, s.class3_out_year_fen, None, None, s.class3_balance_max_fen)
    raise ValueError(f"no such account class {account_class!r}")


def periods(at: dt.datetime) -> tuple[str, str]:
    """The counters a movement at `at` adds to: its Beijing day and its Beijing year."""
    local = at.astimezone(SHANGHAI)
    return f"d{local:%Y-%m-%d}", f"y{local:%Y}"


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    code: str  # day_limit_exceeded | year_limit_exceeded | balance_limit_exceeded | insufficient_funds
    message: str


def check(
    limits: ClassLimits,
    *,
    direction: str,
    amount_fen: int,
    balance_fen: int,
    day_used_fen: int,
    year_used_fen: int,
    from_bound_card: bool = False,
) -> Refusal | None:
    """Whether a movement of `amount_fen` may happen now; the refusal names the limit it would break."""
    if amount_fen <= 0:
        raise ValueError("amount_fen must be positive")
    if direction == "out":
        if amount_fen > balance_fen:
            return Refusal(
                "insufficient_funds", f"余额不足 / insufficient funds: balance {fen_to_yuan_str(balance_fen)}"
            )
        day_max, year_max = limits.out_day_fen, limits.out_year_fen
    elif direction == "in":
        if limits.balance_max_fen is not None and balance_fen + amount_fen > limits.balance_max_fen:
            return Refusal(
                "balance_limit_exceeded",
                f"超出账户余额上限 {fen_to_yuan_str(limits.balance_max_fen)} 元 / the balance may not exceed "
                f"{fen_to_yuan_str(limits.balance_max_fen)} yuan",
            )
        if from_bound_card or limits.in_day_fen is None or limits.in_year_fen is None:
            return None
        day_max, year_max = limits.in_day_fen, limits.in_year_fen
    else:
        raise ValueError(f"direction is in or out, not {direction!r}")
    if day_used_fen + amount_fen > day_max:
        return Refusal(
            "day_limit_exceeded",
            f"超出日累计限额 {fen_to_yuan_str(day_max)} 元 / over the daily limit of "
            f"{fen_to_yuan_str(day_max)} yuan (used {fen_to_yuan_str(day_used_fen)})",
        )
    if year_used_fen + amount_fen > year_max:
        return Refusal(
            "year_limit_exceeded",
            f"超出年累计限额 {fen_to_yuan_str(year_max)} 元 / over the yearly limit "
            f"of {fen_to_yuan_str(year_max)} yuan (used {fen_to_yuan_str(year_used_fen)})",
        )
    return None
