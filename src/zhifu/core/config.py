"""Settings from the environment (ZHIFU_*), with safe defaults for the embedded SQLite set-up.

The secret key has no default: it comes from ZHIFU_SECRET_KEY or a file named by ZHIFU_SECRET_KEY_FILE. Only the
simulator (ZHIFU_SIMULATOR=1: tests and `make demo`) runs on a built-in key, which protects nothing.
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from zhifu.core.errors import ZhifuError
from zhifu.core.money import PAYMENT_FEN_MAX

SECRET_CHARS_MIN = 32  # 32 random URL-safe characters carry about 190 bits
SIMULATOR_SECRET = "simulator-only-not-a-secret-0123456789"  # public by design: the simulator's data is fake
HOW_TO_MAKE_A_SECRET = (
    "make one with `zhifu keys new-secret > /etc/zhifu/secret && chmod 600 /etc/zhifu/secret` and set "
    "ZHIFU_SECRET_KEY_FILE=/etc/zhifu/secret (or put it in ZHIFU_SECRET_KEY); keep it with the database's backups, "
    "without it the personal data cannot be read. For a demo, ZHIFU_SIMULATOR=1 runs on a built-in key"
)


class SecretMissing(ZhifuError):
    code = "secret_missing"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIFU_", extra="ignore")

    database_url: str = "sqlite:///./zhifu.db"
    max_payment_fen: int = PAYMENT_FEN_MAX
    flat_fee_ppm: int = 3_800  # 0.38 %: the fee until a fee plan applies
    public_base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""  # no default: see the module's docstring
    secret_key_file: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    simulator: bool = (
        False  # ZHIFU_SIMULATOR=1: the payer's /sim routes and the fake rails; never in production
    )
    rails_config: str = "./.zhifu-rails/rails.json"  # base URLs, ids and key files of the rails, per family
    rail_timeout_s: float = 5.0  # one call to a rail; past it the outcome is unknown and the sweeper asks
    county_profile: str = "yiyuan"
    micro_daily_cap_fen: int = 1_000_000  # 10,000 yuan a day for a micro merchant unless set per merchant
    micro_monthly_cap_fen: int = 10_000_000  # 100,000 yuan a month
    sweeper_interval_s: float = 5.0
    webhook_dispatch_interval_s: float = 1.0
    webhook_allow_private: bool = (
        False  # ZHIFU_WEBHOOK_ALLOW_PRIVATE=1: endpoints on loopback/private addresses
    )

    @model_validator(mode="after")
    def _resolve_secret(self) -> Settings:
        if not self.secret_key and self.secret_key_file:
            self.secret_key = _read_secret_file(Path(self.secret_key_file))
        if not self.secret_key and self.simulator:
            self.secret_key = SIMULATOR_SECRET
        return self


def _read_secret_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"ZHIFU_SECRET_KEY_FILE {path}: {exc.strerror}") from exc
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"ZHIFU_SECRET_KEY_FILE {path} is readable by others: chmod 600 {path}")
    return text


def secret() -> str:
    """The secret key, or SecretMissing saying how to make one."""
    s = get_settings()
    if not s.secret_key:
        raise SecretMissing(
            f"ZHIFU_SECRET_KEY 未设置，拒绝使用内置密钥 / no secret key: {HOW_TO_MAKE_A_SECRET}"
        )
    return s.secret_key


def check_secret_for_serving() -> None:
    """What `zhifu serve` checks before it starts: a real secret, unless the simulator is switched on."""
    s = get_settings()
    key = secret()
    if s.simulator:
        return
    if key == SIMULATOR_SECRET:
        raise SecretMissing("ZHIFU_SECRET_KEY is the simulator's public key; " + HOW_TO_MAKE_A_SECRET)
    if len(key) < SECRET_CHARS_MIN:
        raise SecretMissing(
            f"ZHIFU_SECRET_KEY is shorter than {SECRET_CHARS_MIN} characters; " + HOW_TO_MAKE_A_SECRET
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
