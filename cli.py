"""The `support-agent` command line. Each capability adds a command here."""

from __future__ import annotations

import sys

import click

from settings import ConfigError, load_settings


class Group(click.Group):
    """Turns known user-facing errors into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)


@click.group(cls=Group)
def main() -> None:
    """A self-hosted AI support desk: answers what it knows, asks you about the rest."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(as_json: bool) -> None:
    """Check settings, data dir, database, Chroma, embeddings and the LLM."""
    from doctor import render, run_checks

    checks = run_checks()
    click.echo(render(checks, as_json))
    if not all(check.ok for check in checks):
        sys.exit(1)


@main.command()
def config() -> None:
    """Show the effective settings (secrets hidden)."""
    settings = load_settings()
    for name, value in settings.model_dump().items():
        click.echo(f"SUPPORT_{name.upper()}={'' if value is None else value}")


if __name__ == "__main__":
    main()
