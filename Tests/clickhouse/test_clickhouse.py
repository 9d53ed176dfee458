"""maildex's sessions in ClickHouse (embedded, chdb): `maildex export` loads into the table
of deploy/clickhouse/schema.sql, and `maildex sql` finds there the sessions `maildex query`
finds in the index, field by field.

The data: two generated corpora (Stalker as server mx01, CommuniGate as relay) indexed a
file per run, as a nightly job does (sessions open at midnight are continued by the next
run, deliveries logged the next day extend their messages' trails), and the real
CommuniGate and Stalker fixtures. Each run is followed by `export --new-since`; the
exports, loaded in order, must give the same table as one export of the whole index.

Run by scripts/test-clickhouse.sh (which makes the virtual environment with chdb).
"""

import json
import os
import random
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from chdb import session as chdb_session

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "Tests" / "MaildexCoreTests" / "Fixtures"
SCHEMA = REPO / "deploy" / "clickhouse" / "schema.sql"
BIN = os.environ.get("MAILDEX_BIN") or str(REPO / ".build" / "debug" / "maildex")

# The fields `maildex query --json` and `maildex sql` both give, compared one by one.
FIELDS = ["date", "line", "start", "end", "complete", "peer", "port", "helo", "from", "to", "rejected",
          "messages", "server", "direction", "tls", "auth", "lines"]


def run(*args, check=True, stdin=None):
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, input=stdin)
    if check and p.returncode != 0:
        raise AssertionError(f"maildex {' '.join(map(str, args))}: exit {p.returncode}\n{p.stderr.decode(errors='replace')}")
    return p


class Data:
    """Logs, an index built a file per run with an export after each, and the exports."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="maildex-ch-"))
        self.index = self.dir / "idx"
        self.state = self.dir / "export-state"
        self.nightly = []
        gen = [("mx01", "stalker", 11), ("relay", "cgp", 12)]
        for server, dialect, seed in gen:
            out = self.dir / server
            run("generate", "--out", out, "--dialect", dialect, "--days", 3, "--sessions-per-day", 400, "--seed", seed)
            for f in sorted(out.iterdir()):
                self.index_and_export("--server", server, f)
        for server in ["relay", "fes01", "mx01"]:
            self.index_and_export("--server", "real-" + server, FIXTURES / "cgp-real" / server)
        self.index_and_export(FIXTURES / "1999-04-28.log", FIXTURES / "1999-04-29.log")
        self.native = self.dir / "all.native"
        self.native.write_bytes(run("export", "--index", self.index).stdout)
        self.jsonl = self.dir / "all.jsonl"
        self.jsonl.write_bytes(run("export", "--index", self.index, "--format", "jsonl").stdout)

    def index_and_export(self, *args):
        run("index", "--index", self.index, *args)
        path = self.dir / f"nightly-{len(self.nightly):03d}.native"
        path.write_bytes(run("export", "--index", self.index, "--new-since", self.state).stdout)
        self.nightly.append(path)

    def sessions(self):
        """Every session of the index, as `query --json --messages` gives them."""
        p = run("query", "--index", self.index, "--json", "--messages", "since:1990-01-01")
        return [json.loads(l) for l in p.stdout.decode().splitlines()]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


_SESSION = None


def new_db(*loads):
    """The embedded ClickHouse (one per process) with the schema made afresh, and these
    files loaded: (path, format) pairs."""
    global _SESSION
    if _SESSION is None:
        _SESSION = chdb_session.Session(tempfile.mkdtemp(prefix="maildex-chdb-"))
    db = _SESSION
    db.query("DROP DATABASE IF EXISTS maildex SYNC")
    db.query(SCHEMA.read_text())  # unchanged, as clickhouse-client --multiquery takes it
    for path, fmt in loads:
        load(db, path, fmt)
    return db


def load(db, path, fmt="Native"):
    db.query(f"INSERT INTO maildex.sessions SELECT * FROM file('{path}', '{fmt}')")


def select(db, sql):
    out = db.query(sql + "\nFORMAT JSONEachRow", "JSONEachRow").bytes().decode()
    return [json.loads(l) for l in out.splitlines() if l]


def key(s):
    src = s.get("source")
    if src is not None:
        return (s["server"] or "", src["file"], src["firstLine"])
    return (s["server"] or "", s["file"], s["first_line"])


class ClickHouseTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = Data()
        cls.tmp = Path(tempfile.mkdtemp(prefix="maildex-chdb-"))
        cls.all = cls.data.sessions()
        cls.queries = cls.make_queries(cls.all)

    @classmethod
    def tearDownClass(cls):
        cls.data.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def make_queries(cls, sessions):
        """Queries of every kind, with values the sessions have (and a few they lack)."""
        rnd = random.Random(19)
        pick = lambda xs, n: rnd.sample(xs, min(n, len(xs)))
        peers = sorted({s["peer"] for s in sessions if s["peer"]})
        v4 = [p for p in peers if ":" not in p]
        v6 = [p for p in peers if ":" in p]
        senders = sorted({a for s in sessions for a in s["from"] if a})
        rcpts = sorted({a for s in sessions for a in s["to"] + s["rejected"]})
        domains = sorted({a.rsplit("@", 1)[1] for a in senders + rcpts if "@" in a and not a.endswith("@")})
        msgs = sorted({m for s in sessions for m in s["messages"]})
        helos = sorted({s["helo"] for s in sessions if s["helo"]})
        auths = sorted({s["auth"] for s in sessions if s["auth"]})
        lines = [(s["line"], s["date"]) for s in sessions]
        q = []
        for p in pick(v4, 6):
            q += [[f"ip:{p}"], [f"ip:{p.rsplit('.', 1)[0]}.0/24"], [f"ip:{p.split('.')[0]}.0.0.0/8", "tls:no"]]
        for p in pick(v6, 3):
            q += [[f"ip:{p}"], [f"ip:{p}/48"]]
        q += [["ip:2001:db8::/32"], ["ip:0.0.0.0/0"], ["ip:::/0"], ["ip:203.0.113.0/24"]]
        for a in pick(senders, 5):
            q += [[f"from:{a}"], [a.upper()]]
        for a in pick(rcpts, 5):
            q += [[f"to:{a}"], [f"addr:<{a}>"]]
        for d in pick(domains, 5):
            q += [[f"domain:{d}"], [f"domain:@{d.upper()}", "direction:in"]]
        for m in pick(msgs, 6):
            q += [[f"msg:{m}"], [f"msg:[{m.lower()}]"]]
        for h in pick(helos, 4):
            q += [[f"helo:{h.upper()}"]]
        for a in pick(auths, 3):
            q += [[f"auth:{a}"]]
        for n, d in pick(lines, 6):
            q += [[f"line:{n}"], [f"line:{n}", f"date:{d}"], [f"line:SMTPI-{n}"], [f"line:SMTP-{n}", f"date:{d}"]]
        q += [["server:mx01"], ["server:relay", "status:rejected"], ["server:real-relay", "direction:out"],
              ["tls:yes"], ["tls:no", "status:accepted"], ["status:complete", "date:2026-01-02"],
              ["status:incomplete"], ["direction:out"],
              ["since:2026-01-02T06:30", "until:2026-01-03T12:00:30"], ["since:1999-04-28T21:30", "until:1999-04-28T22:00"],
              ["date:1999-04-28"], ["until:2026-01-01T00:10"], ["since:2026-01-03T23:00"],
              ["server:mx01", "OR", "server:real-fes01"], ["NOT", "server:relay", "since:2026-01-02"],
              ["-tls:no", "-server:relay"], ["(status:rejected", "OR", "tls:yes)", "direction:in"],
              ["server:relay,real-relay", "status:accepted"], ["NOT", "(server:mx01", "OR", "server:relay)"]]
        if senders and rcpts:
            q += [[f"from:{senders[0]}", "OR", f"to:{rcpts[0]}"], [f"addr:{senders[1]},{rcpts[1]}", "-status:rejected"]]
        if v4 and msgs:
            q += [[f"ip:{v4[0]}", "OR", f"msg:{msgs[0]}"], [f"(ip:{v4[1]}/16", "OR", f"msg:{msgs[1]})", "NOT", "tls:yes"]]
        return q

    def maildex(self, terms):
        p = run("query", "--index", self.data.index, "--json", "--messages", "--", *terms, check=False)
        if p.returncode == 1:
            return []
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return [json.loads(l) for l in p.stdout.decode().splitlines()]

    def sql(self, terms):
        return run("sql", "--", *terms).stdout.decode()

    def assertSame(self, db, terms):
        expected = sorted(self.maildex(terms), key=key)
        got = sorted(select(db, self.sql(terms)), key=key)
        self.assertEqual([key(s) for s in got], [key(s) for s in expected], f"sessions of {terms}")
        for e, g in zip(expected, got):
            for f in FIELDS:
                self.assertEqual(g[f], e[f], f"{f} of the session at {key(e)}, query {terms}")
            self.assertEqual(g["message_lines"], e["messageLines"], f"trail of {key(e)}")
            self.assertEqual((g["file"], g["first_line"], g["last_line"]),
                             (e["source"]["file"], e["source"]["firstLine"], e["source"]["lastLine"]))
        return len(expected)

    @property
    def db(self):
        """The table with the whole index's export loaded (made again for each test)."""
        if getattr(self, "_db", None) is None:
            self._db = new_db((self.data.native, "Native"))
        return self._db

    def test_the_schema_takes_the_export_as_it_is(self):
        described = select(self.db, "DESCRIBE maildex.sessions")
        insertable = [c["name"] for c in described if c["default_type"] not in ("MATERIALIZED", "ALIAS")]
        exported = list(json.loads(self.data.jsonl.read_text().splitlines()[0]).keys())
        self.assertEqual(insertable, exported)
        count = select(self.db, "SELECT count() AS n FROM maildex.sessions FINAL")[0]["n"]
        self.assertEqual(int(count), len(self.all))

    def test_the_cluster_schema_has_the_same_table(self):
        # cluster.sql must stand alone, so it repeats schema.sql's table: columns, skip
        # indexes, partitioning, key and settings must stay the same (only the engines differ).
        def table(path):
            lines = [l.split("--")[0].strip() for l in path.read_text().splitlines()]
            lines = [l for l in lines if l]
            start = next(i for i, l in enumerate(lines) if l.startswith("CREATE TABLE"))
            end = next(i for i, l in enumerate(lines) if i > start and l.endswith(";"))
            return [l for l in lines[start + 1:end + 1] if not l.startswith("ENGINE")]
        cluster = SCHEMA.with_name("cluster.sql")
        self.assertEqual(table(SCHEMA), table(cluster))
        self.assertIn("ReplicatedReplacingMergeTree(", cluster.read_text())
        self.assertIn("ENGINE = ReplacingMergeTree(revision, is_deleted)", SCHEMA.read_text())

    def test_every_kind_of_query_finds_the_same_sessions(self):
        found = 0
        empty = 0
        for terms in self.queries:
            n = self.assertSame(self.db, terms)
            found += n
            empty += n == 0
        # The mix must mostly find something, or it proves little.
        self.assertGreater(found, 1000)
        self.assertLess(empty, len(self.queries) // 4)

    def test_every_session_whole(self):
        # All of it: every session, its lines, offsets and files.
        by_key = {key(s): s for s in select(self.db, self.sql([]))}
        self.assertEqual(sorted(by_key), sorted(key(s) for s in self.all))
        sample = select(self.db, "SELECT * FROM maildex.sessions FINAL WHERE length(message_lines) > 0 LIMIT 50")
        self.assertTrue(sample)
        for row in sample:
            self.assertEqual(len(row["lines"]), len(row["line_files"]))
            self.assertEqual(len(row["lines"]), len(row["line_offsets"]))
            self.assertEqual(row["revision"], len(row["lines"]) + len(row["message_lines"]))
            self.assertEqual(len(row["files"]), len(row["files_sha256"]))
            self.assertEqual(row["file"], row["line_files"][0])
            self.assertEqual(row["offset"], row["line_offsets"][0])
            self.assertRegex(row["sha256"], "^[0-9a-f]{64}$")

    def test_lines_are_at_their_offsets(self):
        # Every line of some sessions and trails is where its file offset says, byte for byte.
        paths = {}
        for root in [self.data.dir / "mx01", self.data.dir / "relay", FIXTURES / "cgp-real" / "relay", FIXTURES]:
            for f in Path(root).glob("*.log"):
                paths.setdefault(f.name, f)
        rows = select(self.db, "SELECT lines, line_files, line_offsets, message_lines, message_line_files, message_line_offsets "
                               "FROM maildex.sessions FINAL WHERE server IN ('relay', 'mx01', '') ORDER BY session LIMIT 40")
        checked = 0
        for r in rows:
            for text, files, offsets in [(r["lines"], r["line_files"], r["line_offsets"]),
                                         (r["message_lines"], r["message_line_files"], r["message_line_offsets"])]:
                for t, f, o in zip(text, files, offsets):
                    raw = paths[f].read_bytes()
                    self.assertEqual(raw[o:o + len(t.encode())].decode(), t)
                    checked += 1
        self.assertGreater(checked, 500)

    def test_the_nightly_exports_make_the_same_table(self):
        whole = "SELECT * EXCEPT (session) FROM maildex.sessions FINAL ORDER BY server, file, offset"
        expected = select(new_db((self.data.native, "Native")), whole)
        db = new_db(*[(p, "Native") for p in self.data.nightly])
        self.assertEqual(select(db, whole), expected)
        # Some runs exported sessions again: continued, or with a longer trail.
        raw = int(select(db, "SELECT count() AS n FROM maildex.sessions")[0]["n"])
        self.assertGreater(raw, len(self.all))
        self.assertEqual(run("export", "--index", self.data.index, "--new-since", self.data.state).stdout[:1], b"")

    def test_jsonl_loads_the_same_answers(self):
        whole = "SELECT * FROM maildex.sessions FINAL ORDER BY server, file, offset"
        expected = select(new_db((self.data.native, "Native")), whole)
        db = new_db((self.data.jsonl, "JSONEachRow"))
        for terms in self.queries[::3]:
            self.assertSame(db, terms)
        self.assertEqual(select(db, whole), expected)

    def test_a_second_load_changes_no_answer(self):
        db = new_db((self.data.native, "Native"))
        before = [select(db, self.sql(t)) for t in self.queries[::4]]
        load(db, self.data.native)
        load(db, self.data.jsonl, "JSONEachRow")
        self.assertEqual(int(select(db, "SELECT count() AS n FROM maildex.sessions")[0]["n"]), 3 * len(self.all))
        after = [select(db, self.sql(t)) for t in self.queries[::4]]
        self.assertEqual(after, before)
        db.query("OPTIMIZE TABLE maildex.sessions FINAL")
        self.assertEqual(int(select(db, "SELECT count() AS n FROM maildex.sessions")[0]["n"]), len(self.all))

    def test_a_session_whose_peer_changed_is_withdrawn_under_its_old_key(self):
        # As if an earlier export had it with another peer (a session continued by a later
        # run can learn its peer then): that copy is in the table, and the state says so.
        db = self.db
        target = select(db, "SELECT session, peer FROM maildex.sessions FINAL WHERE server = 'mx01' ORDER BY session LIMIT 1")[0]
        n = target["session"]
        db.query("INSERT INTO maildex.sessions SELECT * REPLACE (toIPv6('::ffff:192.0.2.77') AS peer, "
                 f"revision - 1 AS revision) FROM maildex.sessions WHERE session = {n} AND server = 'mx01'")
        self.assertEqual(len(select(db, self.sql(["ip:192.0.2.77"]))), 1)
        state = self.tmp / "withdraw-state"
        manifest = run("export", "--index", self.data.index, "--new-since", state)  # writes the state
        text = state.read_text()
        # Carried with one line fewer: it has grown since, so it is exported again.
        lines = len(select(db, f"SELECT lines FROM maildex.sessions FINAL WHERE session = {n} AND server = 'mx01'")[0]["lines"])
        text += f"carried {n} ::ffff:192.0.2.77 {lines - 1}\n"
        state.write_text(text)
        out = self.tmp / "withdraw.native"
        p = run("export", "--index", self.data.index, "--new-since", state)
        self.assertIn(b"withdrew 1", p.stderr)
        out.write_bytes(p.stdout)
        load(db, out)
        self.assertEqual(select(db, self.sql(["ip:192.0.2.77"])), [])
        self.assertEqual(len(select(db, self.sql(["ip:" + target["peer"].replace("::ffff:", ""), "server:mx01"]))),
                         len(self.maildex(["ip:" + target["peer"].replace("::ffff:", ""), "server:mx01"])))
        self.assertNotIn(f"carried {n} ::ffff:192.0.2.77", state.read_text())
        del manifest

    def test_export_of_terms_and_errors(self):
        terms = self.queries[0]
        rows = [json.loads(l) for l in run("export", "--index", self.data.index, "--format", "jsonl", *terms).stdout.decode().splitlines()]
        self.assertEqual(sorted(key(r) for r in rows), sorted(key(s) for s in self.maildex(terms)))
        self.assertEqual(run("export", "--index", self.data.index, "ip:198.18.0.0/15", check=False).returncode, 1)
        self.assertEqual(run("export", "--index", self.data.index, "ip:bogus", check=False).returncode, 2)
        self.assertEqual(run("export", "--index", self.tmp / "nothing", check=False).returncode, 2)
        self.assertEqual(run("sql", "from:", check=False).returncode, 2)
        self.assertEqual(run("sql", "(ip:10.0.0.1", check=False).returncode, 2)
        bad = self.tmp / "bad-state"
        bad.write_text("not a state\n")
        p = run("export", "--index", self.data.index, "--new-since", bad, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(str(bad).encode(), p.stderr)
        self.assertEqual(bad.read_text(), "not a state\n")

    def test_hostile_values_are_quoted(self):
        # A value with quotes, backslashes and bytes beyond ASCII is a literal, never SQL.
        for value in ["a'b@x.example", "x\\' OR 1=1 --@y", "caf\u00e9@example.com", "x\n@y"]:
            terms = [f"from:{value}"]
            self.assertEqual(select(self.db, self.sql(terms)), [])


if __name__ == "__main__":
    unittest.main()
