"""``memberkit tiers ...``: list, add and rename VIP tiers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from memberkit.cli.common import ConfigOption, JsonOption, print_json, stdout
from memberkit.cli.db import open_store
from memberkit.cli.output import print_table, printable
from memberkit.services.ledger import tiers as tier_service

app = typer.Typer(help="VIP tiers.", no_args_is_help=True)


@app.command("list")
def list_command(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """All tiers, lowest rank first, with their thresholds, rewards and member counts."""
    _, db = open_store(config)
    tiers = tier_service.list_tiers(db)
    if as_json:
        print_json([tier.to_json() for tier in tiers])
        return
    if not tiers:
        stdout.print("no tiers yet; add one with memberkit tiers add NAME")
        return
    table = Table("rank", "name", "threshold", "entry reward", "members")
    for tier in tiers:
        reward = " + ".join(
            part
            for part in (
                f"{tier.entry_reward_points} points" if tier.entry_reward_points else "",
                f"code {tier.entry_reward_code_template}"
                if tier.entry_reward_code_template
                else "",
            )
            if part
        )
        table.add_row(
            str(tier.rank),
            printable(tier.name),
            "" if tier.threshold is None else str(tier.threshold),
            printable(reward),
            str(tier.members),
        )
    print_table(table)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Tier name, e.g. Gold.")],
    rank: Annotated[
        int | None, typer.Option(help="Order among tiers, higher is better. Default: top.")
    ] = None,
    threshold: Annotated[
        int | None,
        typer.Option(help="Points earned over tiers.window_days that qualify for the tier."),
    ] = None,
    reward_points: Annotated[
        int | None, typer.Option("--reward-points", help="Points credited on entering the tier.")
    ] = None,
    reward_code: Annotated[
        str | None,
        typer.Option("--reward-code", help="Code template given on entering the tier."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a tier."""
    _, db = open_store(config)
    tier = tier_service.add_tier(
        db,
        name=name,
        rank=rank,
        threshold=threshold,
        entry_reward_points=reward_points,
        entry_reward_code_template=reward_code,
    )
    if as_json:
        print_json(tier.to_json())
        return
    stdout.print(f"added tier {tier.name!r} at rank {tier.rank}")


@app.command("rename")
def rename(
    old: Annotated[str, typer.Argument(help="Current name (any case).")],
    new: Annotated[str, typer.Argument(help="New name.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rename a tier; its members and history follow."""
    _, db = open_store(config)
    tier = tier_service.rename_tier(db, old=old, new=new)
    if as_json:
        print_json(tier.to_json())
        return
    stdout.print(f"renamed tier {old!r} to {tier.name!r}")
