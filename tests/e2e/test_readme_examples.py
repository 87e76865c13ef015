"""README's shell examples are executable documentation: every ```bash block runs, in order, in one bash session
against a fresh runner, as a reader who copies them would run them after `make run` in another terminal.

A block that cannot run here (a deploy, `make run` itself, LocalStack, a real bot) is marked just above its fence
with ``<!-- example: not run (why) -->``. The documented addresses (``127.0.0.1:8000``, ``localhost:8000``, ``:4566``,
``:8443``) are rewritten to the runner's ports, ``ADMIN_PASSWORD=…`` to the runner's admin password and
``ONCALL_HTTP_PORT`` is exported (as a reader who started the runner on another port would). ``curl`` is a shell
function that fails the run on any 5xx, and on a 4xx unless the comment right after the command (or at the end of its
last line) names that status (``# 409 {...}``). The session runs from a script whose line N is README's line N, so a
failure names the README line it came from.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.launch import PRODUCT_TOPOLOGY, ROOT, Runner, start_runner

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
ADMIN = {"username": "admin", "password": "readme admin passphrase"}
#: what the examples need besides bash and make; the AWS CLI comes with the dev dependencies (.venv/bin/aws)
TOOLS = ("curl", "jq", "aws", "make", "date")
#: the whole session: measured 17-45 s on a 2-core machine shared with other suites (27-64 s with the runner's start
#: and stop)
SESSION_BUDGET_S = 150
MARK = re.compile(r"^<!-- example: not run \((?P<why>[^)]{8,})\) -->$")
ADDRESS = re.compile(r"\b(?:127\.0\.0\.1|localhost):(?P<port>8000|4566|8443)\b")
#: a status in a comment: three digits on their own, not part of an address (127.0.0.1) or a number
STATUS = re.compile(r"(?<![\w.:/])([1-5]\d\d)(?![\w.:])")

PRELUDE = r"""
set -Eeuo pipefail
declare -A __expect=(%(expect)s)
__fail() { printf 'README.md:%%s: %%s\n' "$1" "$2" >&2; }
trap '__fail "$LINENO" "exit status $? from: $BASH_COMMAND"' ERR
# curl as the examples use it, plus a status check: a 5xx always fails, a 4xx unless the example documents it
curl() {
    local line=${BASH_LINENO[0]} body status documented
    body=$(mktemp)
    if ! status=$(command curl "$@" -o "$body" -w '%%{http_code}'); then
        __fail "$line" "curl could not complete: curl $*"
        rm -f "$body"
        exit 1
    fi
    documented=${__expect[$line]:-}
    if ((status >= 500)) || { ((status >= 400)) && [[ " $documented " != *" $status "* ]]; }; then
        __fail "$line" "HTTP $status (documented: ${documented:-none}) from: curl $*"
        printf 'response: %%s\n' "$(cat "$body")" >&2
        rm -f "$body"
        exit 1
    fi
    cat "$body" || true  # a reader that stops early (| head) is fine
    rm -f "$body"
}
cd %(root)s
source %(script)s
"""


@dataclass(frozen=True)
class Block:
    #: README line of the first line inside the fence (1-based)
    first: int
    lines: list[str]
    not_run: str | None


def bash_blocks(text: str) -> list[Block]:
    """Every ```bash block in order, with the reason it is not run when it is marked so just above its fence."""
    lines = text.splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```bash":
            above = lines[i - 1].strip() if i else ""
            mark = MARK.match(above)
            if above.startswith("<!-- example") and not mark:
                raise AssertionError(f"README.md:{i}: a mark reads <!-- example: not run (why) -->, not {above!r}")
            end = lines.index("```", i + 1)
            out.append(Block(first=i + 2, lines=lines[i + 1 : end], not_run=mark["why"] if mark else None))
            i = end
        i += 1
    return out


def statements(lines: list[str]) -> list[tuple[int, int, str]]:
    """(first, last, trailing comment) line indexes of each shell statement: backslash continuations and quotes that
    span lines are followed."""
    out: list[tuple[int, int, str]] = []
    start: int | None = None
    quote = ""
    for n, line in enumerate(lines):
        comment = ""
        i = 0
        while i < len(line):
            c = line[i]
            if quote:
                if c == quote:
                    quote = ""
                elif c == "\\" and quote == '"':
                    i += 1
            elif c in "'\"":
                quote = c
            elif c == "\\":
                i += 1
            elif c == "#" and (i == 0 or line[i - 1] in " \t"):
                comment = line[i:]
                break
            i += 1
        code = line[: len(line) - len(comment)].strip() if comment else line.strip()
        if start is None:
            if not code:
                continue
            start = n
        if quote or code.endswith("\\"):
            continue
        out.append((start, n, comment))
        start = None
    return out


def documented(block: Block) -> dict[int, set[int]]:
    """README line → the statuses documented for the statement on it (its trailing comment and the comment lines right
    after it)."""
    out: dict[int, set[int]] = {}
    for first, last, comment in statements(block.lines):
        notes = [comment]
        for after in block.lines[last + 1 :]:
            if not after.lstrip().startswith("#"):
                break
            notes.append(after)
        codes = {int(code) for note in notes for code in STATUS.findall(note)}
        for n in range(first, last + 1):
            out[block.first + n] = codes
    return out


def session(blocks: list[Block], total_lines: int, ports: dict[str, str]) -> tuple[str, dict[int, set[int]]]:
    """The README as a script, line for line: a run block's lines as written (addresses rewritten), everything else
    blank; and the documented statuses by line."""
    script = [""] * total_lines
    expect: dict[int, set[int]] = {}
    for block in blocks:
        if block.not_run:
            continue
        for n, line in enumerate(block.lines):
            line = ADDRESS.sub(lambda m: f"127.0.0.1:{ports[m['port']]}", line)
            if line.startswith("ADMIN_PASSWORD="):
                line = f"ADMIN_PASSWORD='{ADMIN['password']}'"
            script[block.first + n - 1] = line
        expect.update(documented(block))
    return "\n".join(script) + "\n", expect


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {
        "ONCALL_ADMIN_USERNAME": ADMIN["username"],
        "ONCALL_ADMIN_PASSWORD": ADMIN["password"],
        # the webhook example subscribes a receiver on this machine, as README says to allow it
        "ONCALL_WEBHOOK_ALLOWLIST": "127.0.0.1/32",
    }
    r = start_runner(tmp_path_factory.mktemp("readme-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def tool_path() -> str:
    """PATH with the project's tools first (the AWS CLI is a dev dependency); a missing tool fails, naming it."""
    path = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    missing = [tool for tool in TOOLS if shutil.which(tool, path=path) is None]
    assert not missing, f"README examples need {', '.join(missing)}: install it (see README, Development)"
    gnu = subprocess.run(["date", "-u", "-d", "+1 day", "+%F"], env={"PATH": path}, capture_output=True, check=False)
    assert gnu.returncode == 0, "README examples need GNU date (date -d '+1 day'): install coreutils"
    return path


def test_every_marked_block_says_why_and_the_rest_exist() -> None:
    blocks = bash_blocks(README.read_text())
    assert blocks, "README has no bash examples"
    assert [b for b in blocks if not b.not_run], "every README example is marked not run"


@dataclass(frozen=True)
class Outcome:
    done: subprocess.CompletedProcess[str]
    blocks: list[Block]
    elapsed: float


def run_examples(text: str, product: Runner, workdir: Path) -> Outcome:
    """Run ``text``'s bash examples as README's are run: one session, addresses rewritten, statuses checked."""
    path = tool_path()
    workdir.mkdir(parents=True, exist_ok=True)
    blocks = bash_blocks(text)
    ports = {
        "8000": str(urlsplit(product.http).port),
        "4566": str(urlsplit(product.emulator).port),
        "8443": str(urlsplit(str(product.info["https"])).port),
    }
    script, expect = session(blocks, len(text.splitlines()), ports)
    (workdir / "readme.sh").write_text(script)
    table = " ".join(f"[{line}]='{' '.join(map(str, sorted(codes)))}'" for line, codes in expect.items() if codes)
    prelude = PRELUDE % {
        "expect": table,
        "root": shlex.quote(str(ROOT)),
        "script": shlex.quote(str(workdir / "readme.sh")),
    }
    (workdir / "prelude.sh").write_text(prelude)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    # a reader's shell: no AWS settings or runner variables of ours leak in, so the examples must carry their own, and
    # no make of ours (`make test`) is the parent of their `make tg`
    leaks = ("AWS_", "ONCALL_", "TELEGRAM_", "MAKE", "MFLAGS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(leaks) and k != "URL"}
    env |= {"PATH": path, "HOME": str(home), "ONCALL_HTTP_PORT": ports["8000"]}
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(workdir / "prelude.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SESSION_BUDGET_S,
        check=False,
    )
    return Outcome(done, blocks, time.monotonic() - started)


def report(outcome: Outcome) -> str:
    """What failed: bash's message with the README line, the example with that line marked, the output before."""
    done = outcome.done
    failed = [int(n) for n in re.findall(r"^README\.md:(\d+):", done.stderr, re.M)]
    where = ""
    if failed:
        block = next(b for b in outcome.blocks if b.first <= failed[0] < b.first + len(b.lines))
        shown = "\n".join(
            f"{'>>' if block.first + n == failed[0] else '  '} {block.first + n:4} {line}"
            for n, line in enumerate(block.lines)
        )
        where = f"\nthe example (README.md line {block.first}):\n{shown}"
    return (
        f"a README example failed (exit {done.returncode}) after {outcome.elapsed:.1f} s:\n{done.stderr[-4000:]}"
        f"{where}\noutput before it:\n{done.stdout[-2000:]}"
    )


def test_readme_shell_examples_run_as_written(product: Runner, tmp_path: Path) -> None:
    outcome = run_examples(README.read_text(), product, tmp_path)
    if outcome.done.returncode != 0:
        pytest.fail(report(outcome), pytrace=False)
    ran = sum(1 for b in outcome.blocks if not b.not_run)
    print(f"README examples: {ran} blocks ran in {outcome.elapsed:.1f} s")


REFUSED_LOGIN = """\
```bash
curl -s -X POST http://127.0.0.1:8000/auth/login -H 'content-type: application/json' \\
     -d '{"username": "nobody", "password": "not the password"}'
```
"""


def test_the_check_refuses_what_an_example_does_not_document(product: Runner, tmp_path: Path) -> None:
    """An undocumented 4xx or a failing command fails the run, naming the README line; a documented status and a
    marked block do not."""
    undocumented = run_examples(REFUSED_LOGIN, product, tmp_path / "undocumented")
    assert undocumented.done.returncode != 0
    assert "README.md:2: HTTP 401 (documented: none)" in report(undocumented), report(undocumented)

    documented = REFUSED_LOGIN.replace("```\n", "# 401 {...}\n```\n", 1)
    marked = documented + "\n<!-- example: not run (fails on purpose) -->\n```bash\nfalse\n```\n"
    outcome = run_examples(marked, product, tmp_path / "documented")
    assert outcome.done.returncode == 0, report(outcome)

    failing = run_examples(documented + "\n```bash\ntrue\nfalse\n```\n", product, tmp_path / "failing")
    assert failing.done.returncode != 0
    assert "README.md:9: exit status 1 from: false" in report(failing), report(failing)
