"""The mail parser against generated hostile mail: time and memory per mail, within budget.

    .venv/bin/python bench/fuzz_mail.py [--mails 10000] [--seed 1]

Each mail is the corpus (tests/fixtures/mail) mutated, or made from scratch with what
hostile mail is made of: deep nesting of multipart/alternative, mixed and report; line
ends of CRLF, LF and bare CR mixed within a mail; long and folded header fields, many
encoded words, RFC 2231 parameters; boundaries behind bare CRs; bodies in base64,
quoted-printable and raw 8-bit; HTML nested deep. Every mail goes through
`mail.parse.parse` (a refusal, `Unparseable`, is a fine outcome; any other exception is
a finding), timed, with its peak Python memory (tracemalloc). The budget, per MB of
input: 1 s and 200 MB (with floors of 1 s and 20 MB, the parser's fixed cost for a small
mail). Prints the counts, the slowest and the most memory per MB, and any mail over
budget, saved under --out for a test.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mail.parse import Unparseable, parse  # noqa: E402

CORPUS = sorted((ROOT / "tests" / "fixtures" / "mail").glob("*.eml"))
SECONDS = 1.0
MB_PER_MB = 200
FLOOR_MB = 20
ENDS = (b"\r\n", b"\n", b"\r")
TYPES = ("alternative", "mixed", "related", "report", "signed")


def _end(rng: random.Random, mixed: bool) -> bytes:
    return rng.choice(ENDS) if mixed else b"\r\n"


def _words(rng: random.Random, count: int) -> bytes:
    charset = rng.choice(("utf-8", "iso-8859-1", "x-unknown", "utf-7"))
    kind = rng.choice("qQbB")
    return b" ".join(
        f"=?{charset}?{kind}?{rng.choice(['a', 'w6k=', '=C3=A9_x', '?'])}?=".encode()
        for _ in range(count)
    )


def _header(rng: random.Random, nl: bytes) -> bytes:
    name = rng.choice(
        [b"Subject", b"From", b"To", b"Reply-To", b"Content-Type", b"References", b"X-Junk"]
    )
    shape = rng.random()
    if shape < 0.3:
        value = _words(rng, rng.choice([1, 10, 100, 400, 2000]))
    elif shape < 0.5:
        value = (b"a" * rng.choice([10, 1000, 5000])) + nl + b" " + b"b" * rng.randint(0, 3000)
    elif shape < 0.7:
        value = b", ".join(b"<%d@x>" % i for i in range(rng.choice([1, 50, 2000])))
    elif shape < 0.85:
        value = (
            b'text/plain; name*0="a"; name*1*=utf-8\'\'%E2%82; name*2="'
            + b"x" * rng.randint(0, 500)
            + b'"'
        )
    else:
        value = bytes(rng.randrange(1, 256) for _ in range(rng.randint(0, 300))).replace(
            b"\n", b" "
        )
    return name + b": " + value + nl


def _body(rng: random.Random, nl: bytes) -> bytes:
    kind = rng.random()
    if kind < 0.3:
        return b"Content-Type: text/plain" + nl + nl + b"Hello, where is my order?" + nl
    if kind < 0.5:
        return (
            b"Content-Type: text/html"
            + nl
            + nl
            + b"<div>" * rng.choice([1, 100, 3000])
            + b"hi"
            + b"</div>" * rng.randint(0, 10)
            + nl
        )
    if kind < 0.7:
        junk = rng.randbytes(rng.choice([10, 1000, 50_000]))
        return (
            b"Content-Type: application/octet-stream"
            + nl
            + b"Content-Transfer-Encoding: base64"
            + nl
            + nl
            + junk
            + nl
        )
    if kind < 0.85:
        return (
            b"Content-Type: text/plain"
            + nl
            + b"Content-Transfer-Encoding: quoted-printable"
            + nl
            + nl
            + b"=E9=\r\n" * rng.choice([1, 1000, 20_000])
            + nl
        )
    return b"Content-Type: message/rfc822" + nl + nl + b"From: x@y" + nl + nl + b"inner" + nl


def _nested(rng: random.Random, depth: int, mixed: bool) -> bytes:
    """`depth` multiparts one inside the other, built from both ends and joined once (a
    part rebuilt at every level would cost depth x size to make)."""
    opening, closing = [], []
    for level in range(depth):
        nl = _end(rng, mixed)
        boundary = f"b{level}".encode()
        kind = rng.choice(TYPES).encode()
        before, after = ([_body(rng, nl) for _ in range(rng.choice([0, 0, 0, 1]))] for _ in "ab")
        opening.append(
            b"Content-Type: multipart/"
            + kind
            + b'; boundary="'
            + boundary
            + b'"'
            + nl
            + nl
            + b"".join(b"--" + boundary + nl + part + nl for part in before)
            + b"--"
            + boundary
            + nl
        )
        closing.append(
            nl
            + b"".join(b"--" + boundary + nl + part + nl for part in after)
            + b"--"
            + boundary
            + b"--"
            + nl
        )
    return b"".join(opening) + _body(rng, _end(rng, mixed)) + b"".join(reversed(closing))


def generated(rng: random.Random) -> bytes:
    mixed = rng.random() < 0.5
    nl = _end(rng, mixed)
    head = (
        b"From: Anna <anna@customer.example>"
        + nl
        + b"Message-ID: <f%d@x>" % rng.randrange(10**9)
        + nl
    )
    head += b"".join(_header(rng, _end(rng, mixed)) for _ in range(rng.choice([0, 1, 5, 30])))
    depth = rng.choice([0, 1, 3, 20, 45, 200, 1000])
    return head + b"MIME-Version: 1.0" + nl + _nested(rng, depth, mixed)


def mutated(rng: random.Random, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(rng.choice([1, 5, 50])):
        where = rng.randrange(len(data) + 1)
        action = rng.random()
        if action < 0.3:
            data[where:where] = rng.choice([b"\r", b"\n--", b"=?utf-8?q?", b"\r--b\r", b":"])
        elif action < 0.6:
            data[where : where + rng.randint(1, 50)] = b""
        else:
            chunk = bytes(data[where : where + rng.randint(1, 200)])
            data[where:where] = chunk * rng.choice([2, 20, 200])
        if len(data) > 2 * 2**20:  # a few MB at most: the budget is per MB anyway
            break
    return bytes(data)


def measure(raw: bytes) -> tuple[float, float, str]:
    """Seconds, peak MB (tracemalloc, which slows the parser severalfold: taken only for
    a mail that is large or slow, as a small quick one cannot reach the 20 MB floor) and
    the outcome."""
    seconds, outcome = _timed(raw)
    peak = 0.0
    if len(raw) > 64 * 1024 or seconds > 0.05:
        tracemalloc.start()
        _timed(raw)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return seconds, peak, outcome


def _timed(raw: bytes) -> tuple[float, str]:
    started = time.perf_counter()
    outcome = "parsed"
    try:
        parse(raw)
    except Unparseable:
        outcome = "refused"
    except Exception as error:  # a finding: parse must refuse, never crash
        outcome = f"crash {type(error).__name__}: {error}"[:200]
    return time.perf_counter() - started, outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("test-artifacts/fuzz-mail"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    corpus = [path.read_bytes() for path in CORPUS]
    counts = {"parsed": 0, "refused": 0, "crash": 0}
    slowest = (0.0, 0)
    most = (0.0, 0)
    over = []
    for number in range(args.mails):
        if number and number % 1000 == 0:
            print(f"{number} mails, {len(over)} over budget so far", file=sys.stderr, flush=True)
        raw = generated(rng) if rng.random() < 0.6 else mutated(rng, rng.choice(corpus))
        seconds, peak, outcome = measure(raw)
        counts[outcome.split()[0]] += 1
        megabytes = len(raw) / 2**20
        per_mb = peak / max(megabytes, 1e-9)
        slowest = max(slowest, (seconds, len(raw)))
        if peak > FLOOR_MB:
            most = max(most, (per_mb, len(raw)))
        if (
            seconds > SECONDS
            or peak > max(FLOOR_MB, MB_PER_MB * megabytes)
            or outcome.startswith("crash")
        ):
            over.append((number, seconds, peak, len(raw), outcome))
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"mail-{number}.eml").write_bytes(raw)
    print(f"{args.mails} mails (seed {args.seed}): {counts}")
    print(f"slowest: {slowest[0]:.3f} s ({slowest[1]:,} bytes); budget {SECONDS} s per MB")
    print(f"most memory per MB above the {FLOOR_MB} MB floor: {most[0]:.0f} ({most[1]:,} bytes)")
    for number, seconds, peak, size, outcome in over[:20]:
        print(
            f"over budget: mail {number}: {seconds:.2f} s, {peak:.0f} MB, {size:,} bytes, {outcome}"
        )
    print(f"{len(over)} over budget")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
