"""The `support-agent` command line. Each capability adds a command here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

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
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--kind", type=click.Choice(["faq", "article", "ticket"]), help="Expected record kind."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def ingest(paths: tuple[Path, ...], kind: str | None, as_json: bool) -> None:
    """Add, update or remove what changed in PATHS since the last run."""
    from ingestion.sync import sync

    report = sync(list(paths), load_settings(), kind=kind)
    for problem in report.problems:
        click.echo(f"skipped: {problem}", err=True)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        click.echo(
            f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
            f"deleted {report.deleted}; {report.chunks} chunks embedded in {report.seconds:.1f}s"
        )
    if report.problems:
        sys.exit(1)


@main.group()
def kb() -> None:
    """Query the knowledge base."""


@kb.command()
@click.argument("query", required=False)
@click.option("--k", "k", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--queries", type=click.File("r", encoding="utf-8"), help='JSONL of {"id", "query"}.')
@click.option("--json", "as_json", is_flag=True, help="JSON output (the default for --queries).")
def search(query: str | None, k: int, queries, as_json: bool) -> None:
    """Hybrid search: one QUERY, or every line of --queries FILE."""
    from kb.retrieval import Retriever

    if bool(query) == bool(queries):
        raise click.UsageError("give either QUERY or --queries FILE")
    retriever = Retriever(load_settings())
    if query:
        hits = [hit.model_dump() for hit in retriever.search(query, k)]
        if as_json:
            click.echo(json.dumps(hits, ensure_ascii=False, indent=2))
        for hit in [] if as_json else hits:
            click.echo(f"{hit['score']:.3f}  {hit['doc_id']}  {hit['title']}")
        return
    for number, line in enumerate(queries, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            qid, text = item["id"], item["query"]
        except (json.JSONDecodeError, KeyError, TypeError):
            click.echo(f'skipped: {queries.name}:{number}: expected {{"id", "query"}}', err=True)
            continue
        hits = [hit.model_dump() for hit in retriever.search(str(text), k)]
        click.echo(json.dumps({"id": qid, "hits": hits}, ensure_ascii=False))


@main.group()
def orders() -> None:
    """Customers and orders."""


@orders.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def import_orders(path: Path) -> None:
    """Load customers and orders from PATH (JSON); bad records are skipped by line."""
    from store.db import session_factory
    from store.orders import import_orders as run_import

    with session_factory(load_settings().db_url)() as session:
        report = run_import(path, session)
    for problem in report.problems:
        click.echo(f"skipped: {problem}", err=True)
    click.echo(f"imported {report.customers} customers and {report.orders} orders")
    if report.problems:
        sys.exit(1)


@main.command()
@click.argument("message")
@click.option("--email", help="The customer's verified email address.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole draft as JSON.")
def ask(message: str, email: str | None, as_json: bool) -> None:
    """Run one agent turn for MESSAGE and print the draft."""
    from agent.turn import Agent, MessageTooLong

    try:
        draft = Agent(load_settings()).answer(message, email=email)
    except MessageTooLong as error:
        raise click.UsageError(str(error)) from None
    if as_json:
        click.echo(draft.model_dump_json(indent=2))
        return
    click.echo(f"[{draft.decision}] confidence {draft.confidence:.2f}, priority {draft.priority}")
    click.echo(draft.reply)
    for citation in draft.citations:
        click.echo(f"  source: {citation.doc_id} {citation.url or ''}")
    for reason in draft.reasons:
        click.echo(f"  review because: {reason}")


@main.command()
def config() -> None:
    """Show the effective settings (secrets hidden)."""
    settings = load_settings()
    for name, value in settings.model_dump().items():
        click.echo(f"SUPPORT_{name.upper()}={'' if value is None else value}")


if __name__ == "__main__":
    main()
