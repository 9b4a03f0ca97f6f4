"""No built-in secret: `zhifu serve` refuses to start without one unless the simulator is switched on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zhifu.core.config import SIMULATOR_SECRET, SecretMissing, check_secret_for_serving, get_settings, secret


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for name in ("ZHIFU_SECRET_KEY", "ZHIFU_SECRET_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZHIFU_SIMULATOR", "0")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_serve_refuses_without_a_secret_and_says_how_to_make_one(env: pytest.MonkeyPatch) -> None:
    from zhifu.cli import app

    r = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert r.exit_code == 1
    assert "zhifu keys new-secret" in r.output and "ZHIFU_SECRET_KEY_FILE" in r.output
    with pytest.raises(SecretMissing):
        secret()


def test_the_simulators_key_and_short_keys_are_refused_outside_the_simulator(env: pytest.MonkeyPatch) -> None:
    env.setenv("ZHIFU_SECRET_KEY", SIMULATOR_SECRET)
    get_settings.cache_clear()
    with pytest.raises(SecretMissing, match="simulator"):
        check_secret_for_serving()
    env.setenv("ZHIFU_SECRET_KEY", "short")
    get_settings.cache_clear()
    with pytest.raises(SecretMissing, match="shorter"):
        check_secret_for_serving()


def test_the_simulator_runs_on_its_built_in_key(env: pytest.MonkeyPatch) -> None:
    env.setenv("ZHIFU_SIMULATOR", "1")
    get_settings.cache_clear()
    assert secret() == SIMULATOR_SECRET
    check_secret_for_serving()


def test_a_key_file_must_be_owner_only(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from zhifu.cli import app

    key = CliRunner().invoke(app, ["keys", "new-secret"]).output.strip()
    assert len(key) >= 43
    path = tmp_path / "secret"
    path.write_text(key + "\n")
    os.chmod(path, 0o644)
    env.setenv("ZHIFU_SECRET_KEY_FILE", str(path))
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="chmod 600"):
        get_settings()
    os.chmod(path, 0o600)
    get_settings.cache_clear()
    assert secret() == key
    check_secret_for_serving()
