"""Real mail servers on loopback for the email tests: aiosmtpd for SMTP, Dovecot for IMAP.

with smtp_server() as smtp:           # smtp.url, smtp.messages (parsed EmailMessages)
with imap_server(tmp_path) as imap:   # imap.url, imap.deliver(raw_bytes)
"""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from imapclient import IMAPClient

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
MAILBOX_USER = "support@shop.example"
MAILBOX_PASSWORD = "imap-secret-password"


def tls_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the CA the desk is told to trust), and its key."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o644)  # Dovecot's master reads it as root; the test dir is throwaway
    return cert, key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SMTPServer:
    port: int
    # With a certificate: STARTTLS required, and a login (user "shop", password "smtp-pass").
    tls: tuple[Path, Path] | None = None
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    controller: Controller | None = None

    @property
    def url(self) -> str:
        login = "shop:smtp-pass@" if self.tls else ""
        return f"smtp://{login}127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.arrived:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def wait_until(self, wanted, timeout: float = 30) -> list[EmailMessage]:
        """The messages once `wanted(message)` holds for one of them (or the timeout passed)."""
        with self.arrived:
            self.arrived.wait_for(lambda: any(wanted(m) for m in self.messages), timeout)
            return list(self.messages)

    def start(self) -> None:
        options = {}
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.tls)
            options = {
                "tls_context": context,
                "require_starttls": True,
                "auth_required": True,
                "authenticator": _check_login,
            }
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def _check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    accepted = auth_data.login == b"shop" and auth_data.password == b"smtp-pass"
    return AuthResult(success=accepted, handled=False)


@contextmanager
def smtp_server(
    *, running: bool = True, tls: tuple[Path, Path] | None = None
) -> Iterator[SMTPServer]:
    """An SMTP server that keeps what it receives; `running=False` starts it down."""
    server = SMTPServer(port=free_port(), tls=tls)
    if running:
        server.start()
    try:
        yield server
    finally:
        server.stop()


DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_uid = dovecot
mail_gid = dovecot
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


@dataclass
class IMAPServer:
    root: Path
    port: int
    imaps_port: int = 0

    @property
    def url(self) -> str:
        return f"imap://{MAILBOX_USER}:{MAILBOX_PASSWORD}@127.0.0.1:{self.port}/INBOX"

    @property
    def imaps_url(self) -> str:
        return f"imaps://{MAILBOX_USER}:{MAILBOX_PASSWORD}@127.0.0.1:{self.imaps_port}/INBOX"

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(MAILBOX_USER, MAILBOX_PASSWORD)
        return client

    def deliver(self, *raws: bytes) -> None:
        """Put mails into the INBOX as a delivery agent would."""
        client = self.client()
        try:
            for raw in raws:
                client.append("INBOX", raw)
        finally:
            client.logout()


@contextmanager
def imap_server(*, tls: tuple[Path, Path] | None = None) -> Iterator[IMAPServer]:
    """Debian's Dovecot with a throwaway config: one mailbox user, plain IMAP on loopback,
    and with a certificate also IMAPS on a port of its own."""
    # Not under pytest's private tmp_path: Dovecot's unprivileged processes must reach it.
    root = Path(tempfile.mkdtemp(prefix="dovecot-"))
    root.chmod(0o755)
    for name in ("run", "state", "home"):
        (root / name).mkdir(exist_ok=True)
    # The mail processes run as the unprivileged `dovecot` user.
    (root / "home").chmod(0o777)
    port, imaps_port = free_port(), free_port() if tls else 0
    ssl_lines = f"ssl = yes\nssl_cert = <{tls[0]}\nssl_key = <{tls[1]}" if tls else "ssl = no"
    (root / "passwd").write_text(f"{MAILBOX_USER}:{{PLAIN}}{MAILBOX_PASSWORD}\n")
    (root / "dovecot.conf").write_text(
        DOVECOT_CONF.format(root=root, port=port, imaps_port=imaps_port, ssl=ssl_lines)
    )
    subprocess.run([DOVECOT, "-c", str(root / "dovecot.conf")], check=True)
    server = IMAPServer(root=root, port=port, imaps_port=imaps_port)
    try:  # stopped also when it never got ready: no Dovecot outlives its test
        deadline = time.monotonic() + 10
        while True:
            try:
                server.client().logout()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield server
    finally:
        pid = (root / "run" / "master.pid").read_text().strip()
        subprocess.run(["kill", pid], check=False)
        shutil.rmtree(root, ignore_errors=True)
