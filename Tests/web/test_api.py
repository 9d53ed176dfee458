"""The HTTP API of `maildex serve`, against the real binary, compared with the CLI.

One data dir (a generated corpus of two days, the two real 1999 logs and a hostile
log) and one server serve most tests; the token, signal and live-index tests start
servers of their own. Standard library only.
"""

import csv
import http.client
import io
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DATA = None
SERVER = None

# A question with a few hundred matches (the generated corpus) and the real session.
MANY = "since:2026-01-01 until:2026-01-26"  # the generated days, not the CGP fixtures (01-27, 01-28)
REAL = "line:509 date:1999-04-28"
NONE = "ip:10.255.255.254"
QUERIES = [MANY, REAL, NONE, "date:2026-01-02", "ip:" + harness.HOSTILE_IP, "to:recipes@hypertouch.com",
           "domain:example.net", "until:2026-01-01T12:00 since:2026-01-01T06:00", "1999-04-29"]

SESSION_KEYS = {"date", "line", "start", "end", "complete", "peer", "port", "helo", "from", "to",
                "rejected", "messages", "server", "direction", "tls", "auth", "source", "lines"}
# The CommuniGate relay's real lines, indexed as the server `relay` (harness.DataDir).
RELAY = "server:relay"


def setUpModule():
    global DATA, SERVER
    DATA = harness.DataDir.create()
    try:
        SERVER = harness.Server(DATA.index).start()
    except BaseException:
        DATA.cleanup()
        raise


def tearDownModule():
    code = SERVER.stop() if SERVER else 0
    if DATA:
        DATA.cleanup()
    if code != 0:
        raise AssertionError(f"the shared server exited {code} after SIGTERM")


def qs(**params):
    """A percent-encoded query string (spaces as %20)."""
    return urllib.parse.urlencode({k: str(v) for k, v in params.items()}, quote_via=urllib.parse.quote)


# MARK: The CLI, for comparison

def cli_json(terms, index=None):
    p = harness.run("query", "--index", index or DATA.index, "--json", *terms.split(), check=False)
    if p.returncode == 1:
        return []
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.decode().splitlines() if line]


def cli_count(terms, index=None):
    p = harness.run("query", "--index", index or DATA.index, "--count", *terms.split(), check=False)
    assert p.returncode in (0, 1), p.stderr
    return int(p.stdout.decode().strip())


def cli_stats(terms="", index=None):
    p = harness.run("stats", "--index", index or DATA.index, "--json", *terms.split())
    return json.loads(p.stdout)


def cli_evidence(terms):
    return harness.run("query", "--index", DATA.index, "--evidence", *terms.split()).stdout


def cli_summary(terms):
    return harness.run("query", "--index", DATA.index, "--summary", *terms.split()).stdout.decode()


# MARK: The API

def get(path, server=None, **kw):
    return (server or SERVER).get(path, **kw)


def get_json(path, server=None):
    return (server or SERVER).get_json(path)


def all_pages(q, limit, order=None, server=None, messages=None):
    """Every page of /api/v1/sessions, following `next`."""
    params = {"q": q, "limit": limit}
    if order:
        params["order"] = order
    if messages is not None:
        params["messages"] = messages
    pages = [get_json("/api/v1/sessions?" + qs(**params), server)]
    while pages[-1]["next"] is not None:
        assert len(pages) < 10000, "next never ends"
        pages.append(get_json("/api/v1/sessions?" + qs(cursor=pages[-1]["next"], **params), server))
    return pages


def all_sessions(q, order=None, server=None, messages=None):
    return [s for p in all_pages(q, 1000, order, server, messages) for s in p["sessions"]]


def short(path):
    """A path for a message: long ones cut."""
    return path if len(path) <= 160 else f"{path[:160]}... ({len(path)} characters)"


def without_id(obj):
    return {k: v for k, v in obj.items() if k != "id"}


class APITestCase(unittest.TestCase):
    maxDiff = 4000

    def assertError(self, status, path, server=None, method="GET", **kw):
        """PATH answers STATUS with a JSON {"error","hint"} body and the security headers."""
        got, headers, body = get(path, server, method=method, **kw)
        path = short(path)
        self.assertEqual(got, status, f"{method} {path}: {got} {body[:300]!r}")
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"),
                        f"{method} {path}: {got}, Content-Type {headers.get('Content-Type')!r}, body {body[:300]!r}")
        obj = json.loads(body)
        self.assertEqual(set(obj), {"error", "hint"}, f"{path}: {obj}")
        self.assertIsInstance(obj["error"], str)
        self.assertIsInstance(obj["hint"], str)
        self.assertTrue(obj["error"], f"{path}: empty error")
        self.assertSecurityHeaders(headers, path)
        return obj

    def assertSecurityHeaders(self, headers, what):
        for name, value in harness.SECURITY_HEADERS.items():
            self.assertEqual(headers.get(name), value, f"{short(what)}: header {name} (headers: {dict(headers)})")

    def assertAlive(self, server=None):
        status, _, body = get("/healthz", server)
        self.assertEqual((status, body.strip()), (200, b"ok"), "the server is not alive")


class StartTests(APITestCase):
    def test_listening_line(self):
        self.assertRegex(SERVER.stdout_lines[0], r"^listening on http://127\.0\.0\.1:\d+$")
        self.assertEqual(SERVER.host, "127.0.0.1")
        self.assertNotEqual(SERVER.port, 0, "port 0 must be replaced by the real port")

    def test_help_names_default_listen(self):
        out = harness.run("serve", "--help").stdout.decode()
        self.assertIn("127.0.0.1:8025", out)
        for option in ("--index", "--listen", "--token-file", "--threads"):
            self.assertIn(option, out)

    def test_threads_option(self):
        with harness.Server(DATA.index, threads=1) as s:
            self.assertEqual(get_json("/api/v1/count?" + qs(q=MANY), s), {"count": cli_count(MANY)})


class HealthInfoTests(APITestCase):
    def test_healthz(self):
        status, headers, body = get("/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(body.strip(), b"ok")
        self.assertTrue(headers.get("Content-Type", "").startswith("text/plain"), dict(headers))

    def test_head_healthz(self):
        # A 405 answers `Allow: GET, HEAD`; HEAD of a GET resource is the GET without its body.
        status, headers, body = get("/healthz", method="HEAD")
        self.assertEqual(status, 200, f"HEAD /healthz: {status} {dict(headers)}")
        self.assertEqual(body, b"")
        self.assertSecurityHeaders(headers, "HEAD /healthz")

    def test_info(self):
        info = get_json("/api/v1/info")
        self.assertEqual(set(info), {"segments", "sourceFiles", "sessions", "firstDate", "lastDate", "formatVersion"})
        self.assertEqual(info["sourceFiles"], 7)  # 2 generated, 2 of 1999, the hostile log, 2 CGP
        self.assertEqual(info["sessions"], cli_stats()["sessions"])
        self.assertEqual(info["sessions"], len(all_sessions("since:1900-01-01")))
        self.assertEqual(info["firstDate"], "1999-04-28")
        self.assertEqual(info["lastDate"], "2026-01-28")  # the CGP relay's day
        self.assertIsInstance(info["segments"], int)
        self.assertGreaterEqual(info["segments"], 1)
        self.assertIsInstance(info["formatVersion"], int)
        self.assertGreaterEqual(info["formatVersion"], 1)


class SessionsTests(APITestCase):
    @classmethod
    def setUpClass(cls):
        cls.total = cli_count(MANY)
        assert 200 <= cls.total <= 2000, f"{MANY} matches {cls.total} sessions; the paging tests want a few hundred"

    def test_objects_are_query_json_plus_id(self):
        for q in QUERIES:
            with self.subTest(q=q):
                api = all_sessions(q)
                cli = cli_json(q)
                self.assertEqual(len(api), len(cli))
                for a, c in zip(api, cli):
                    self.assertEqual(set(a), set(c) | {"id"})
                    self.assertIsInstance(a["id"], str)
                    self.assertTrue(a["id"])
                    self.assertEqual(without_id(a), c)
                if cli:
                    self.assertEqual(set(cli[0]), SESSION_KEYS)

    def test_paging_reaches_every_match(self):
        limit = 7
        pages = all_pages(MANY, limit)
        everything = [s["id"] for s in all_sessions(MANY)]
        self.assertEqual(len(everything), self.total)
        self.assertEqual(len(pages), math.ceil(self.total / limit))
        ids = []
        for k, page in enumerate(pages):
            self.assertEqual(set(page), {"sessions", "next", "total"})
            self.assertEqual(page["total"], self.total, f"page {k}")
            last = k == len(pages) - 1
            self.assertEqual(len(page["sessions"]), self.total - limit * k if last else limit, f"page {k}")
            if last:
                self.assertIsNone(page["next"])
            else:
                self.assertIsInstance(page["next"], str)
            ids += [s["id"] for s in page["sessions"]]
        self.assertEqual(len(ids), len(set(ids)), "a session on two pages")
        self.assertEqual(ids, everything)
        numbers = [int(i) for i in ids]
        self.assertEqual(numbers, sorted(numbers), "oldest first is by session number")
        # The same sessions as the CLI, in the same order.
        self.assertEqual([without_id(s) for p in pages for s in p["sessions"]], cli_json(MANY))

    def test_order_newest_is_reversed(self):
        oldest = [s["id"] for s in all_sessions(MANY)]
        pages = all_pages(MANY, 7, order="newest")
        newest = [s["id"] for p in pages for s in p["sessions"]]
        self.assertEqual(newest, oldest[::-1])
        self.assertIsNone(pages[-1]["next"])
        self.assertTrue(all(p["total"] == self.total for p in pages))
        self.assertEqual(get_json("/api/v1/sessions?" + qs(q=MANY, order="oldest", limit=5))["sessions"],
                         all_sessions(MANY)[:5])

    def test_limits(self):
        page = get_json("/api/v1/sessions?" + qs(q=MANY))
        self.assertEqual(len(page["sessions"]), min(100, self.total), "the default limit is 100")
        self.assertIsNotNone(page["next"])
        for limit in (1, 1000):
            with self.subTest(limit=limit):
                page = get_json("/api/v1/sessions?" + qs(q=MANY, limit=limit))
                self.assertEqual(len(page["sessions"]), min(limit, self.total))
                self.assertEqual(page["total"], self.total)
        page = get_json("/api/v1/sessions?" + qs(q=MANY, limit=1000))
        self.assertIsNone(page["next"])

    def test_cursor_belongs_to_no_query(self):
        # A cursor says where the next page starts; it works for the same question only,
        # but must never fail with another one.
        first = get_json("/api/v1/sessions?" + qs(q=MANY, limit=3))
        other = get_json("/api/v1/sessions?" + qs(q="date:2026-01-02", limit=3, cursor=first["next"]))
        self.assertEqual(other["total"], cli_count("date:2026-01-02"))

    def test_no_match(self):
        page = get_json("/api/v1/sessions?" + qs(q=NONE))
        self.assertEqual(page, {"sessions": [], "next": None, "total": 0})

    def test_ids_round_trip(self):
        sessions = all_sessions("since:1900-01-01")
        self.assertGreater(len(sessions), 600)
        for s in sessions:
            status, headers, body = get(f"/api/v1/sessions/{s['id']}")
            self.assertEqual(status, 200, s["id"])
            self.assertEqual(json.loads(body), s)
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"))


class EvidenceTests(APITestCase):
    def unique_id(self, terms):
        page = get_json("/api/v1/sessions?" + qs(q=terms))
        self.assertEqual(page["total"], 1, terms)
        return page["sessions"][0]["id"]

    def test_evidence_equals_cli(self):
        id = self.unique_id(REAL)
        status, headers, body = get(f"/api/v1/sessions/{id}/evidence")
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("Content-Type", "").startswith("text/plain"), dict(headers))
        self.assertEqual(body, cli_evidence(REAL))
        self.assertIn(b"S.0000014724", body)
        self.assertSecurityHeaders(headers, "evidence")

    def test_evidence_of_other_sessions(self):
        terms = ["line:750 date:1999-04-29", f"line:{harness.HOSTILE_LINE} ip:{harness.HOSTILE_IP}"]
        # Generated sessions: the first few with a single match for line, date and peer.
        for s in all_sessions(MANY)[:40:8]:
            terms.append(f"line:{s['line']} date:{s['date']} ip:{s['peer']} since:{s['date']}T{s['start'][:5]}"
                         f" until:{s['date']}T{s['start'][:5]}")
        terms = [t for t in terms if cli_count(t) == 1]
        self.assertGreaterEqual(len(terms), 4)
        for t in terms:
            with self.subTest(terms=t):
                id = self.unique_id(t)
                status, _, body = get(f"/api/v1/sessions/{id}/evidence")
                self.assertEqual(status, 200)
                self.assertEqual(body, cli_evidence(t))

    def test_lines(self):
        id = self.unique_id(REAL)
        obj = get_json(f"/api/v1/sessions/{id}/lines")
        self.assertEqual(set(obj), {"id", "summary", "complete", "server", "direction", "tls", "auth", "messageIds",
                                    "lines", "messages"})
        self.assertEqual((obj["server"], obj["direction"], obj["tls"], obj["auth"]), (None, "in", False, None))
        self.assertEqual(obj["messageIds"], ["S.0000014724"])
        # The records about its message, each where the log has it.
        trail = get_json(f"/api/v1/sessions/{id}?messages=1")["messageLines"]
        self.assertEqual([l["text"] for l in obj["messages"]], trail)
        self.assertEqual(len(trail), 4)
        self.assertEqual(obj["id"], id)
        self.assertIs(obj["complete"], True)
        self.assertEqual(obj["summary"], cli_summary(REAL).rstrip("\n"))
        session = get_json(f"/api/v1/sessions/{id}")
        self.assertEqual([l["text"] for l in obj["lines"]], session["lines"])
        raw = (DATA.logs / "1999-04-28.log").read_bytes()
        numbers = [l["line"] for l in obj["lines"]]
        self.assertEqual(numbers, sorted(set(numbers)))
        self.assertEqual(numbers[0], session["source"]["firstLine"])
        self.assertEqual(numbers[-1], session["source"]["lastLine"])
        for l in obj["lines"]:
            self.assertEqual(set(l), {"file", "line", "offset", "text"})
            self.assertEqual(l["file"], "1999-04-28.log")
            text = l["text"].encode()
            self.assertEqual(raw[l["offset"]:l["offset"] + len(text)], text, l)
            self.assertEqual(raw.count(b"\n", 0, l["offset"]), l["line"] - 1, l)

    def test_lines_of_interleaved_session(self):
        # A generated session's lines are among other sessions' lines: offsets still point at them.
        s = all_sessions(MANY)[5]
        obj = get_json(f"/api/v1/sessions/{s['id']}/lines")
        self.assertEqual([l["text"] for l in obj["lines"]], s["lines"])
        self.assertIs(obj["complete"], s["complete"])
        raw = (DATA.logs / s["source"]["file"]).read_bytes()
        for l in obj["lines"]:
            text = l["text"].encode()
            self.assertEqual(raw[l["offset"]:l["offset"] + len(text)], text, l)


class CountStatsHistogramTests(APITestCase):
    def test_count_equals_cli(self):
        for q in QUERIES:
            with self.subTest(q=q):
                status, headers, body = get("/api/v1/count?" + qs(q=q))
                self.assertEqual(status, 200)
                self.assertEqual(json.loads(body), {"count": cli_count(q)})
                self.assertTrue(headers.get("Content-Type", "").startswith("application/json"))

    def test_stats_equal_cli(self):
        self.assertEqual(get_json("/api/v1/stats"), cli_stats())
        self.assertEqual(get_json("/api/v1/stats?q="), cli_stats())
        for q in QUERIES:
            with self.subTest(q=q):
                self.assertEqual(get_json("/api/v1/stats?" + qs(q=q)), cli_stats(q))
        p = harness.run("stats", "--index", DATA.index, "--json", "--top", "3", *MANY.split())
        self.assertEqual(get_json("/api/v1/stats?" + qs(q=MANY, top=3)), json.loads(p.stdout))

    def test_histogram(self):
        for q in QUERIES:
            count = cli_count(q)
            for bucket in ("day", "hour", "auto"):
                with self.subTest(q=q, bucket=bucket):
                    h = get_json("/api/v1/histogram?" + qs(q=q, bucket=bucket))
                    self.assertEqual(set(h), {"bucket", "total", "buckets"})
                    self.assertIn(h["bucket"], ("day", "hour") if bucket == "auto" else (bucket,))
                    self.assertEqual(h["total"], count)
                    self.assertEqual(sum(b["sessions"] for b in h["buckets"]), count)
                    starts = [b["start"] for b in h["buckets"]]
                    self.assertEqual(starts, sorted(starts))
                    self.assertEqual(len(starts), len(set(starts)))
                    pattern = r"^\d{4}-\d\d-\d\d$" if h["bucket"] == "day" else r"^\d{4}-\d\d-\d\dT\d\d$"
                    for b in h["buckets"]:
                        self.assertEqual(set(b), {"start", "sessions", "terms"})
                        self.assertRegex(b["start"], pattern)
                        self.assertGreaterEqual(b["sessions"], 0)
                    if h["buckets"]:
                        # Empty bars may fill the gaps, not stand at either end.
                        self.assertGreater(h["buckets"][0]["sessions"], 0)
                        self.assertGreater(h["buckets"][-1]["sessions"], 0)

    def test_histogram_bucket_terms_select_the_bucket(self):
        for bucket in ("day", "hour"):
            h = get_json("/api/v1/histogram?" + qs(q=MANY, bucket=bucket))
            for b in h["buckets"][:: max(1, len(h["buckets"]) // 6)] + [b for b in h["buckets"] if b["sessions"] == 0][:2]:
                with self.subTest(bucket=bucket, start=b["start"]):
                    self.assertEqual(get_json("/api/v1/count?" + qs(q=MANY + " " + b["terms"]))["count"], b["sessions"])

    def test_histogram_auto(self):
        # The generated corpus spans two days: per hour; the whole index: per day.
        self.assertEqual(get_json("/api/v1/histogram?" + qs(q=MANY, bucket="auto"))["bucket"], "hour")
        self.assertEqual(get_json("/api/v1/histogram?" + qs(q="since:1900-01-01", bucket="auto"))["bucket"], "day")


class ExportTests(APITestCase):
    def test_ndjson(self):
        for q in (MANY, REAL, "ip:" + harness.HOSTILE_IP, "since:1900-01-01"):
            with self.subTest(q=q):
                status, headers, body = get("/api/v1/export?" + qs(q=q, format="ndjson"))
                self.assertEqual(status, 200)
                self.assertTrue(headers.get("Content-Type", "").startswith("application/x-ndjson"), dict(headers))
                self.assertSecurityHeaders(headers, "export ndjson")
                self.assertTrue(body.endswith(b"\n"))
                lines = [json.loads(l) for l in body.decode().split("\n")[:-1]]
                self.assertEqual(lines, all_sessions(q))
                self.assertEqual([without_id(l) for l in lines], cli_json(q))

    def test_ndjson_is_the_default(self):
        self.assertEqual(get("/api/v1/export?" + qs(q=MANY))[2], get("/api/v1/export?" + qs(q=MANY, format="ndjson"))[2])

    def test_csv(self):
        for q in (MANY, REAL, "ip:" + harness.HOSTILE_IP):
            with self.subTest(q=q):
                status, headers, body = get("/api/v1/export?" + qs(q=q, format="csv"))
                self.assertEqual(status, 200)
                self.assertTrue(headers.get("Content-Type", "").startswith("text/csv"), dict(headers))
                self.assertSecurityHeaders(headers, "export csv")
                rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
                header, rows = rows[0], rows[1:]
                self.assertEqual(header[0], "id")
                for key in ("date", "line", "peer", "helo", "from", "to"):
                    self.assertIn(key, header)
                sessions = all_sessions(q)
                self.assertEqual(len(rows), len(sessions))
                self.assertTrue(all(len(r) == len(header) for r in rows))
                self.assertEqual([r[0] for r in rows], [s["id"] for s in sessions])
                col = {name: header.index(name) for name in header}
                for r, s in zip(rows, sessions):
                    self.assertEqual(r[col["date"]], s["date"])
                    self.assertEqual(r[col["line"]], str(s["line"]))
                    self.assertEqual(r[col["peer"]], s["peer"] or "")

    def test_empty_export(self):
        status, _, body = get("/api/v1/export?" + qs(q=NONE))
        self.assertEqual((status, body), (200, b""))
        status, _, body = get("/api/v1/export?" + qs(q=NONE, format="csv"))
        self.assertEqual(status, 200)
        self.assertEqual(len(list(csv.reader(io.StringIO(body.decode(), newline="")))), 1)

    def test_export_newest(self):
        status, _, body = get("/api/v1/export?" + qs(q=MANY, order="newest"))
        self.assertEqual(status, 200)
        ids = [json.loads(l)["id"] for l in body.decode().splitlines()]
        self.assertEqual(ids, [s["id"] for s in all_sessions(MANY)][::-1])


class HostileTests(APITestCase):
    """The hostile session's markup comes back as data, verbatim."""

    def test_values_kept_literally(self):
        page = get_json("/api/v1/sessions?" + qs(q="ip:" + harness.HOSTILE_IP))
        self.assertEqual(page["total"], 1)
        s = page["sessions"][0]
        self.assertEqual(s["helo"], harness.HOSTILE_HELO)
        self.assertEqual(s["from"], [harness.HOSTILE_FROM])
        self.assertEqual(s["line"], harness.HOSTILE_LINE)
        self.assertEqual(s["date"], "1999-05-01")
        self.assertEqual(s["source"]["file"], harness.HOSTILE_FILE)
        self.assertEqual(get_json(f"/api/v1/sessions/{s['id']}"), s)
        lines = get_json(f"/api/v1/sessions/{s['id']}/lines")
        self.assertIn(harness.HOSTILE_HELO, lines["summary"])
        self.assertTrue(any(harness.HOSTILE_FROM in l["text"] for l in lines["lines"]))
        status, headers, body = get(f"/api/v1/sessions/{s['id']}/evidence")
        self.assertIn(harness.HOSTILE_HELO.encode(), body)
        self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff")
        self.assertFalse(headers.get("Content-Type", "").startswith("text/html"))

    def test_query_by_hostile_values(self):
        for q in ("helo:" + harness.HOSTILE_HELO, "from:" + harness.HOSTILE_FROM):
            with self.subTest(q=q):
                status, _, body = get("/api/v1/count?" + qs(q=q))
                self.assertLess(status, 500)
                if status == 200:
                    self.assertEqual(json.loads(body), {"count": cli_count(q)})

    def test_csv_keeps_markup(self):
        body = get("/api/v1/export?" + qs(q="ip:" + harness.HOSTILE_IP, format="csv"))[2].decode()
        header, row = list(csv.reader(io.StringIO(body, newline="")))
        self.assertEqual(row[header.index("helo")], harness.HOSTILE_HELO)
        self.assertEqual(row[header.index("from")], harness.HOSTILE_FROM)


class CSVFormulaTests(APITestCase):
    """A CSV cell a spreadsheet would run as a formula gets a leading `'`; JSON keeps the value."""

    HELO = '=HYPERLINK("http://evil.example")'
    FROM = "@sum(1+1)@evil.example"

    def test_formula_cells_defused(self):
        text = (harness.WEB_FIXTURES / "hostile.log").read_text(encoding="latin-1")
        text = text.replace(harness.HOSTILE_HELO, self.HELO).replace(harness.HOSTILE_FROM, self.FROM)
        with tempfile.TemporaryDirectory(prefix="maildex-csv-") as tmp:
            log = Path(tmp) / "1999-05-02.log"
            log.write_text(text, encoding="latin-1")
            harness.run("index", "--index", Path(tmp) / "index", log)
            with harness.Server(Path(tmp) / "index") as s:
                session = get_json("/api/v1/sessions?" + qs(q="ip:" + harness.HOSTILE_IP), s)["sessions"][0]
                self.assertEqual((session["helo"], session["from"]), (self.HELO, [self.FROM]))
                status, _, body = get("/api/v1/export?" + qs(q="ip:" + harness.HOSTILE_IP, format="csv"), s)
                self.assertEqual(status, 200)
                header, row = list(csv.reader(io.StringIO(body.decode(), newline="")))
                self.assertEqual(row[header.index("helo")], "'" + self.HELO)
                self.assertEqual(row[header.index("from")], "'" + self.FROM)
                status, _, body = get("/api/v1/export?" + qs(q="ip:" + harness.HOSTILE_IP), s)
                self.assertEqual(json.loads(body)["helo"], self.HELO)


class ErrorTests(APITestCase):
    def test_bad_terms(self):
        syntax = harness.run("query", "--index", DATA.index, "bogus:x", check=False)
        self.assertEqual(syntax.returncode, 2)
        for q in ("bogus:x", "ip:1.2.3.4/99", "since:2026-13-45", "domain:", "a", "line:abc", "ip:::::"):
            for endpoint in ("sessions", "count", "stats", "histogram", "export"):
                with self.subTest(q=q, endpoint=endpoint):
                    obj = self.assertError(400, f"/api/v1/{endpoint}?" + qs(q=q))
                    self.assertIn("ip:203.0.113.9", obj["hint"], "the hint holds the syntax")
                    self.assertIn(obj["hint"].strip(), syntax.stderr.decode(), "the hint is the CLI's syntax")

    def test_no_terms(self):
        for endpoint in ("sessions", "count", "histogram", "export"):
            with self.subTest(endpoint=endpoint):
                self.assertError(400, f"/api/v1/{endpoint}")
                self.assertError(400, f"/api/v1/{endpoint}?q=")
                self.assertError(400, f"/api/v1/{endpoint}?q=%20%20")

    def test_bad_limit(self):
        for limit in ("0", "-1", "1001", "abc", "1.5", "1e3", "0x10", "99999999999999999999999"):
            with self.subTest(limit=limit):
                self.assertError(400, f"/api/v1/sessions?q={urllib.parse.quote(MANY)}&limit={limit}")

    def test_bad_cursor(self):
        first = get_json("/api/v1/sessions?" + qs(q=MANY, limit=3))
        good = first["next"]
        altered = good[:-1] + ("0" if good[-1] != "0" else "1")
        for cursor in ("zzz", "0", "%ff", altered, good + "00", good[:-2], "x" * 28, "null"):
            with self.subTest(cursor=cursor):
                obj = self.assertError(400, f"/api/v1/sessions?q={urllib.parse.quote(MANY)}&cursor={cursor}")
        # A cursor of the other order.
        self.assertError(400, "/api/v1/sessions?" + qs(q=MANY, cursor=good, order="newest"))
        self.assertIn("next", obj["hint"])

    def test_bad_choices(self):
        self.assertError(400, "/api/v1/sessions?" + qs(q=MANY, order="sideways"))
        self.assertError(400, "/api/v1/histogram?" + qs(q=MANY, bucket="week"))
        self.assertError(400, "/api/v1/export?" + qs(q=MANY, format="xml"))

    def test_not_utf8(self):
        for q in ("%ff", "%c0%af", "ip:%ed%a0%80", "%fe%ff"):
            for endpoint in ("sessions", "count", "stats", "histogram", "export"):
                with self.subTest(q=q, endpoint=endpoint):
                    self.assertError(400, f"/api/v1/{endpoint}?q={q}")
        self.assertError(400, "/api/v1/sessions?q=line:509&order=%ff")

    def test_bad_percent(self):
        for q in ("%", "%2", "%zz", "line:509%"):
            with self.subTest(q=q):
                self.assertError(400, f"/api/v1/count?q={q}")

    def test_long_query(self):
        ok = MANY + " " * (4096 - len(MANY))
        self.assertEqual(get_json("/api/v1/count?" + qs(q=ok)), {"count": cli_count(MANY)})
        for n in (4097, 5000, 20000):
            with self.subTest(bytes=n):
                self.assertError(400, "/api/v1/count?" + qs(q=MANY + " " * (n - len(MANY))))
        self.assertError(400, "/api/v1/sessions?" + qs(q="x" * 4097))
        self.assertAlive()

    def test_very_long_query(self):
        # Over 4 KiB but within the HTTP parser's 80 KiB request head (60 KB once
        # percent-encoded): the API's 400.
        self.assertError(400, "/api/v1/count?" + qs(q=MANY + " " * 20_000))
        # Longer than the parser takes: it refuses the request (400, connection closed)
        # before the API sees it; the server answers the next one.
        status, _, _ = get("/api/v1/count?" + qs(q=MANY + " " * 100_000))
        self.assertEqual(status, 400)
        self.assertAlive()

    def test_unknown_ids(self):
        for id in ("99999999", "18446744073709551615", "18446744073709551616", "abc", "-1", "1.0", "0x1",
                   "%20", "9" * 1000, "%E2%80%AE", "1%2f..", "0;1"):
            for tail in ("", "/evidence", "/lines"):
                with self.subTest(id=id, tail=tail):
                    self.assertError(404, f"/api/v1/sessions/{id}{tail}")

    def test_unknown_paths(self):
        for path in ("/nope", "/api/v1/nope", "/api/v2/sessions?q=line:509", "/api/v1", "/api/v1/sessions/0/nope",
                     "/..%2f..%2fetc/passwd", "/../../etc/passwd", "/api/v1/..%2f..%2f..%2fetc/passwd",
                     "/%2e%2e/%2e%2e/etc/passwd", "/api/v1/sessions/..%2f..%2f..%2fetc%2fpasswd",
                     "/static/..%2f..%2fetc/passwd", "/app.js/..%2f..%2fetc/passwd", "//etc/passwd",
                     "/api/v1/sessions/0/evidence/../../../../etc/passwd"):
            with self.subTest(path=path):
                obj = self.assertError(404, path)
                self.assertNotIn("root:", json.dumps(obj))

    def test_methods(self):
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            for path in ("/api/v1/sessions?q=line:509", "/healthz", "/api/v1/sessions/0", "/nope"):
                with self.subTest(method=method, path=path):
                    self.assertError(405, path, method=method, data=b"{}" if method in ("POST", "PUT", "PATCH") else None)
        self.assertAlive()

    def test_never_5xx(self):
        paths = [
            "/api/v1/sessions?q=%00", "/api/v1/sessions?q=ip:%00", "/api/v1/count?q=h%C3%A9llo",
            "/api/v1/count?q=line:509&q=bogus:x", "/api/v1/sessions?&&&&", "/api/v1/sessions?=",
            "/api/v1/sessions?q", "/api/v1/sessions?q==", "/api/v1/sessions?%=x", "/api/v1/sessions?%ff=1",
            "/api/v1/count?q=since:9999-12-31+until:0001-01-01", "/api/v1/count?q=ip:0.0.0.0/0",
            "/api/v1/count?q=ip:::/0", "/api/v1/count?q=" + "+".join(["line:509"] * 300),
            "/api/v1/histogram?q=since:0001-01-01&bucket=hour", "/api/v1/histogram?q=ip:0.0.0.0/0&bucket=hour",
            "/api/v1/stats?q=line:509&top=0", "/api/v1/stats?q=line:509&top=abc", "/api/v1/stats?q=line:509&top=1000",
            "/api/v1/sessions?q=line:509&limit=1&limit=2", "/api/v1/sessions?q=date:0000-00-00",
            "/api/v1/sessions?q=line:SMTP-", "/api/v1/sessions?q=line:SMTPI-99999999999999999999",
            "/api/v1/sessions?q=msg:", "/api/v1/sessions?q=%22%3E%3Cscript%3E", "/api/v1/sessions?q=addr:%40",
            "/api/v1/sessions?q=ip:1.2.3.4%2F-1", "/api/v1/sessions?q=ip:2001:db8::1%2F129",
            "/api/v1/sessions?q=since:2026-01-01T25:99", "/api/v1/sessions?q=since:2026-02-30",
            "/api/v1/sessions/0/evidence?x=%zz", "/api/v1/info?x=%ff", "/healthz?%ff",
            "/api/v1/export?q=line:509&format=", "/api/v1/histogram?q=line:509&bucket=",
            "/api/v1/sessions?q=line:509&order=", "/api/v1/sessions?q=line:509&cursor=",
        ]
        for path in paths:
            with self.subTest(path=path):
                status, headers, body = get(path)
                self.assertLess(status, 500, f"{path}: {body[:300]!r}")
                self.assertSecurityHeaders(headers, path)
                if status >= 400:
                    self.assertEqual(set(json.loads(body)), {"error", "hint"})
                else:
                    self.assertEqual(status, 200)
        self.assertAlive()

    def test_raw_requests(self):
        # Requests urllib would not send: the server answers each (or closes) and lives.
        for raw in (b"GET /api/v1/count?q=line:509 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    b"GET /api/v1/count?q=line%3A509\xff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    b"GET /api/v1/sessions/\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    b"GARBAGE\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
                    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
            with self.subTest(raw=raw):
                with socket.create_connection((SERVER.host, SERVER.port), timeout=10) as sock:
                    sock.sendall(raw)
                    try:
                        answer = sock.recv(65536)
                    except (ConnectionResetError, socket.timeout):
                        answer = b""
                m = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
                if m:
                    self.assertLess(int(m.group(1)), 500, answer[:300])
                self.assertAlive()


    def raw_status(self, raw):
        with socket.create_connection((SERVER.host, SERVER.port), timeout=10) as sock:
            sock.sendall(raw)
            answer = b""
            while b"\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        m = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
        return int(m.group(1)) if m else None

    def test_oversized_headers(self):
        # Under the HTTP parser's own bound (80 KiB) but over the server's (32 KiB): 431.
        big = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"
        self.assertEqual(self.raw_status(big), 431)
        many = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 40) for i in range(800)) + b"\r\n"
        self.assertEqual(self.raw_status(many), 431)
        # A few KiB of headers are fine.
        self.assertEqual(self.raw_status(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: " + b"a" * 4000 + b"\r\n\r\n"), 200)
        self.assertAlive()

    def test_a_get_with_a_body_is_refused(self):
        for raw in (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                    b"GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"):
            with self.subTest(raw=raw):
                self.assertEqual(self.raw_status(raw), 400)
        self.assertEqual(self.raw_status(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"), 200)
        self.assertAlive()


class ConnectionTests(APITestCase):
    def test_client_gone_during_export(self):
        path = "/api/v1/export?" + qs(q="since:1900-01-01")
        for _ in range(5):
            with socket.create_connection((SERVER.host, SERVER.port), timeout=10) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                self.assertTrue(sock.recv(100).startswith(b"HTTP/1.1 200"))
        self.assertAlive()
        status, _, body = get(path)
        self.assertEqual(status, 200)
        self.assertEqual(len(body.splitlines()), cli_count("since:1900-01-01"))

    def test_idle_connections_block_nobody(self):
        socks = [socket.create_connection((SERVER.host, SERVER.port), timeout=10) for _ in range(20)]
        try:
            socks[0].sendall(b"GET /api/v1/count?q=line:509 HTTP/1.1\r\n")  # a head never finished
            start = time.monotonic()
            self.assertAlive()
            self.assertEqual(get_json("/api/v1/count?" + qs(q=REAL)), {"count": 1})
            self.assertLess(time.monotonic() - start, 5)
        finally:
            for sock in socks:
                sock.close()

    def test_keep_alive(self):
        c = http.client.HTTPConnection(SERVER.host, SERVER.port, timeout=10)
        try:
            for path in ("/healthz", "/api/v1/count?" + qs(q=REAL), "/api/v1/sessions?q=bogus:x", "/nope",
                         "/api/v1/export?" + qs(q=REAL), "/healthz"):
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                self.assertLess(r.status, 500, path)
        finally:
            c.close()

    def test_ipv6_loopback(self):
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback here")
        with harness.Server(DATA.index, listen="[::1]:0") as s:
            self.assertRegex(s.stdout_lines[0], r"^listening on http://\[::1\]:\d+$")
            self.assertEqual(get_json("/api/v1/count?" + qs(q=MANY), s), {"count": cli_count(MANY)})


class HeaderTests(APITestCase):
    def test_security_headers_everywhere(self):
        id = get_json("/api/v1/sessions?" + qs(q=REAL))["sessions"][0]["id"]
        paths = ["/healthz", "/", "/api/v1/info", "/api/v1/sessions?" + qs(q=MANY), f"/api/v1/sessions/{id}",
                 f"/api/v1/sessions/{id}/evidence", f"/api/v1/sessions/{id}/lines", "/api/v1/count?" + qs(q=MANY),
                 "/api/v1/stats", "/api/v1/histogram?" + qs(q=MANY), "/api/v1/export?" + qs(q=MANY),
                 "/api/v1/export?" + qs(q=MANY, format="csv"), "/api/v1/sessions?q=bogus:x", "/api/v1/sessions/999999",
                 "/nope", "/api/v1/sessions?q=%ff"]
        for path in paths:
            with self.subTest(path=path):
                status, headers, _ = get(path)
                self.assertLess(status, 500)
                self.assertSecurityHeaders(headers, path)
        status, headers, _ = get("/api/v1/count?q=line:509", method="POST", data=b"x")
        self.assertEqual(status, 405)
        self.assertSecurityHeaders(headers, "POST")

    def test_json_content_types(self):
        for path in ("/api/v1/info", "/api/v1/sessions?" + qs(q=REAL), "/api/v1/count?" + qs(q=REAL),
                     "/api/v1/stats", "/api/v1/histogram?" + qs(q=REAL)):
            with self.subTest(path=path):
                status, headers, body = get(path)
                self.assertEqual(status, 200)
                self.assertTrue(headers.get("Content-Type", "").startswith("application/json"), dict(headers))
                json.loads(body)


class HostTests(APITestCase):
    def test_only_loopback_host_names_without_a_token(self):
        # A page elsewhere whose name was pointed at 127.0.0.1 (DNS rebinding) is refused.
        port = SERVER.port
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.2", f"192.168.1.1:{port}", "localhost.evil.example"):
            with self.subTest(host=host):
                obj = self.assertError(403, "/api/v1/count?" + qs(q=MANY), headers={"Host": host})
                self.assertIn("loopback", obj["error"])
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", "127.0.0.1"):
            with self.subTest(host=host):
                self.assertEqual(get("/healthz", headers={"Host": host})[0], 200)

    def test_too_many_terms(self):
        self.assertError(400, "/api/v1/count?" + qs(q=" ".join(["ip:0.0.0.0/0"] * 65)))
        self.assertEqual(get_json("/api/v1/count?" + qs(q=" ".join(["ip:0.0.0.0/0"] * 64)))["count"],
                         get_json("/api/v1/count?" + qs(q="ip:0.0.0.0/0"))["count"])


class ConcurrencyTests(APITestCase):
    def test_parallel_requests(self):
        expected_count = {"count": cli_count(MANY)}
        evidence = cli_evidence(REAL)
        id = get_json("/api/v1/sessions?" + qs(q=REAL))["sessions"][0]["id"]
        failures = []

        def worker(k):
            for i in range(25):
                try:
                    which = (k + i) % 4
                    if which == 0:
                        status, _, body = get("/api/v1/count?" + qs(q=MANY))
                        ok = status == 200 and json.loads(body) == expected_count
                    elif which == 1:
                        status, _, body = get(f"/api/v1/sessions/{id}/evidence")
                        ok = status == 200 and body == evidence
                    elif which == 2:
                        status, _, body = get("/api/v1/sessions?" + qs(q=MANY, limit=50))
                        ok = status == 200 and len(json.loads(body)["sessions"]) == 50
                    else:
                        status, _, body = get("/api/v1/sessions?q=bogus:x")
                        ok = status == 400
                    if not ok:
                        failures.append((k, i, status, body[:200]))
                except Exception as e:  # noqa: BLE001
                    failures.append((k, i, repr(e)))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(failures, [])


class TokenTests(APITestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="maildex-token-")
        cls.token = secrets.token_hex(32)
        cls.token_file = Path(cls.dir) / "token"
        cls.token_file.write_text(cls.token + "\n")
        cls.server = harness.Server(DATA.index, token_file=cls.token_file, token=cls.token).start()

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        assert code == 0, f"the token server exited {code}"

    def test_non_loopback_needs_token(self):
        for listen in ("0.0.0.0:0", "[::]:0"):
            with self.subTest(listen=listen):
                p = subprocess.run([harness.binary(), "serve", "--index", str(DATA.index), "--listen", listen],
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertNotIn(b"listening on", p.stdout)
                self.assertIn(b"token", p.stderr.lower(), "the message says why")

    def test_missing_or_wrong_token(self):
        wrong = ["", "Bearer", "Bearer ", f"Bearer {secrets.token_hex(32)}", f"Bearer {self.token[:-1]}",
                 f"Bearer {self.token}x", self.token, f"Basic {self.token}", f"Bearer {self.token.upper()}"]
        for path in ("/healthz", "/api/v1/count?" + qs(q=MANY), "/api/v1/sessions?" + qs(q=MANY), "/api/v1/info",
                     "/nope", "/api/v1/sessions/0/evidence", "/"):
            with self.subTest(path=path, auth=None):
                self.assertError(401, path, server=self.server, headers={"Authorization": None})
            for auth in wrong:
                with self.subTest(path=path, auth=auth):
                    self.assertError(401, path, server=self.server, headers={"Authorization": auth})
        with self.subTest(method="POST"):
            self.assertError(401, "/api/v1/count?q=line:509", server=self.server, method="POST", data=b"x",
                             headers={"Authorization": None})

    def test_right_token(self):
        status, headers, body = get("/healthz", self.server)
        self.assertEqual((status, body.strip()), (200, b"ok"))
        self.assertSecurityHeaders(headers, "token /healthz")
        self.assertEqual(get_json("/api/v1/count?" + qs(q=MANY), self.server), {"count": cli_count(MANY)})
        id = get_json("/api/v1/sessions?" + qs(q=REAL), self.server)["sessions"][0]["id"]
        self.assertEqual(get(f"/api/v1/sessions/{id}/evidence", self.server)[2], cli_evidence(REAL))
        self.assertError(405, "/healthz", server=self.server, method="POST", data=b"x")
        self.assertError(404, "/nope", server=self.server)
        # The scheme's case does not matter (RFC 9110); the token's does.
        self.assertEqual(get("/healthz", self.server, headers={"Authorization": f"bearer {self.token}"})[0], 200)


class LifecycleTests(APITestCase):
    def test_sigterm_exits_0(self):
        s = harness.Server(DATA.index).start()
        self.assertEqual(get("/healthz", s)[0], 200)
        self.assertEqual(s.stop(signal.SIGTERM), 0, s.stderr())
        with self.assertRaises(OSError):
            socket.create_connection((s.host, s.port), timeout=5).close()

    def test_sigint_exits_0(self):
        s = harness.Server(DATA.index).start()
        self.assertEqual(get("/api/v1/count?" + qs(q=MANY), s)[0], 200)
        self.assertEqual(s.stop(signal.SIGINT), 0, s.stderr())

    def test_sigterm_while_idle_connection_open(self):
        s = harness.Server(DATA.index).start()
        sock = socket.create_connection((s.host, s.port), timeout=5)
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            self.assertTrue(sock.recv(4096).startswith(b"HTTP/1.1 200"))
            start = time.monotonic()
            self.assertEqual(s.stop(signal.SIGTERM), 0, s.stderr())
            self.assertLess(time.monotonic() - start, 15)
        finally:
            sock.close()

    def test_cannot_start(self):
        with tempfile.TemporaryDirectory() as empty:
            short = Path(empty) / "short-token"
            short.write_text("tooshort\n")
            for args in (["--index", empty], ["--index", str(Path(empty) / "missing")],
                         ["--index", str(DATA.index), "--listen", f"127.0.0.1:{SERVER.port}"],
                         ["--index", str(DATA.index), "--listen", "nonsense"],
                         ["--index", str(DATA.index), "--listen", "127.0.0.1:99999"],
                         ["--index", str(DATA.index), "--token-file", str(Path(empty) / "missing")],
                         ["--index", str(DATA.index), "--token-file", str(short)],
                         ["--index", str(DATA.index), "--threads", "0"]):
                with self.subTest(args=args):
                    if "--listen" not in args:
                        args = [*args, "--listen", "127.0.0.1:0"]
                    p = subprocess.run([harness.binary(), "serve", *args],
                                       stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
                    self.assertEqual(p.returncode, 2, p.stderr)
                    self.assertNotIn(b"listening on", p.stdout)
                    self.assertTrue(p.stderr.strip())
        self.assertAlive()


class LiveIndexTests(APITestCase):
    """`maildex index` on the directory of a running server: seen at once, no failures."""

    def test_index_while_serving(self):
        with tempfile.TemporaryDirectory(prefix="maildex-live-") as tmp:
            tmp = Path(tmp)
            index = tmp / "index"
            harness.run("index", "--index", index, DATA.logs)
            more = tmp / "more"
            harness.generate(more, days=1, sessions_per_day=4000, seed=2, start_date="2026-01-03")
            with harness.Server(index) as s:
                before = get_json("/api/v1/count?" + qs(q="since:1900-01-01"), s)["count"]
                self.assertEqual(before, cli_count("since:1900-01-01", index))
                first_page = get_json("/api/v1/sessions?" + qs(q="since:1900-01-01", limit=50), s)
                info_before = get_json("/api/v1/info", s)

                results, stop = [], threading.Event()

                def loop():
                    paths = ["/api/v1/count?" + qs(q="since:1900-01-01"), "/api/v1/sessions?" + qs(q=MANY, limit=20),
                             "/api/v1/info", "/api/v1/stats?" + qs(q=MANY), "/api/v1/histogram?" + qs(q=MANY),
                             "/api/v1/sessions/0/evidence"]
                    k = 0
                    while not stop.is_set():
                        path = paths[k % len(paths)]
                        k += 1
                        t = time.monotonic()
                        try:
                            status, _, body = get(path, s, timeout=30)
                        except Exception as e:  # noqa: BLE001
                            status, body = repr(e), b""
                        results.append((t, path, status, body))

                thread = threading.Thread(target=loop)
                thread.start()
                try:
                    time.sleep(0.2)
                    started = time.monotonic()
                    run = subprocess.run([harness.binary(), "index", "--index", str(index), str(more)],
                                         stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
                    finished = time.monotonic()
                    self.assertEqual(run.returncode, 0, run.stderr)
                    # The very next request sees the new sessions.
                    after = get_json("/api/v1/count?" + qs(q="since:1900-01-01"), s)["count"]
                    time.sleep(0.2)
                finally:
                    stop.set()
                    thread.join(60)

                expected = cli_count("since:1900-01-01", index)
                self.assertGreater(expected, before)
                self.assertEqual(after, expected)
                bad = [(round(t - started, 3), p, st, b[:200]) for t, p, st, b in results if st != 200]
                self.assertEqual(bad, [], "requests failed during the index run")
                during = [r for r in results if started <= r[0] <= finished]
                self.assertGreater(len(during), 5, "the loop made too few requests during the run")
                counts = {json.loads(b)["count"] for _, p, st, b in results if p.startswith("/api/v1/count")}
                self.assertLessEqual(counts, {before, expected}, "a count neither before nor after the run")

                info = get_json("/api/v1/info", s)
                self.assertEqual(info["sessions"], expected)
                self.assertEqual(info["sourceFiles"], info_before["sourceFiles"] + 1)
                self.assertEqual(info["lastDate"], "2026-01-03")
                self.assertEqual(get_json("/api/v1/stats", s), cli_stats(index=index))

                # A cursor from before the run still pages on, into the new sessions.
                ids = [x["id"] for x in first_page["sessions"]]
                cursor = first_page["next"]
                while cursor is not None:
                    page = get_json("/api/v1/sessions?" + qs(q="since:1900-01-01", limit=1000, cursor=cursor), s)
                    self.assertEqual(page["total"], expected)
                    ids += [x["id"] for x in page["sessions"]]
                    cursor = page["next"]
                self.assertEqual(len(ids), len(set(ids)))
                self.assertEqual(len(ids), expected)
                some = "since:2026-01-02T22:00 until:2026-01-03T02:00"
                self.assertEqual([without_id(x) for x in all_sessions(some, server=s)], cli_json(some, index))

                # A compaction under the server: the same answers (the same ids), no failures.
                sessions_before = all_sessions(some, server=s)
                results.clear()
                stop.clear()
                thread = threading.Thread(target=loop)
                thread.start()
                try:
                    run = subprocess.run([harness.binary(), "compact", "--index", str(index)],
                                         stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
                    self.assertEqual(run.returncode, 0, run.stderr)
                    time.sleep(0.2)
                finally:
                    stop.set()
                    thread.join(60)
                bad = [(p, st, b[:200]) for _, p, st, b in results if st != 200]
                self.assertEqual(bad, [], "requests failed during compact")
                self.assertEqual(get_json("/api/v1/count?" + qs(q="since:1900-01-01"), s)["count"], expected)
                self.assertEqual(get_json("/api/v1/info", s)["segments"], 1)
                self.assertEqual(all_sessions(some, server=s), sessions_before)


if __name__ == "__main__":
    unittest.main()


class MessageTrailTests(APITestCase):
    """What became of a session's messages, and the servers, as `query --messages` says."""

    def test_messages_param_adds_the_trail_as_the_cli_does(self):
        for q in [RELAY, REAL, "direction:out", "msg:S.0000014724"]:
            with self.subTest(q=q):
                api = [without_id(x) for x in all_sessions(q, messages=1)]
                p = harness.run("query", "--index", DATA.index, "--json", "--messages", *q.split())
                cli = [json.loads(l) for l in p.stdout.decode().splitlines() if l]
                self.assertEqual(api, cli)
                self.assertTrue(cli and all("messageLines" in c for c in cli))
                self.assertTrue(all("messageLines" not in x for x in all_sessions(q)), "only when asked")

    def test_relay_session_is_outbound_with_its_trail(self):
        page = get_json("/api/v1/sessions?" + qs(q=RELAY, messages=1))
        self.assertEqual(page["total"], 1)
        s = page["sessions"][0]
        self.assertEqual((s["server"], s["direction"], s["peer"], s["port"]), ("relay", "out", "178.213.67.13", 25))
        raw = (harness.FIXTURES / "cgp-real" / "relay" / "2026-01-28.log").read_text().splitlines()
        self.assertEqual(s["lines"], [l for l in raw if "SMTP-004929" in l])
        self.assertEqual(s["messageLines"], [l for l in raw if "SMTP-004929" not in l])
        lines = get_json(f"/api/v1/sessions/{s['id']}/lines")
        self.assertEqual([l["text"] for l in lines["messages"]], s["messageLines"])
        self.assertEqual((lines["server"], lines["direction"]), ("relay", "out"))
        status, _, body = get(f"/api/v1/sessions/{s['id']}/evidence?messages=1")
        self.assertEqual(status, 200)
        self.assertEqual(body, harness.run("query", "--index", DATA.index, "--evidence", "--messages", RELAY).stdout)

    def test_new_terms_count_as_the_cli_does(self):
        for q in ["direction:out", "direction:in", "tls:no", "status:accepted", "status:incomplete", "server:relay",
                  "server:fes01 status:accepted", "since:2026-01-01 NOT server:relay"]:
            with self.subTest(q=q):
                self.assertEqual(get_json("/api/v1/count?" + qs(q=q))["count"], cli_count(q))
        stats = get_json("/api/v1/stats")
        self.assertEqual(stats["servers"], cli_stats()["servers"])
        self.assertIn("relay", [x["server"] for x in stats["servers"]])

    def test_bad_values_are_400(self):
        self.assertError(400, "/api/v1/sessions?" + qs(q="tls:maybe"))
        self.assertError(400, "/api/v1/sessions?" + qs(q="direction:sideways"))
        self.assertError(400, "/api/v1/sessions?" + qs(q=REAL, messages="perhaps"))
        self.assertError(400, "/api/v1/sessions/1?messages=2")
        # Message records are stored beside the sessions, numbered from 2^39: no session.
        for n in (2 ** 39, 2 ** 39 + 1):
            self.assertError(404, f"/api/v1/sessions/{n}")
            self.assertError(404, f"/api/v1/sessions/{n}/lines")
