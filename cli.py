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
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--kind", type=click.Choice(["faq", "article", "ticket"]), help="Expected record kind."
)
@click.option(
    "--reindex",
    is_flag=True,
    help="First embed everything already indexed again with SUPPORT_EMBEDDING_MODEL.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def ingest(paths: tuple[Path, ...], kind: str | None, reindex: bool, as_json: bool) -> None:
    """Add, update or remove what changed in PATHS since the last run."""
    from ingestion.sync import sync

    if not paths and not reindex:
        raise click.UsageError("give the PATHS to ingest, or --reindex")
    settings = load_settings()
    if reindex:
        from ingestion.sync import reindex_all

        chunks, seconds = reindex_all(settings)
        click.echo(
            f"re-indexed {chunks} chunks with {settings.embedding_model} in {seconds:.1f}s",
            err=as_json,
        )
        if not paths:
            return
    report = sync(list(paths), settings, kind=kind)
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
    from agent.language import detect_language
    from kb.retrieval import Retriever

    if bool(query) == bool(queries):
        raise click.UsageError("give either QUERY or --queries FILE")
    retriever = Retriever(load_settings())
    if query:
        found = retriever.search(query, k, language=detect_language(query))
        hits = [hit.model_dump() for hit in found]
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
        found = retriever.search(str(text), k, language=detect_language(str(text)))
        hits = [hit.model_dump() for hit in found]
        click.echo(json.dumps({"id": qid, "hits": hits}, ensure_ascii=False))


@main.group()
def orders() -> None:
    """Customers and orders."""


@orders.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def import_orders(path: Path) -> None:
    """Load customers and orders from PATH: our JSON, or Shopify's or WooCommerce's order
    export CSV. Bad records are skipped by line; re-importing updates."""
    from ingestion.order_states import Vocabulary
    from store.db import session_factory
    from store.orders import import_orders as run_import

    settings = load_settings()
    with session_factory(settings.db_url)() as session:
        report = run_import(path, session, Vocabulary.from_settings(settings))
    for problem in report.problems:
        click.echo(f"skipped: {problem}", err=True)
    for status, count in report.unmapped_statuses.most_common():
        click.echo(
            f"unmapped: status {status!r} on {count} orders, imported as unknown "
            "(map it with SUPPORT_ORDER_STATUSES)",
            err=True,
        )
    if report.unknown_currency:
        click.echo(
            f"unmapped: {report.unknown_currency} orders in a currency we could not name, "
            "imported without one (map it with SUPPORT_CURRENCIES)",
            err=True,
        )
    click.echo(
        f"imported {report.customers} customers and {report.orders} orders "
        f"({report.added} new, {report.updated} updated) from {report.format}"
    )
    if report.problems:
        sys.exit(1)


@main.command()
@click.argument("message")
@click.option("--email", help="The customer's verified email address.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole draft as JSON.")
def ask(message: str, email: str | None, as_json: bool) -> None:
    """Run one agent turn for MESSAGE and print the draft."""
    from desk import Desk, MessageTooLong

    try:
        draft = Desk(load_settings()).ask(message, email=email)
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
        click.echo(f"  review because: {reason.text}")


@main.group()
def mail() -> None:
    """Support email in: one mail from an MTA pipe, or the IMAP mailbox."""


# sysexits.h EX_TEMPFAIL: an MTA that gets it keeps the mail and delivers it again later.
EX_TEMPFAIL = 75


def _print_mail(receipt, as_json: bool) -> None:
    if as_json:
        fields = ("conversation_id", "message_id", "status", "reason")
        click.echo(json.dumps(receipt.model_dump(mode="json", include=set(fields))))
    else:
        where = f" in conversation {receipt.conversation_id}" if receipt.conversation_id else ""
        reason = f": {receipt.reason}" if receipt.reason else ""
        click.echo(f"{receipt.status} <{receipt.message_id or '?'}>{where}{reason}")
    sys.stdout.flush()  # `mail fetch` runs for days: each line reaches a pipe as it happens


@mail.command("receive")
@click.option(
    "--wait", is_flag=True, help="Draft the reply here and report it, instead of the workers."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line for the mail.")
def mail_receive(wait: bool, as_json: bool) -> None:
    """Read one RFC 5322 mail on stdin (as an MTA pipe delivers it), store it and its turn.

    The workers draft the reply (an MTA starts a pipe per mail: each loading the models
    would take a burst of mail gigabytes and minutes). Exits 0 once the mail is stored
    (also when it is ignored, a duplicate, or quarantined as unreadable), and 75 (try
    again later) when it could not be stored.
    """
    from desk import Desk

    raw = click.get_binary_stream("stdin").read()
    try:
        receipt = Desk(load_settings()).receive_mail(raw, draft_now=wait)
    except Exception as error:  # a wrong setting too: the MTA keeps the mail and tries again
        click.echo(f"error: the mail was not stored: {type(error).__name__}: {error}", err=True)
        sys.exit(EX_TEMPFAIL)
    _print_mail(receipt, as_json)


@mail.command("fetch")
@click.option("--once", is_flag=True, help="Fetch what is new and stop, instead of waiting.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per mail.")
def mail_fetch(once: bool, as_json: bool) -> None:
    """Import new mail from SUPPORT_IMAP_URL and answer or queue each one."""
    import signal
    import threading

    from channels.email import fetch, poll
    from desk import Desk
    from mail.servers import MailServerError

    desk = Desk(load_settings())
    try:
        if once:
            for receipt in fetch(desk, draft_now=True):
                _print_mail(receipt, as_json)
            return
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        for receipt in poll(desk, stop, draft_now=True):
            _print_mail(receipt, as_json)
    except MailServerError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


# Options that `eval` and `calibrate` share.
report_option = click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for report.md/.html/.json [default: under DATA_DIR/eval-reports].",
)
datasets_option = click.option(
    "--datasets",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Folder of suite JSONL files [default: evals/datasets].",
)


@main.command("eval")
@click.option("--suite", default="smoke", show_default=True, help="smoke, full or a dataset name.")
@report_option
@click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Baseline with the gates [default: evals/baseline.json].",
)
@click.option("--update-baseline", is_flag=True, help="Save this run's figures as the baseline.")
@datasets_option
def eval_command(
    suite: str,
    report_dir: Path | None,
    baseline_path: Path | None,
    update_baseline: bool,
    datasets: Path | None,
) -> None:
    """Run an eval suite on a fresh sample shop; exit 1 when a gated metric fails."""
    from evals.baseline import BASELINE
    from evals.cli import run
    from evals.datasets import DATASETS

    settings = load_settings()
    code = run(
        settings,
        suite,
        report_dir or settings.data_dir / "eval-reports" / suite,
        baseline_path or BASELINE,
        update_baseline,
        datasets or DATASETS,
    )
    sys.exit(code)


@main.command()
@click.option("--suite", default="full", show_default=True, help="full, smoke or a dataset name.")
@report_option
@datasets_option
@click.option(
    "--from-run",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Fit on an earlier calibrate run's run/report.json instead of running the suite.",
)
def calibrate(
    suite: str, report_dir: Path | None, datasets: Path | None, from_run: Path | None
) -> None:
    """Fit the auto-send gate for the configured model on an eval suite and store it.

    Picks the lowest threshold whose out-of-fold precision, and the stored model's own,
    reach SUPPORT_TARGET_PRECISION; exits 1 when none does (then a person reviews every
    generated draft).
    """
    from evals.cli import run_calibration
    from evals.datasets import DATASETS

    settings = load_settings()
    code = run_calibration(
        settings,
        suite,
        report_dir or settings.data_dir / "eval-reports" / f"calibrate-{suite}",
        datasets or DATASETS,
        from_run,
    )
    sys.exit(code)


@main.command("eval-retrieval")
@click.option(
    "--public-data",
    "snapshots",
    envvar="SUPPORT_PUBLIC_DATA",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of public repository snapshots for the test shops [env SUPPORT_PUBLIC_DATA].",
)
@click.option(
    "--shop", "shops", multiple=True, help="Only these shops (sample, webapps, covid, tatoeba)."
)
@click.option(
    "--split",
    type=click.Choice(["test", "dev", "all"]),
    default="test",
    show_default=True,
    help="Held-back questions (test), the ones tuning may see (dev), or both.",
)
@click.option(
    "--lexical-weight",
    "weights",
    multiple=True,
    type=click.FloatRange(0, 5),
    help="Also measure retrieval with this BM25 weight (repeatable).",
)
@click.option(
    "--translate-questions",
    is_flag=True,
    help="Translate questions the embedding model cannot read across, with the LLM, "
    "as the agent does.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def eval_retrieval(
    snapshots: Path | None,
    shops: tuple[str, ...],
    split: str,
    weights: tuple[float, ...],
    translate_questions: bool,
    as_json: bool,
):
    """Retrieval on the sample shop and the public test shops, against a naive baseline."""
    from evals.public_shops import SHOPS
    from evals.retrieval_shops import SAMPLE, measure_all, table
    from kb.retrieval import Tuning

    unknown = set(shops) - {SAMPLE, *SHOPS}
    if unknown:
        raise click.UsageError(
            f"unknown shop {sorted(unknown)[0]!r}; known: sample, {', '.join(SHOPS)}"
        )
    variants = {f"lexical weight {w:g}": Tuning(lexical_weight=w) for w in weights}
    results, skipped = measure_all(
        load_settings(),
        snapshots=snapshots,
        shops=list(shops) or None,
        split=split,
        variants=variants,
        translate_questions=translate_questions,
    )
    if as_json:
        click.echo(json.dumps([result.model_dump() for result in results], indent=2))
    else:
        click.echo(table(results))
    for reason in skipped:
        click.echo(f"skipped: {reason}", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Serve the widget, the customer API and the operator pages."""
    from server import serve as run

    run(host, port, load_settings())


@main.command()
def worker() -> None:
    """Draft turns in this process (SUPPORT_JOB_WORKERS threads), beside or instead of serve."""
    from server import run_workers

    run_workers(load_settings())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-serve", is_flag=True, help="Load the sample shop and stop.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Load the sample shop (idempotent), create a demo operator, then serve."""
    import os
    import secrets

    from desk.sample_shop import SHOP_NAME, load_sample_shop
    from store.db import session_factory
    from store.operators import set_operator

    settings = load_settings()
    if "shop_name" not in settings.model_fields_set:
        settings = settings.model_copy(update={"shop_name": SHOP_NAME})
        os.environ["SUPPORT_SHOP_NAME"] = SHOP_NAME  # for `serve` below, which reads settings anew
    report, imported = load_sample_shop(settings)
    click.echo(
        f"knowledge base: added {report.added}, updated {report.updated}, "
        f"unchanged {report.unchanged}; {imported.customers} customers, {imported.orders} orders"
    )
    password = secrets.token_urlsafe(12)
    with session_factory(settings.db_url)() as session:
        set_operator(session, "demo", password)
    address = f"http://{host}:{port}"
    click.echo(f"operator login: demo / {password}  (a new password on every run)")
    click.echo(f"customer page:  {address}/")
    click.echo(f"operator queue: {address}/operator/")
    if no_serve:
        return
    # gunicorn forks its workers, and the threads and native runtimes loading started here
    # (Chroma's Rust client, torch) hang in a forked child, so a fresh process serves.
    sys.stdout.flush()
    sys.stderr.flush()
    command = [sys.executable, "-m", "cli", "serve", "--host", host, "--port", str(port)]
    os.execv(sys.executable, command)


@main.group()
def operators() -> None:
    """People who may log in to the approval queue."""


@operators.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def add_operator(name: str, password_stdin: bool) -> None:
    """Create operator NAME, or set a new password for it."""
    from store.db import session_factory
    from store.operators import set_operator

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with session_factory(load_settings().db_url)() as session:
            set_operator(session, name, password)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    click.echo(f"operator {name} can log in")


@main.command()
@click.option("--send", is_flag=True, help="Mail it to SUPPORT_OWNER_EMAIL now instead.")
def digest(send: bool) -> None:
    """Print the owner's morning digest as of now; with --send, mail it at once.

    The worker sends it by itself each day at SUPPORT_DIGEST_TIME; one digest a day goes
    out, so --send after that says when it went.
    """
    from desk import Desk
    from desk.delivery import DeliveryFailed
    from mail.servers import server_url
    from store.models import OutboxStatus

    settings = load_settings()
    desk = Desk(settings)
    if not send:
        click.echo(desk.digest().text, nl=False)
        return
    needed = {
        "SUPPORT_OWNER_EMAIL": settings.owner_email,
        "SUPPORT_SMTP_URL": settings.smtp_url,
        "SUPPORT_MAIL_FROM": settings.mail_from,
    }
    missing = [name for name, value in needed.items() if not value]
    if missing:
        names = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        raise ConfigError(f"digest --send needs {names}")
    row = desk.queue_digest()
    if row.status == OutboxStatus.SENT:
        click.echo(f"today's digest went to {settings.owner_email} at {row.sent_at:%H:%M} UTC")
        return
    try:
        delivered = desk.deliver_now(row.id)
    except DeliveryFailed as error:  # the row keeps the error; the workers try it again
        click.echo(f"error: the digest was not sent: {error}", err=True)
        sys.exit(1)
    if not delivered:  # a worker holds it, or it failed for good before
        row = desk.outbox_row(row.id)
        why = f" ({row.error})" if row.error else ""
        click.echo(f"error: the digest was not sent here: it is {row.status}{why}", err=True)
        sys.exit(1)
    server = server_url(settings.smtp_url.get_secret_value()).safe
    click.echo(f"digest sent to {settings.owner_email} through {server}")


@main.command()
@click.option("--period", type=click.Choice(["7d", "30d", "90d"]), default="30d", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print one CSV row per conversation.")
def report(period: str, as_json: bool, as_csv: bool) -> None:
    """How support went in the last PERIOD, compared with the period before it."""
    from desk import Desk
    from desk.insights import as_csv as csv_text
    from desk.insights import as_text

    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    desk = Desk(load_settings())
    if as_csv:
        click.echo(csv_text(desk.report_rows(period)), nl=False)
    elif as_json:
        click.echo(desk.report(period).model_dump_json(indent=2))
    else:
        click.echo(as_text(desk.report(period)), nl=False)


@main.group()
def knowledge() -> None:
    """Review the help centre: passages that contradict each other."""


@knowledge.command("check")
@click.option(
    "--limit",
    type=click.IntRange(1),
    help="Ask the model about at most this many new pairs; the rest wait for the next check.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def knowledge_check(limit: int | None, as_json: bool) -> None:
    """Find articles and FAQs that give different numbers for the same thing.

    Near-duplicate passages whose numbers differ are judged by the LLM; pairs judged
    before are not asked again. The findings are stored for /operator/knowledge.
    """
    from desk import Desk

    found = Desk(load_settings()).check_contradictions(limit=limit)
    if as_json:
        click.echo(found.model_dump_json(indent=2))
        return
    click.echo(
        f"{found.candidates} pairs of similar passages with different numbers; "
        f"{found.asked} judged now, {found.waiting} left for the next check"
    )
    for c in found.findings:
        click.echo(_printable(f"contradiction: {c.subject}"))
        for said in (c.first, c.second):
            click.echo(_printable(f"  {said.doc_id} ({said.title}): {said.quote}"))
    for pair in found.unjudged:
        click.echo(_printable(f"not judged: {pair.first_doc} / {pair.second_doc}: {pair.problem}"))


def _printable(line: str) -> str:
    # Help-centre text and the model's answer may carry terminal escapes: not to a terminal.
    return "".join(char if char.isprintable() else " " for char in line)


@main.command()
def config() -> None:
    """Show the effective settings (secrets hidden)."""
    settings = load_settings()
    for name, value in settings.model_dump().items():
        click.echo(f"SUPPORT_{name.upper()}={'' if value is None else value}")


if __name__ == "__main__":
    main()
