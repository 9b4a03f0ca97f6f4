"""Load a county profile from the packaged YAML profiles or a path; every failure is an InvalidRequest."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from zhifu.core.errors import InvalidRequest
from zhifu.county.models import CountyProfile

_PROFILE_BYTES_MAX = 5_000_000  # a county profile is reference data, not a data dump
_ERRORS_SHOWN_MAX = 5


def available_profiles() -> list[str]:
    """Names of the profiles shipped with the package."""
    folder = resources.files("zhifu.county").joinpath("profiles")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read(name_or_path: str | Path) -> tuple[str, str]:
    text_name = str(name_or_path)
    is_path = isinstance(name_or_path, Path) or "/" in text_name or text_name.endswith((".yaml", ".yml"))
    if not is_path:
        if text_name not in available_profiles():
            raise InvalidRequest(
                f"未知的县域配置 {text_name!r} / unknown county profile {text_name!r}; available: "
                + ", ".join(available_profiles()),
                param="profile",
                code="unknown_profile",
            )
        res = resources.files("zhifu.county").joinpath("profiles", f"{text_name}.yaml")
        return text_name, res.read_text(encoding="utf-8")
    path = Path(name_or_path)
    if not path.is_file():
        raise InvalidRequest(f"县域配置文件不存在 / profile file not found: {path}", param="profile")
    if path.stat().st_size > _PROFILE_BYTES_MAX:
        raise InvalidRequest(f"profile file is over {_PROFILE_BYTES_MAX} bytes: {path}", param="profile")
    return str(path), path.read_text(encoding="utf-8")


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def load_profile(name_or_path: str | Path) -> CountyProfile:
    """A validated profile: a bare name ("yiyuan") from the package, or a path to a YAML file."""
    source, text = _read(name_or_path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidRequest(
            f"县域配置不是有效的 YAML / {source} is not valid YAML: {exc}", param="profile"
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"{source}: a profile is a YAML mapping", param="profile")
    try:
        return CountyProfile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        paths = [str(e.get("ctx", {}).get("path") or _loc(e["loc"])) for e in errors]
        lines = [
            e["msg"] if e["type"] == "profile_reference" else f"{path}: {e['msg']}"
            for path, e in zip(paths, errors, strict=True)
        ]
        shown = "; ".join(lines[:_ERRORS_SHOWN_MAX])
        more = f" (+{len(lines) - _ERRORS_SHOWN_MAX} more)" if len(lines) > _ERRORS_SHOWN_MAX else ""
        raise InvalidRequest(
            f"县域配置校验失败 / profile {source} is invalid: {shown}{more}",
            param=paths[0],
            code="invalid_profile",
        ) from None
