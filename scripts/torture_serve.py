#!/usr/bin/env python3
"""The serve campaigns of scripts/torture.sh: `maildex serve` under load while the index
changes under it, under a few hundred idle connections (slowloris), and sent malformed
requests. Standard library only; needs wrk for the load.

    scripts/torture_serve.py --bin MAILDEX --work DIR [--quick] [--seconds N]

Prints one line per campaign, `CAMPAIGN|TRIALS|FAILURES|NOTES`, for torture.sh's table;
each failure also goes to stderr as `  FAIL CAMPAIGN: why`.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fail(campaign, why, failures):
    print(f"  FAIL {campaign}: {why}", file=sys.stderr, flush=True)
    failures.append(why)


def memory(pid):
    """(RssAnon, VmRSS) of a process in KiB: its heap, and everything resident (the
    mapped index included)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("RssAnon", "VmRSS"):
                out[k] = int(v.split()[0])
    return out.get("RssAnon", 0), out.get("VmRSS", 0)


class Server:
    def __init__(self, binary, index, work):
        self.out = open(os.path.join(work, "serve.out"), "w+")
        self.proc = subprocess.Popen([binary, "serve", "--index", index, "--listen", "127.0.0.1:0", "--threads", "2"],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self.out.seek(0)
            m = re.search(r"listening on (http://\S+)", self.out.read())
            if m:
                self.url = m.group(1).rstrip("/")
                u = urllib.parse.urlparse(self.url)
                self.host, self.port = u.hostname, u.port
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit("torture_serve: the server did not start: " + open(self.out.name).read()[-500:])

    def get(self, path, timeout=10):
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def alive(self):
        try:
            return self.proc.poll() is None and self.get("/healthz", timeout=10)[0] == 200
        except OSError:
            return False

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def keys_of(binary, index, per_day):
    """Lookup keys taken from the newest sessions of each day: message ids, line ids with
    their date, peers and senders."""
    stats = json.loads(run([binary, "stats", "--index", index, "--json"]).stdout)
    keys = []
    for d in stats["days"]:
        out = run([binary, "query", "--index", index, "--json", "--limit", str(per_day), "--order", "newest", "date:" + d["date"]]).stdout
        for n, line in enumerate(out.decode().splitlines()):
            s = json.loads(line)
            kind = n % 4
            if kind == 0 and s["messages"]:
                keys.append("msg:" + s["messages"][0])
            elif kind == 1:
                keys.append(f"line:{s['line']} date:{s['date']}")
            elif kind == 2 and s["peer"]:
                keys.append("ip:" + s["peer"])
            elif kind == 3 and s["from"] and s["from"][0]:
                keys.append("from:" + s["from"][0])
    return list(dict.fromkeys(keys))


def load(args, server, binary, index, later_days, work):
    """wrk, 64 connections, for `seconds`, on a mix of lookups, counts and histograms,
    while `index` runs add the later days one by one (each commits and merges), then a
    compact: no failed request, no failed run, the heap flat."""
    campaign = "serve-load"
    failures = []
    if not shutil.which("wrk"):
        return campaign, 0, failures, "skipped: no wrk (apt-get install wrk)"
    keys = keys_of(binary, index, 15 if args.quick else 40)
    paths = []
    for k in keys:
        q = urllib.parse.quote(k)
        paths += [f"/api/v1/sessions?q={q}&limit=20", f"/api/v1/count?q={q}"]
    paths += ["/api/v1/histogram?q=" + urllib.parse.quote(keys[0]), "/api/v1/info", "/healthz"]
    with open(os.path.join(work, "paths"), "w") as f:
        f.write("\n".join(paths) + "\n")
    env = dict(os.environ, MAILDEX_PATHS=os.path.join(work, "paths"))
    mix = os.path.join(ROOT, "Benchmarks", "serve", "mix.lua")
    # Warm up (the cache, the mapped index), then measure from here.
    run(["wrk", "-t2", "-c16", "-d2s", "-s", mix, server.url], env=env)
    base_anon, base_rss = memory(server.proc.pid)
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.wait(0.5):
            try:
                samples.append((time.monotonic(), *memory(server.proc.pid)))
            except OSError:
                return

    runs = []

    def change_the_index():
        # Spread the runs over the load: each one commits a segment and merges.
        pause = args.seconds / (len(later_days) + 2)
        for day in later_days:
            time.sleep(pause)
            r = run([binary, "index", "--index", index, day])
            runs.append(("index " + os.path.basename(day), r.returncode, r.stderr.decode()[-300:]))
        time.sleep(pause / 2)
        r = run([binary, "compact", "--index", index])
        runs.append(("compact", r.returncode, r.stderr.decode()[-300:]))

    sampler = threading.Thread(target=sample, daemon=True)
    changer = threading.Thread(target=change_the_index, daemon=True)
    sampler.start(); changer.start()
    started = time.monotonic()
    w = run(["wrk", "-t2", "-c64", f"-d{args.seconds}s", "--timeout", "10s", "-s", mix, server.url], env=env)
    changer.join(); stop.set(); sampler.join()
    out = w.stdout.decode()
    m = re.search(r"RESULT (.*)", out)
    if not m:
        fail(campaign, "wrk gave no result: " + (out + w.stderr.decode())[-300:], failures)
        return campaign, 1, failures, "wrk failed"
    r = dict(kv.split("=") for kv in m.group(1).split())
    bad = {k: int(r[k]) for k in ("non2xx", "connect", "read", "write", "timeout") if int(r[k])}
    if bad:
        fail(campaign, f"failed requests: {bad}", failures)
    for what, rc, err in runs:
        if rc != 0:
            fail(campaign, f"{what} during the load: exit {rc}: {err}", failures)
    if len(runs) != len(later_days) + 1:
        fail(campaign, f"only {len(runs)} of {len(later_days) + 1} index runs ended during the load", failures)
    # The server answers from the index as it now is.
    cli = int(run([binary, "query", "--index", index, "--count", "since:1970-01-01"]).stdout)
    status, body = server.get("/api/v1/count?q=since:1970-01-01")
    if status != 200 or json.loads(body)["count"] != cli:
        fail(campaign, f"after the runs the server counts {body[:100]!r}, the CLI {cli}", failures)
    # The heap stays flat: the last quarter of the run holds no more than the first
    # quarter's peak by more than a quarter plus 32 MiB.
    half = [s for s in samples if s[0] - started < args.seconds / 4]
    end = [s for s in samples if s[0] - started > args.seconds * 3 / 4]
    first_peak = max([base_anon] + [s[1] for s in half])
    end_peak = max([0] + [s[1] for s in end])
    if end and end_peak > first_peak * 1.25 + 32 * 1024:
        fail(campaign, f"the heap grew: {first_peak} KiB at the start, {end_peak} KiB at the end", failures)
    peak_rss = max([base_rss] + [s[2] for s in samples])
    note = (f"wrk -c64 {args.seconds} s: {int(r['requests'])} requests ({r['rps']}/s, p99 {float(r['p99_ms']):.0f} ms), "
            f"0 failed of them but {sum(bad.values())}; {len(later_days)} index runs and a compact meanwhile; "
            f"heap {base_anon // 1024} MiB before, peak {max([base_anon] + [s[1] for s in samples]) // 1024} MiB, "
            f"{(end[-1][1] if end else base_anon) // 1024} MiB at the end (resident with the mapped index: "
            f"{base_rss // 1024} to {peak_rss // 1024} MiB)")
    return campaign, 1, failures, note.replace("0 failed of them but 0", "0 failed")


def slowloris(args, server):
    """A few hundred connections that send a request head a header at a time, slower and
    slower, held open while ordinary requests come: each of those answered in time."""
    campaign = "serve-slowloris"
    failures = []
    count = 200 if args.quick else 400
    hold = 8 if args.quick else 30
    socks = []
    for i in range(count):
        try:
            s = socket.create_connection((server.host, server.port), timeout=5)
            s.sendall(f"GET /api/v1/count?q=line:{i} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
            socks.append(s)
        except OSError as e:
            fail(campaign, f"connection {i} of {count} refused: {e}", failures)
            break
    stop = threading.Event()

    def trickle():
        n = 0
        while not stop.wait(1.5):
            n += 1
            for s in socks:
                try:
                    s.sendall(f"X-Slow-{n}: {n}\r\n".encode())
                except OSError:
                    pass

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    answered, slowest = 0, 0.0
    deadline = time.monotonic() + hold
    asked = 0
    while time.monotonic() < deadline:
        asked += 1
        start = time.monotonic()
        try:
            status, _ = server.get("/api/v1/count?q=since:1970-01-01", timeout=5)
            if status == 200:
                answered += 1
            else:
                fail(campaign, f"an ordinary request got {status} under the idle connections", failures)
        except OSError as e:
            fail(campaign, f"an ordinary request failed under the idle connections: {e}", failures)
        slowest = max(slowest, time.monotonic() - start)
        time.sleep(0.05)
    stop.set(); t.join()
    closed = 0
    for s in socks:
        try:
            s.setblocking(False)
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    if not server.alive():
        fail(campaign, "the server is gone after the idle connections", failures)
    note = (f"{len(socks)} connections sending a header every 1.5 s for {hold} s: {answered} of {asked} ordinary "
            f"requests answered meanwhile, the slowest in {slowest * 1000:.0f} ms; the server closed {closed} of the idle ones")
    return campaign, asked, failures, note


MALFORMED = [
    ("bad query syntax", b"GET /api/v1/sessions?q=ip%3A HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("unknown term", b"GET /api/v1/sessions?q=bogus%3Ax HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("unbalanced parentheses", b"GET /api/v1/count?q=%28ip%3A1.2.3.4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("q of 8 KiB", b"GET /api/v1/sessions?q=" + b"a" * 8192 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("q of 64 KiB", b"GET /api/v1/sessions?q=" + b"helo%3Ax+" * 7282 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("q of 1 MiB", b"GET /api/v1/sessions?q=" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("non-UTF-8 q, escaped", b"GET /api/v1/sessions?q=helo%3A%FF%FE HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("non-UTF-8 q, raw", b"GET /api/v1/sessions?q=helo:\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("bad percent escape", b"GET /api/v1/sessions?q=%zz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("NUL in q", b"GET /api/v1/sessions?q=ip%3A%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("bad cursor", b"GET /api/v1/sessions?q=since%3A1970-01-01&cursor=AAAA HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("cursor of another query", b"GET /api/v1/sessions?q=line%3A1&cursor=eyJ4IjoxfQ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("huge limit", b"GET /api/v1/sessions?q=line%3A1&limit=99999999999999999999 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("negative limit", b"GET /api/v1/sessions?q=line%3A1&limit=-1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("path traversal, escaped", b"GET /..%2f..%2fetc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("path traversal, plain", b"GET /../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("path traversal, dots escaped", b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("path traversal under the API", b"GET /api/v1/..%2f..%2f..%2fetc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("path traversal as an id", b"GET /api/v1/sessions/..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("unknown id", b"GET /api/v1/sessions/99999999999999999999 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("NUL in the path", b"GET /api/v1/sessions/%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("absolute URL of another host", b"GET http://evil.example/api/v1/info HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
    ("a Host that is not loopback", b"GET /api/v1/info HTTP/1.1\r\nHost: evil.example\r\n\r\n"),
    ("POST", b"POST /api/v1/sessions?q=line%3A1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"),
    ("PUT", b"PUT /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"),
    ("DELETE", b"DELETE /api/v1/sessions/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("PATCH", b"PATCH / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"),
    ("TRACE", b"TRACE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("OPTIONS", b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("CONNECT", b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("an invented method", b"BREW /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("a header of 64 KiB", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"),
    ("a header of 1 MiB", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"),
    ("2,000 headers", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(2000)) + b"\r\n"),
    ("a URL of 1 MiB", b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("garbage", b"GARBAGE\r\n\r\n"),
    ("binary garbage", bytes(range(256)) * 4 + b"\r\n\r\n"),
    ("HTTP/9.9", b"GET /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n"),
    ("negative Content-Length", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n"),
    ("bad chunked body", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ("two Content-Lengths", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
    ("a header without a colon", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nNoColonHere\r\n\r\n"),
    ("a bare LF in a header", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: b\nc\r\n\r\n"),
]


def malformed(args, server):
    """Each malformed request answered with a 4xx (never a 2xx, a 5xx or silence), and
    the server alive after each."""
    campaign = "serve-malformed"
    failures = []
    seen = {}
    for name, raw in MALFORMED:
        answer = b""
        try:
            with socket.create_connection((server.host, server.port), timeout=10) as s:
                try:
                    s.sendall(raw)
                except OSError:
                    pass  # closed while we sent: read what it said before
                try:
                    while not re.match(rb"HTTP/1\.[01] \d{3}", answer) and len(answer) < 64:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        answer += chunk
                except OSError:
                    pass
        except OSError as e:
            fail(campaign, f"{name}: could not connect: {e}", failures)
            continue
        m = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
        status = int(m.group(1)) if m else None
        seen[name] = status
        if status is None or not 400 <= status < 500:
            fail(campaign, f"{name}: answered {status if status else 'nothing'} (want a 4xx): {answer[:120]!r}", failures)
        if not server.alive():
            fail(campaign, f"{name}: the server is gone", failures)
            break
    codes = sorted(set(v for v in seen.values() if v))
    return campaign, len(MALFORMED), failures, f"{len(MALFORMED)} kinds of request, answered {', '.join(map(str, codes))}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seconds", type=int, default=None)
    p.add_argument("--only", default=None, help="load, slowloris or malformed")
    args = p.parse_args()
    if args.seconds is None:
        args.seconds = 15 if args.quick else 60
    work = os.path.join(args.work, "serve")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    logs, index = os.path.join(work, "logs"), os.path.join(work, "idx")
    per_day = "3000" if args.quick else "20000"
    run([args.bin, "generate", "--out", logs, "--days", "6", "--sessions-per-day", per_day, "--seed", "11"], check=True)
    days = sorted(os.path.join(logs, f) for f in os.listdir(logs) if f.endswith(".log"))
    run([args.bin, "index", "--index", index] + days[:3], check=True)
    server = Server(args.bin, index, work)
    results = []
    try:
        for name, f in (("load", lambda: load(args, server, args.bin, index, days[3:], work)),
                        ("slowloris", lambda: slowloris(args, server)),
                        ("malformed", lambda: malformed(args, server))):
            if args.only and args.only != name:
                continue
            results.append(f())
    finally:
        server.stop()
    for campaign, trials, failures, note in results:
        print(f"{campaign}|{trials}|{len(failures)}|{note}", flush=True)


if __name__ == "__main__":
    main()
