"""Steps 2 and 3 of Benchmarks/clickhouse/run.sh: load a `maildex export` Native file into
embedded ClickHouse (chdb) with deploy/clickhouse/schema.sql, report the load rate and the
bytes per session, then time `maildex sql KEY` in chdb beside `maildex query --json KEY`
for the same keys.

    bench.py INDEX MAILDEX WORK SESSIONS INDEX_BYTES
"""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from chdb import session as chdb_session

index, maildex, work, sessions, index_bytes = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
schema = Path(__file__).resolve().parents[2] / "deploy" / "clickhouse" / "schema.sql"
native = work / "all.native"
REPEAT = 3
PER_KIND = 8
MAX_SESSIONS = 2000


def maildex_run(*args):
    return subprocess.run([maildex, *args], capture_output=True, check=True).stdout


def rows(db, sql):
    out = db.query(sql + "\nFORMAT JSONEachRow", "JSONEachRow").bytes().decode()
    return [json.loads(l) for l in out.splitlines() if l]


def table_bytes(db):
    r = rows(db, "SELECT sum(bytes_on_disk) AS b, sum(rows) AS n, count() AS parts FROM system.parts "
                 "WHERE database = 'maildex' AND table = 'sessions' AND active")[0]
    return int(r["b"]), int(r["n"]), int(r["parts"])


db = chdb_session.Session(str(work / "chdb"))
db.query("DROP DATABASE IF EXISTS maildex SYNC")
db.query(schema.read_text())

t = time.perf_counter()
db.query(f"INSERT INTO maildex.sessions SELECT * FROM file('{native}', 'Native')")
load = time.perf_counter() - t
size = native.stat().st_size
b, n, parts = table_bytes(db)
print(f"chdb load: {n:,} rows in {load:.1f} s: {n/load:,.0f} rows/s, {size/1e6/load:.0f} MB/s of Native; "
      f"{b/1e6:.0f} MB on disk in {parts} parts")
t = time.perf_counter()
db.query("OPTIMIZE TABLE maildex.sessions FINAL")
opt = time.perf_counter() - t
b, n, parts = table_bytes(db)
print(f"chdb OPTIMIZE FINAL: {opt:.1f} s; {b/1e6:.0f} MB in {parts} parts")
print(f"bytes per session: ClickHouse {b/sessions:,.0f}, maildex index {index_bytes/sessions:,.0f} "
      f"(ratio {b/index_bytes:.2f})")
cols = rows(db, "SELECT name, data_compressed_bytes AS c FROM system.columns "
                "WHERE database = 'maildex' AND table = 'sessions' ORDER BY c DESC LIMIT 6")
print("largest columns: " + ", ".join(f"{c['name']} {int(c['c'])/1e6:.0f} MB" for c in cols))

# Keys from sampled sessions: the newest 40 of each day.
stats = json.loads(maildex_run("stats", "--index", index, "--json"))
sample = []
for day in stats["days"]:
    out = maildex_run("query", "--index", index, "--json", "--limit", "40", "--order", "newest", "date:" + day["date"])
    sample += [json.loads(l) for l in out.decode().splitlines()]
kinds = {"msg": [], "line+date": [], "ip": [], "ip/24": [], "from": [], "domain+date": []}
for s in sample:
    if s["messages"]: kinds["msg"].append(["msg:" + s["messages"][0]])
    kinds["line+date"].append([f"line:{s['line']}", f"date:{s['date']}"])
    if s["peer"] and "." in s["peer"]:
        kinds["ip"].append(["ip:" + s["peer"]])
        kinds["ip/24"].append(["ip:" + ".".join(s["peer"].split(".")[:3]) + ".0/24"])
    if s["from"] and s["from"][0]: kinds["from"].append(["from:" + s["from"][0]])
    for a in s["from"][:1] + s["to"][:1]:
        if a and "@" in a: kinds["domain+date"].append(["domain:" + a.split("@")[1], "date:" + s["date"]])


def timed(f):
    times = []
    for _ in range(REPEAT):
        t = time.perf_counter()
        r = f()
        times.append(time.perf_counter() - t)
    return r, statistics.median(times)


print(f"\nqueries: {PER_KIND} keys per kind of 1 to {MAX_SESSIONS} sessions, each timed as the median of {REPEAT} runs, "
      f"then the mean over the keys; maildex `query --json --messages` "
      f"as a process per key (start-up included) and as one `--batch` process for the kind's keys, chdb `maildex sql` "
      f"in process; each returns whole sessions with their trails")
print("| kind | keys | sessions per key: median (max) | maildex, a process per key: ms | maildex --batch: ms per key | chdb: ms | chdb / process | chdb / batch |")
print("|---|---|---|---|---|---|---|---|")
for kind, keys in kinds.items():
    # Keys of at most MAX_SESSIONS sessions (a lookup, not a dump of the table).
    distinct = [k for k in {tuple(k): k for k in keys}.values()
                if 1 <= int(maildex_run("query", "--index", index, "--count", *k)) <= MAX_SESSIONS]
    chosen = [distinct[i * len(distinct) // PER_KIND] for i in range(min(PER_KIND, len(distinct)))]
    if not chosen:
        print(f"| {kind} | 0 | no key of 1 to {MAX_SESSIONS} sessions in the sample |")
        continue
    found, m_times, c_times = [], [], []
    for key in chosen:
        sql = maildex_run("sql", *key).decode()
        out, mt = timed(lambda: maildex_run("query", "--index", index, "--json", "--messages", *key))
        got, ct = timed(lambda: rows(db, sql))
        m = len(out.splitlines())
        if m != len(got):
            raise SystemExit(f"{' '.join(key)}: maildex {m} sessions, chdb {len(got)}")
        found.append(m); m_times.append(mt * 1000); c_times.append(ct * 1000)
    # The same keys answered in one maildex process (`query --batch`): per key, start-up
    # shared.
    batch = work / "batch"
    batch.write_text("".join(" ".join(k) + "\n" for k in chosen))
    out, bt = timed(lambda: maildex_run("query", "--index", index, "--batch", str(batch), "--messages"))
    if len(out.splitlines()) != sum(found):
        raise SystemExit(f"{kind}: --batch gave {len(out.splitlines())} sessions, one by one {sum(found)}")
    bm = bt * 1000 / len(chosen)
    mm, cm = statistics.mean(m_times), statistics.mean(c_times)
    print(f"| {kind} | {len(chosen)} | {statistics.median(found):.0f} ({max(found)}) | {mm:.1f} | {bm:.1f} | {cm:.1f} | "
          f"{cm/mm:.1f} | {cm/bm:.1f} |")
