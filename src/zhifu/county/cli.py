"""`zhifu county …`: load a county profile into the database and show what is loaded."""

from __future__ import annotations

import typer
from rich.table import Table

from zhifu.cli import console, database, fail, working

NAME = "county"
app = typer.Typer(no_args_is_help=True, help="The county a database serves: its profile and coverage.")


@app.command("load")
def load(
    profile: str = typer.Argument(..., help="A packaged profile (yiyuan, demo_small) or a YAML path."),
    replace: bool = typer.Option(False, "--replace", help="Replace another county already loaded."),
) -> None:
    """Validate a profile and store its towns, villages, institutions, billers, circles and targets."""
    from zhifu.core.errors import ZhifuError
    from zhifu.county import load_profile
    from zhifu.county.service import load_county

    try:
        p = load_profile(profile)  # validated before anything is written
        with working(f"载入县域 / loading {p.name_en}"), database().tx() as conn:
            counts = load_county(conn, p, source=profile, replace=replace)
    except ZhifuError as exc:
        fail(f"{exc.param or 'profile'}: {exc.message}")
        return
    console.print(f"载入 {p.name} / loaded {p.name_en}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command("list")
def list_profiles() -> None:
    """The profiles shipped with the package."""
    from zhifu.county import available_profiles, load_profile

    t = Table("id", "county", "towns", "population", "registered businesses")
    for name in available_profiles():
        p = load_profile(name)
        t.add_row(name, p.name, str(len(p.towns)), f"{p.population:,}", f"{p.registered_businesses:,}")
    console.print(t)


@app.command("coverage")
def show_coverage() -> None:
    """Registered businesses and those accepting smart pay, per town."""
    from zhifu.county.service import coverage, loaded_county

    with database().tx() as conn:
        if loaded_county(conn) is None:
            fail("no county loaded: run `zhifu county load PROFILE` first")
            return
        rows = coverage(conn)
    t = Table("town", "area", "registered", "covered", "coverage")
    for r in rows:
        t.add_row(
            r["name"] + (" (pilot)" if r["pilot"] else ""),
            r["area_type"],
            str(r["registered"]),
            str(r["covered"]),
            f"{r['coverage_ppm'] / 10_000:.1f} %",
        )
    console.print(t)
