"""Helpers for the tests of `maildex serve`: the binary, a test data dir, a server.

Standard library only (the API tests need no third-party package). The browser test
imports this module too.

    data = harness.DataDir.create()          # logs + index in a temporary folder
    with harness.Server(data.index) as s:    # started on 127.0.0.1:0
        status, headers, body = s.get("/api/v1/count?q=line:509")
    data.cleanup()
"""

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "Tests" / "MaildexCoreTests" / "Fixtures"
WEB_FIXTURES = Path(__file__).resolve().parent / "fixtures"

# The hostile session (fixtures/hostile.log, indexed as 1999-05-01.log): markup in
# the HELO name and in the sender, as the index holds them.
HOSTILE_FILE = "1999-05-01.log"
HOSTILE_IP = "198.51.100.66"
HOSTILE_LINE = 666
HOSTILE_HELO = "<img/src=\"x\"/onerror=\"document.title='pwned'\">"
HOSTILE_FROM = "pwn<script>document.title='pwned'</script>@evil.example"

# Generated corpus: days and sessions per day (about 650 sessions in all).
CORPUS_DAYS = 2
CORPUS_SESSIONS_PER_DAY = 300
CORPUS_SEED = 1

START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def binary():
    """The maildex binary: $MAILDEX_BIN, or .build/debug/maildex of this repository."""
    path = Path(os.environ.get("MAILDEX_BIN") or REPO / ".build" / "debug" / "maildex")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise RuntimeError(f"no maildex binary at {path}: run `swift build` first, or set MAILDEX_BIN")
    return str(path)


def run(*args, check=True, timeout=120):
    """Runs `maildex ARGS...`; a CompletedProcess with bytes stdout and stderr."""
    p = subprocess.run([binary(), *map(str, args)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"maildex {' '.join(map(str, args))} exited {p.returncode}: "
                             f"{p.stderr.decode(errors='replace')}")
    return p


def generate(out, days=CORPUS_DAYS, sessions_per_day=CORPUS_SESSIONS_PER_DAY, seed=CORPUS_SEED, start_date=None):
    args = ["generate", "--out", out, "--days", days, "--sessions-per-day", sessions_per_day, "--seed", seed]
    if start_date:
        args += ["--start-date", start_date]
    run(*args)


class DataDir:
    """A temporary folder with `logs/` (the generated corpus, the two real 1999 fixture
    logs and the hostile log) and `index/` (all of them indexed, and the real CommuniGate
    logs of the servers `relay` and `fes01`)."""

    def __init__(self, root):
        self.root = Path(root)
        self.logs = self.root / "logs"
        self.index = self.root / "index"

    @classmethod
    def create(cls, prefix="maildex-web-"):
        d = cls(tempfile.mkdtemp(prefix=prefix))
        try:
            d.logs.mkdir()
            generate(d.logs)
            for name in ("1999-04-28.log", "1999-04-29.log"):
                shutil.copyfile(FIXTURES / name, d.logs / name)
            # The date of a log comes from its name (YYYY-MM-DD.log).
            shutil.copyfile(WEB_FIXTURES / "hostile.log", d.logs / HOSTILE_FILE)
            run("index", "--index", d.index, d.logs)
            # Real CommuniGate Pro lines of two servers: an outbound delivery with its
            # message's records, and an inbound message delivered to a mailbox.
            for server in ("relay", "fes01"):
                run("index", "--index", d.index, "--server", server, FIXTURES / "cgp-real" / server)
        except BaseException:
            d.cleanup()
            raise
        return d

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(url, method="GET", headers=None, data=None, timeout=30):
    """One request with urllib (no proxy); (status, headers, body bytes) whatever the
    status. `headers` of the answer is an http.client.HTTPMessage (case-insensitive)."""
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with _NO_PROXY.open(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, e.read()


class Server:
    """`maildex serve` as a child process. `start()` waits for its `listening on` line
    (START_TIMEOUT); `stop()` sends SIGTERM and returns the exit status."""

    LISTENING = re.compile(r"^listening on (http://(\S+):(\d+))$")

    def __init__(self, index, listen="127.0.0.1:0", token_file=None, threads=None, token=None):
        self.args = ["serve", "--index", str(index), "--listen", listen]
        if token_file:
            self.args += ["--token-file", str(token_file)]
        if threads:
            self.args += ["--threads", str(threads)]
        self.token = token
        self.proc = None
        self.url = None
        self.host = None
        self.port = None
        self.stdout_lines = []
        self.stderr_file = None
        self._stderr_text = None
        self._drain = None

    def start(self, timeout=START_TIMEOUT):
        self.stderr_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([binary(), *self.args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.stderr_file)
        lines = queue.Queue()

        def drain():
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip("\r\n")
                self.stdout_lines.append(line)
                lines.put(line)
            lines.put(None)

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = lines.get(timeout=max(0.01, left))
            except queue.Empty:
                self.kill()
                raise AssertionError(f"maildex serve printed no `listening on` line in {timeout} s; "
                                     f"stderr: {self.stderr()}")
            if line is None:
                code = self.proc.wait(timeout=STOP_TIMEOUT)
                self._close()
                raise AssertionError(f"maildex serve exited {code} before listening; stderr: {self.stderr()}")
            m = self.LISTENING.match(line)
            if m:
                self.url, self.host, self.port = m.group(1), m.group(2).strip("[]"), int(m.group(3))
                return self

    def stderr(self):
        """What the server wrote on stderr so far (all of it once it has exited)."""
        if self._stderr_text is not None:
            return self._stderr_text
        if not self.stderr_file:
            return ""
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode(errors="replace")

    def _close(self):
        """Once the process has exited: keeps its stderr, closes the pipes and files."""
        if self._stderr_text is None and self.stderr_file:
            self._stderr_text = self.stderr()
            self.stderr_file.close()
        if self._drain:
            self._drain.join(5)
        if self.proc and self.proc.stdout and not self.proc.stdout.closed and not (self._drain and self._drain.is_alive()):
            self.proc.stdout.close()

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signals the server and waits; its exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self._close()
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def get(self, path, headers=None, method="GET", data=None, timeout=30):
        """(status, headers, body) of PATH (already percent-encoded) on this server;
        the Bearer token, if the server was given one, unless headers say otherwise."""
        h = {}
        if self.token is not None:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        return http(self.url + path, method=method, headers=h, data=data, timeout=timeout)

    def get_json(self, path, **kw):
        status, headers, body = self.get(path, **kw)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {body[:500]!r}")
        return json.loads(body)

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        code = self.stop()
        if exc[0] is None and code != 0:
            raise AssertionError(f"maildex serve exited {code} after SIGTERM; stderr: {self.stderr()}")
        return False
