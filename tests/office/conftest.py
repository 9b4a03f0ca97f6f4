"""A platform with the office's people: the office (a regulator with no unit recorded, so the host unit), a
member unit (县商务局), a lender's operator, and merchants in 石桥镇 and 南麻街道."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher

from zhifu.console import service as console
from zhifu.office import Actor, ensure_loaded

PASSWORD = "correct horse battery"
SHIQIAO = "370323109"
NANMA = "370323002"


@dataclass
class World:
    platform: Any
    office: Actor
    commerce: Actor
    shiqiao: str
    shiqiao_headers: dict[str, str]
    nanma: str
    users: dict[str, str]

    @property
    def db(self) -> Any:
        return self.platform.db


@pytest.fixture
def world(platform: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from zhifu.office import service

    monkeypatch.setattr(console, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    ensure_loaded(platform.db)
    shiqiao, sh = platform.merchant(
        town_code=SHIQIAO,
        short_name="石桥小超市",
        legal_name="沂源县石桥镇王记超市",
        address="石桥镇中心街 12 号",
    )
    nanma, _ = platform.merchant()
    with platform.db.tx() as c:
        users = {}
        for name, role, extra in (
            ("pboc", "regulator", {}),
            ("commerce", "regulator", {}),
            ("op-rcb", "operator", {"institution_id": "yiyuan_rcb"}),
            ("shop", "merchant", {"merchant_id": shiqiao}),
        ):
            users[name] = console.create_user(c, name, role, PASSWORD, **extra).id
        service.set_member(c, users["commerce"], "commerce_bureau")
    with platform.db.read() as c:
        office = service.actor_for(
            c, console.User(users["pboc"], "pboc", "regulator", None, None, None, "pboc")
        )
        commerce = service.actor_for(
            c, console.User(users["commerce"], "commerce", "regulator", None, None, None, "commerce")
        )
    yield World(platform, office, commerce, shiqiao, sh, nanma, users)
