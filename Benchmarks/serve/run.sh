#!/usr/bin/env bash
# The HTTP front under load: wrk with 2 threads and 64 connections for DURATION seconds
# against `maildex serve --threads 2`, on a mix of lookups (message ids, line ids,
# peers and senders with at most 100 sessions each; session objects included), then
# the `maildex query --json` process time for the same keys, in the same sitting.
# CONNECTIONS (default 64): wrk's connections; SERVE_ARGS: more options for the server.
#
#   Benchmarks/serve/run.sh INDEX [DURATION] [MAILDEX]
#
# INDEX: an index of at least 1 GB of logs (e.g. `maildex bench`'s, or
# `maildex generate --days 5 --size 1G` indexed). Needs wrk (Debian).
set -euo pipefail
index=$1; duration=${2:-30}; maildex=${3:-.build/release/maildex}
work=$(mktemp -d); trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }

# Keys: from 60 sessions of each day (the newest of the day), those whose term
# matches 1 to 100 sessions.
: > "$work/sample.ndjson"
for day in $("$maildex" stats --index "$index" --json | python3 -c 'import json,sys; print(" ".join(d["date"] for d in json.load(sys.stdin)["days"]))'); do
  "$maildex" query --index "$index" --json --limit 60 --order newest "date:$day" >> "$work/sample.ndjson"
done
python3 - "$work/sample.ndjson" > "$work/keys" <<'PY'
import json, sys
keys = []
for n, line in enumerate(open(sys.argv[1])):
    s = json.loads(line)
    kind = n % 4
    if kind == 0 and s["messages"]: keys.append("msg:" + s["messages"][0])
    elif kind == 1: keys.append(f"line:{s['line']} date:{s['date']}")
    elif kind == 2 and s["peer"]: keys.append("ip:" + s["peer"])
    elif kind == 3 and s["from"] and s["from"][0]: keys.append("from:" + s["from"][0])
for k in dict.fromkeys(keys): print(k)
PY
: > "$work/chosen"
while read -r key; do
  n=$("$maildex" query --index "$index" --count $key 2>/dev/null || true)
  if [ -n "$n" ] && [ "$n" -ge 1 ] && [ "$n" -le 100 ]; then echo "$key" >> "$work/chosen"; fi
done < "$work/keys"
python3 -c 'import sys, urllib.parse
for k in open(sys.argv[1]): print("/api/v1/sessions?q=" + urllib.parse.quote(k.strip()))' "$work/chosen" > "$work/paths"
echo "keys: $(wc -l < "$work/chosen") (of $(wc -l < "$work/keys") sampled; 1-100 sessions each)"

# SERVE_ARGS: more options for the server (e.g. `--cache-mb 0`).
"$maildex" serve --index "$index" --listen 127.0.0.1:0 --threads 2 ${SERVE_ARGS:-} > "$work/out" &
server=$!
for _ in $(seq 100); do grep -q listening "$work/out" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/out")
rss() { awk '/VmRSS/ {print $2}' /proc/$server/status; }
# Warm up, then measure.
MAILDEX_PATHS="$work/paths" wrk -t2 -c16 -d3s -s Benchmarks/serve/mix.lua "$url" > /dev/null
rss_before=$(rss)
metrics() { python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1] + "/api/v1/metrics").read().decode())' "$url" 2>/dev/null || true; }
metrics > "$work/metrics-before"
MAILDEX_PATHS="$work/paths" wrk -t2 -c"${CONNECTIONS:-64}" -d"${duration}s" --latency -s Benchmarks/serve/mix.lua "$url" | tee "$work/wrk"
metrics > "$work/metrics-after"
echo "server resident memory: ${rss_before} KiB before, $(rss) KiB after"
# Times at the server, from its own histograms: each request (router to response head,
# the wait for a worker included) and each piece of work on a worker (the lookup itself).
python3 - "$work/metrics-before" "$work/metrics-after" <<'PY'
import json, sys
try:
    a, b = (json.load(open(f)) for f in sys.argv[1:3])
except ValueError:
    print("at the server: no /api/v1/metrics in this build"); sys.exit(0)
def line(name, what):
    before = {u: c for u, c in a[name]["buckets"]}
    diff = sorted((u, c - before.get(u, 0)) for u, c in b[name]["buckets"] if c - before.get(u, 0) > 0)
    n = sum(c for _, c in diff)
    def pct(p):
        seen = 0
        for u, c in diff:
            seen += c
            if seen >= p * n: return u / 1000
    print(f"at the server, {what}: {n}, p50 {pct(0.5):.3f} ms, p90 {pct(0.9):.3f} ms, p99 {pct(0.99):.3f} ms (bucket upper bounds, 9% wide)")
line("requests", "requests (waiting for a worker included)")
line("work", "lookups on a worker")
print(f"5xx: {b['serverErrors'] - a['serverErrors']}; block cache hits {b['blockCache']['hits'] - a['blockCache']['hits']}, "
      f"misses {b['blockCache']['misses'] - a['blockCache']['misses']}, {b['blockCache']['bytesHeld'] >> 20} MiB held")
PY
avg=$(python3 -c 'import json,sys,urllib.request
total=n=0
for p in open(sys.argv[2]):
    b=json.load(urllib.request.urlopen(sys.argv[1]+p.strip())); total+=len(b["sessions"]); n+=1
print(f"{total/n:.1f}")' "$url" "$work/paths")
echo "sessions per answer: $avg on average"

# Every session of the index streamed as NDJSON, the server's anonymous memory (its
# heap: RssAnon, without the mapped index files' pages) sampled as it runs.
anon() { awk '/RssAnon/ {print $2}' /proc/$server/status; }
anon_before=$(anon)
python3 - "$url" "$server" <<'PY'
import sys, threading, time, urllib.request
peak = [0]; done = threading.Event()
def sample():
    while not done.is_set():
        for l in open(f"/proc/{sys.argv[2]}/status"):
            if l.startswith("RssAnon"): peak[0] = max(peak[0], int(l.split()[1]))
        time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
start = time.monotonic(); n = lines = 0
with urllib.request.urlopen(sys.argv[1] + "/api/v1/export?q=ip:0.0.0.0/0&format=ndjson") as r:
    while True:
        b = r.read(1 << 20)
        if not b: break
        n += len(b); lines += b.count(b"\n")
t = time.monotonic() - start
done.set()
print(f"export of ip:0.0.0.0/0: {lines} sessions, {n / 1e6:.0f} MB in {t:.1f} s ({lines / t:.0f} sessions/s, {n / 1e6 / t:.0f} MB/s); "
      f"server heap (RssAnon) at most {peak[0]} KiB during it")
PY
echo "server heap (RssAnon): ${anon_before} KiB before the export, $(anon) KiB after"
kill -TERM $server; wait $server || true

# The same keys as separate `maildex query --json` processes.
start=$(date +%s.%N); count=0
while read -r key; do "$maildex" query --index "$index" --json $key > /dev/null; count=$((count + 1)); done < "$work/chosen"
end=$(date +%s.%N)
python3 -c "print(f'maildex query --json, one process per key: {($end - $start) / $count * 1000:.2f} ms per key over $count keys')"
