"""Rules of payment codes and the cashier, configurable from the environment (ZHIFU_*)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class CodesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIFU_", extra="ignore")

    # PBOC 条码支付业务规范 (银发〔2017〕296号): a static code (level D) takes at most 500 yuan per payer per day.
    static_code_payer_daily_limit_fen: int = 50_000
    # 银发〔2021〕259号: personal (micro) static codes may not collect remotely.
    micro_static_remote_allowed: bool = False
    dynamic_code_expires_in_s: int = 300  # default life of a dynamic code
    cashier_page_ttl_s: int = 1800  # a cashier page older than this must be reloaded before paying


@lru_cache(maxsize=1)
def codes_settings() -> CodesSettings:
    return CodesSettings()
