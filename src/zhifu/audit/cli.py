"""`zhifu audit integrate|verify|prove|consistency|check|checkpoint|public-key|rotate-key|log`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from zhifu.cli import console, database, fail
from zhifu.core.errors import ZhifuError

NAME = "audit"
app = typer.Typer(
    no_args_is_help=True,
    help="审计日志 / Audit log: SM3 Merkle tree, SM2-signed checkpoints, proofs and verification.",
)


def _out(doc: dict, path: Path | None) -> None:
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    if path is None:
        typer.echo(text)
    else:
        path.write_text(text + "\n", encoding="utf-8")
        console.print(f"wrote {path}")


@app.command("integrate")
def integrate_cmd(keep: bool = typer.Option(False, "--keep", help="Keep this checkpoint for good.")) -> None:
    """Sequence queued entries into the tree and sign a checkpoint (zhifu serve does this every half second)."""
    from zhifu.audit import integrate_db, latest_checkpoint

    db = database()
    size = integrate_db(db, force_keep=keep)
    with db.read() as c:
        cp = latest_checkpoint(c)
    console.print(f"tree size {size}")
    if cp is not None:
        typer.echo(cp.text())


@app.command("verify")
def verify_cmd(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Recompute the whole tree from the entries (fsck): every leaf, tile, checkpoint root and signature.
    Exits 1 and names the first bad entry if anything was edited, deleted, inserted or reordered."""
    from zhifu.audit import verify_db

    rep = verify_db(database(), progress=lambda n: console.print(f"… {n:,} entries", style="dim"))
    if as_json:
        typer.echo(json.dumps(rep.to_dict(), ensure_ascii=False, default=str))
    elif rep.ok:
        console.print(
            f"审计日志完好 / audit log OK: {rep.entries:,} entries, {rep.checkpoints} kept checkpoints, "
            f"{rep.signatures} signatures verified, {rep.queued} waiting, in {rep.seconds:.2f} s"
        )
    else:
        for p in rep.problems:
            console.print(f"[red]✗[/red] {p}")
        console.print(
            f"审计日志被篡改 / audit log TAMPERED: first bad entry {rep.first_bad}, "
            f"{rep.problems_total} problems"
        )
    if not rep.ok:
        raise typer.Exit(1)


@app.command("prove")
def prove_cmd(
    index: int = typer.Argument(..., help="The entry's leaf index."),
    size: int = typer.Option(None, "--size", help="A kept checkpoint's size (default: the latest)."),
    out: Path = typer.Option(None, "--out", help="Write the proof bundle here instead of printing it."),
) -> None:
    """Print an inclusion proof of an entry against a signed checkpoint, for `zhifu audit check`."""
    from zhifu.audit import prove

    try:
        with database().read() as c:
            doc = prove(c, index, size=size)
    except ZhifuError as exc:
        fail(f"index: {exc.message}")
        return
    _out(doc, out)


@app.command("consistency")
def consistency_cmd(
    old: int = typer.Argument(..., help="The older checkpoint's size."),
    new: int = typer.Argument(None, help="The newer checkpoint's size (default: the latest)."),
    out: Path = typer.Option(None, "--out"),
) -> None:
    """Print a consistency proof: the newer signed tree extends the older one."""
    from zhifu.audit import prove_consistency

    try:
        with database().read() as c:
            doc = prove_consistency(c, old, new)
    except ZhifuError as exc:
        fail(f"{exc.param or 'old'}: {exc.message}")
        return
    _out(doc, out)


@app.command("check")
def check_cmd(
    bundle: Path = typer.Argument(..., help="A proof bundle from prove or consistency."),
    public_key: str = typer.Argument(..., help="The log's SM2 public key (hex) or a file holding it."),
) -> None:
    """Check a proof offline: no database, only the bundle and the public key (what a regulator runs)."""
    from zhifu.audit.offline import main

    code = main([str(bundle), public_key])
    if code:
        raise typer.Exit(code)


@app.command("checkpoint")
def checkpoint_cmd() -> None:
    """Print the latest signed checkpoint (a regulator's office may keep a copy of each)."""
    from zhifu.audit import latest_checkpoint

    with database().read() as c:
        cp = latest_checkpoint(c)
    if cp is None:
        fail("no checkpoint yet: run zhifu audit integrate")
        return
    typer.echo(cp.text())


@app.command("public-key")
def public_key_cmd() -> None:
    """Print the SM2 public key (hex X || Y) that signs checkpoints now."""
    from zhifu.audit import public_key

    db = database()
    with db.tx() as c:
        typer.echo(public_key(conn=c))


@app.command("rotate-key")
def rotate_key_cmd() -> None:
    """Sign checkpoints with the next key version from now on (the rotation is itself logged)."""
    from zhifu.audit import acting, rotate_key

    with acting("cli", "operator"):
        doc = database().run(rotate_key)
    console.print(f"now signing with key {doc['key_id']} (version {doc['version']})")
    typer.echo(doc["public_key"])


@app.command("log")
def log_cmd(
    action: str = typer.Option(None),
    object_id: str = typer.Option(None, "--object"),
    merchant: str = typer.Option(None),
    limit: int = typer.Option(20),
) -> None:
    """The newest entries, filtered."""
    from zhifu.audit import list_entries

    with database().read() as c:
        page = list_entries(c, action=action, object_id=object_id, merchant_id=merchant, limit=limit)
    t = Table("#", "time (UTC)", "actor", "role", "action", "object")
    for e in page["data"]:
        t.add_row(
            str(e["index"]),
            str(e["at"])[:19],
            e["actor"],
            e["role"],
            e["action"],
            f"{e['object_type']}:{e['object_id']}",
        )
    console.print(t)
