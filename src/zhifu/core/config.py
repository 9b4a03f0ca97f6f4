"""Settings from the environment (ZHIFU_*), with safe defaults for the embedded SQLite set-up."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

from zhifu.core.money import MAX_PAYMENT_FEN


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIFU_", extra="ignore")

    database_url: str = "sqlite:///./zhifu.db"
    max_payment_fen: int = MAX_PAYMENT_FEN
    flat_fee_ppm: int = 3_800  # 0.38 %: the fee until a fee plan applies
    public_base_url: str = "http://127.0.0.1:8000"
    secret_key: str = "dev-only-change-me"  # signs sessions and derives the privacy key in development
    host: str = "127.0.0.1"
    port: int = 8000
    payment_expires_in_s: int = 900
    sim_notify_delay_ms: int = 0
    simulator: bool = False  # ZHIFU_SIMULATOR=1: the payer's /sim routes and the fake rails; never in production
    rails_config: str = "./.zhifu-rails/rails.json"  # base URLs, ids and key files of the rails, per family
    rail_timeout_s: float = 5.0  # one call to a rail; past it the outcome is unknown and the sweeper asks
    county_profile: str = "yiyuan"
    micro_daily_cap_fen: int = 1_000_000  # 10,000 yuan a day for a micro merchant unless set per merchant
    micro_monthly_cap_fen: int = 10_000_000  # 100,000 yuan a month
    sweeper_interval_s: float = 5.0
    webhook_dispatch_interval_s: float = 1.0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
