extension Page {
    /// The page's script. State lives in the URL (`q`, `order`, `cursor`, `page`, `open`,
    /// `compare`), so every view is a permalink and reloading restores it.
    static let script = #"""
"use strict";
(function () {
const $ = (id) => document.getElementById(id);
const PHASES = ["connection", "greeting", "helo", "mail", "rcpt", "data", "accepted", "quit", "close"];
let current = { sessions: [], next: null };
let picked = [];
let kinds = [];

// ---- DOM helpers: log bytes only ever become text nodes ----
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }

// ---- URL state ----
function state() {
  const p = new URLSearchParams(location.search);
  return { q: p.get("q") || "", order: p.get("order") === "newest" ? "newest" : "oldest",
           cursor: p.get("cursor") || "", page: Math.max(1, parseInt(p.get("page") || "1", 10) || 1),
           open: p.get("open") || "", compare: (p.get("compare") || "").split(",").filter(Boolean).slice(0, 2),
           back: (p.get("back") || "").split(",").filter(Boolean).slice(-50) };
}
function urlFor(s) {
  const p = new URLSearchParams();
  if (s.q) p.set("q", s.q);
  if (s.order !== "oldest") p.set("order", s.order);
  if (s.cursor) { p.set("cursor", s.cursor); p.set("page", String(s.page)); if (s.back && s.back.length) p.set("back", s.back.join(",")); }
  if (s.open) p.set("open", s.open);
  if (s.compare && s.compare.length === 2) p.set("compare", s.compare.join(","));
  const qs = p.toString();
  return location.pathname + (qs ? "?" + qs : "");
}
function go(s, replace) {
  const u = urlFor(s);
  if (replace) history.replaceState(null, "", u); else history.pushState(null, "", u);
  render();
}

// ---- API ----
async function api(path) {
  const r = await fetch(path, { headers: { "Accept": "application/json" }, credentials: "same-origin" });
  const type = r.headers.get("Content-Type") || "";
  const body = type.startsWith("application/json") ? await r.json() : await r.text();
  if (!r.ok) { const e = new Error(body && body.error ? body.error : "HTTP " + r.status); e.hint = body && body.hint; e.status = r.status; throw e; }
  return body;
}
function showError(e) {
  $("error").hidden = !e;
  $("error-text").textContent = e ? e.message : "";
  $("error-hint").textContent = e && e.hint ? e.hint : "";
}

// ---- search ----
let generation = 0;
const stale = (gen) => gen !== generation;
let lastSearch = { key: "", page: null, hist: null };

async function render() {
  const gen = ++generation;
  const s = state();
  $("q").value = s.q;
  $("order").value = s.order;
  showError(null);
  $("empty").hidden = !!s.q || s.compare.length === 2 || !!s.open;
  if (s.compare.length === 2) picked = s.compare.slice();
  const jobs = [];
  if (s.q) jobs.push(search(s, gen).catch((e) => { if (!stale(gen)) { $("overview").hidden = true; lastSearch.key = ""; throw e; } }));
  else $("overview").hidden = true;
  if (s.open) jobs.push(openSession(s.open, s.q, gen)); else $("session").hidden = true;
  if (s.compare.length === 2) jobs.push(compare(s.compare, s.q, gen)); else $("compare").hidden = true;
  await Promise.all(jobs.map((j) => j.catch((e) => { if (!stale(gen)) showError(e); })));
  if (!stale(gen)) document.body.dataset.ready = String(Date.now());
}

async function search(s, gen) {
  const qs = "q=" + encodeURIComponent(s.q);
  let url = "/api/v1/sessions?" + qs + "&limit=100&order=" + s.order;
  if (s.cursor) url += "&cursor=" + encodeURIComponent(s.cursor);
  const key = url;
  let page, hist;
  if (lastSearch.key === key) ({ page, hist } = lastSearch);  // opening or closing a view: the same page
  else {
    $("next").disabled = true;
    [page, hist] = await Promise.all([api(url), api("/api/v1/histogram?" + qs + "&bucket=auto")]);
    if (stale(gen)) return;
    lastSearch = { key, page, hist };
  }
  current = page;
  $("overview").hidden = false;
  const first = (s.page - 1) * 100 + 1, last = first + page.sessions.length - 1;
  $("total").textContent = page.total === 0 ? "no session matches"
    : page.total + (page.total === 1 ? " session" : " sessions") + (page.total > page.sessions.length ? " · showing " + first + "–" + last : "");
  $("total").dataset.total = String(page.total);
  $("export-ndjson").href = "/api/v1/export?" + qs + "&format=ndjson&order=" + s.order;
  $("export-csv").href = "/api/v1/export?" + qs + "&format=csv&order=" + s.order;
  $("page-label").textContent = page.total > 0 ? "page " + s.page : "";
  $("next").disabled = !page.next;
  $("prev").disabled = !s.cursor;
  $("prev").dataset.back = (s.back || []).join(",");
  $("first").disabled = !s.cursor;
  drawRows(page.sessions, s);
  drawHistogram(hist, s);
}

function drawRows(sessions, s) {
  const body = document.querySelector("#results tbody");
  clear(body);
  for (const x of sessions) {
    const box = el("input", { type: "checkbox", class: "pick", "aria-label": "pick session " + x.id + " for comparison" });
    box.checked = picked.includes(x.id);
    box.addEventListener("change", () => togglePick(x.id, box.checked));
    const tr = el("tr", { tabindex: "0", "data-id": x.id },
      el("td", { class: "pick-col" }, box), el("td", { text: x.date }), el("td", { text: x.start + "–" + (x.end || "?") }),
      el("td", { text: String(x.line) }), el("td", { text: x.peer ? x.peer + (x.port != null ? ":" + x.port : "") : "?" }),
      el("td", { text: x.helo || "" }), el("td", { text: x.from.map((f) => f || "<>").join(", ") }),
      el("td", { text: x.to.join(", ") }), el("td", { text: x.rejected.join(", ") }),
      el("td", { text: String(x.messages.length), title: x.messages.join(", ") }),
      el("td", { text: x.complete ? "yes" : "no", class: x.complete ? "ok" : "warn" }),
      el("td", { text: [x.server, x.direction === "out" ? "out" : "", x.tls ? "TLS" : ""].filter((v) => v).join(" · "),
                 title: "server " + (x.server || "(none)") + ", " + (x.direction === "out" ? "sent by it" : "received") + ", " + (x.tls ? "over TLS" : "no TLS") }));
    if (x.id === s.open) tr.classList.add("open");
    tr.addEventListener("click", (ev) => { if (ev.target !== box) openRow(x.id); });
    tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") openRow(x.id); });
    body.append(tr);
  }
  updateCompareButton();
}

function openRow(id) { const s = state(); s.open = id; s.compare = []; go(s); }

function togglePick(id, on) {
  picked = picked.filter((p) => p !== id);
  if (on) picked.push(id);
  if (picked.length > 2) picked = picked.slice(-2);
  for (const tr of document.querySelectorAll("#results tbody tr")) tr.querySelector(".pick").checked = picked.includes(tr.dataset.id);
  updateCompareButton();
}
function updateCompareButton() {
  $("compare-button").disabled = picked.length !== 2;
  $("compare-button").textContent = "Compare picked (" + picked.length + "/2)";
}

function drawHistogram(h, s) {
  const svg = $("histogram");
  clear(svg);
  const bars = h.buckets;
  $("histogram-caption").textContent = bars.length === 0 ? "" : "sessions per " + h.bucket + ", "
    + bars[0].start + " to " + bars[bars.length - 1].start + " (click a bar to narrow the query to it)";
  if (bars.length === 0) { $("histogram-box").hidden = true; return; }
  $("histogram-box").hidden = false;
  const W = Math.max(bars.length, 1) * 10, H = 100;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  const max = Math.max(...bars.map((b) => b.sessions), 1);
  const NS = "http://www.w3.org/2000/svg";
  bars.forEach((b, i) => {
    const hgt = b.sessions === 0 ? 0 : Math.max(2, Math.round((b.sessions / max) * (H - 4)));
    const r = document.createElementNS(NS, "rect");
    r.setAttribute("x", String(i * 10 + 1)); r.setAttribute("width", "8");
    r.setAttribute("y", String(H - hgt)); r.setAttribute("height", String(hgt));
    r.setAttribute("class", "bar"); r.setAttribute("tabindex", "0");
    r.dataset.terms = b.terms; r.dataset.sessions = String(b.sessions);
    const t = document.createElementNS(NS, "title");
    t.textContent = b.start + ": " + b.sessions + " sessions";
    r.append(t);
    const narrow = () => { const n = state(); n.q = (n.q + " " + b.terms).trim(); n.cursor = ""; n.page = 1; n.back = []; go(n); };
    r.addEventListener("click", narrow);
    r.addEventListener("keydown", (ev) => { if (ev.key === "Enter") narrow(); });
    svg.append(r);
  });
}

// ---- highlighting the query's matches ----
function needles(q, facts) {
  const out = [];
  for (const raw of q.split(/\s+/).filter(Boolean)) {
    // What a NOT or a "-" excludes is not in the session; OR and parentheses are syntax.
    const term = raw.replace(/^\(+/, "").replace(/\)+$/, "");
    if (term === "OR" || term === "NOT" || term.startsWith("-") || term === "") continue;
    const m = term.match(/^([a-z]+):(.*)$/i);
    const kind = m ? m[1].toLowerCase() : "", value = m ? m[2] : term;
    if (["since", "until", "date", "line"].includes(kind)) continue;
    for (const v of value.split(",")) {
      if (kind === "ip" || (!kind && /^[0-9a-f.:]+(\/\d+)?$/i.test(v) && /[.:]/.test(v))) {
        if (facts && facts.peer) out.push(facts.peer);
        if (!v.includes("/")) out.push(v);
      } else if (kind === "msg") out.push(v.replace(/^[{[]|[}\]]$/g, ""));
      else if (v.length >= 2 && !/^\d{4}-\d\d-\d\d$/.test(v)) out.push(v.replace(/^@/, ""));
    }
  }
  return [...new Set(out.filter((n) => n.length > 0))];
}
function appendMarked(parent, text, words) {
  if (words.length === 0) { parent.append(document.createTextNode(text)); return; }
  const re = new RegExp(words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "gi");
  let at = 0, m;
  while ((m = re.exec(text)) !== null) {
    if (m[0].length === 0) { re.lastIndex++; continue; }
    parent.append(document.createTextNode(text.slice(at, m.index)), el("mark", { text: m[0] }));
    at = m.index + m[0].length;
  }
  parent.append(document.createTextNode(text.slice(at)));
}

// ---- one session ----
// Lines into `pre`, each with its file, line and offset (shown with the provenance toggle).
function drawLines(pre, lines, words) {
  clear(pre);
  for (const l of lines) {
    const row = el("span", { class: "line" });
    row.append(el("span", { class: "prov", text: l.file + ":" + l.line + ":" + l.offset + ":" }));
    const t = el("span", { class: "text" });
    appendMarked(t, l.text, words);
    row.append(t, document.createTextNode("\n"));
    pre.append(row);
  }
  pre.classList.toggle("with-prov", $("provenance-toggle").checked);
}

async function openSession(id, q, gen) {
  const [facts, lines] = await Promise.all([api("/api/v1/sessions/" + encodeURIComponent(id)), api("/api/v1/sessions/" + encodeURIComponent(id) + "/lines")]);
  if (stale(gen)) return;
  $("session").hidden = false;
  $("session-title").textContent = lines.summary;
  $("session-status").textContent = lines.complete ? "complete" : "INCOMPLETE: its opening or closing record is not in the index";
  $("session-status").className = "badge " + (lines.complete ? "ok" : "warn");
  $("evidence-link").href = "/api/v1/sessions/" + encodeURIComponent(id) + "/evidence" + (lines.messages.length ? "?messages=1" : "");
  const factsBox = $("session-facts");
  clear(factsBox);
  const badge = (label, value) => factsBox.append(el("span", { class: "fact", text: label + ": " + value }), document.createTextNode(" "));
  badge("server", lines.server || "(none)");
  badge("direction", lines.direction === "out" ? "out (sent by the server)" : "in (received)");
  badge("TLS", lines.tls ? "yes" : "no");
  if (lines.auth) badge("authenticated as", lines.auth);
  if (lines.messageIds.length) badge("messages", lines.messageIds.join(", "));
  $("evidence-link").setAttribute("download", "session-" + id + "-evidence.txt");
  $("session-permalink").href = urlFor({ q: q, order: state().order, cursor: "", page: 1, open: id, compare: [] });
  const words = needles(q, facts);
  drawLines($("transcript"), lines.lines, words);
  // The records about its messages (queue, delivery, deletion), in log order.
  const trail = $("trail");
  drawLines(trail, lines.messages, words);
  trail.hidden = lines.messages.length === 0;
  $("trail-title").hidden = trail.hidden;
  $("trail-title").textContent = "What became of its messages (" + lines.messages.length + " records)";
  for (const tr of document.querySelectorAll("#results tbody tr")) tr.classList.toggle("open", tr.dataset.id === id);
}

\#(compareScript)
// ---- wiring ----
function page(delta) {
  const s = state();
  if ($("next").disabled && delta > 0) return;
  if (delta > 0 && current.next) { s.back = [...s.back, s.cursor || "-"].slice(-50); s.cursor = current.next; s.page += 1; s.open = ""; go(s); }
  else if (delta < 0 && s.cursor) {
    const prev = s.back.pop();
    s.cursor = prev && prev !== "-" ? prev : "";
    s.page = s.cursor ? Math.max(1, s.page - 1) : 1;
    if (!s.cursor) s.back = [];
    s.open = ""; go(s);
  }
}
function init() {
  $("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    lastSearch.key = "";  // searching again asks the index again (a run may have added sessions)
    go({ q: $("q").value.trim(), order: $("order").value, cursor: "", page: 1, open: "", compare: [], back: [] });
  });
  $("order").addEventListener("change", () => { if ($("q").value.trim()) $("search").requestSubmit(); });
  $("next").addEventListener("click", () => page(1));
  $("prev").addEventListener("click", () => page(-1));
  $("first").addEventListener("click", () => { const s = state(); s.cursor = ""; s.page = 1; s.back = []; go(s); });
  $("session-close").addEventListener("click", () => { const s = state(); s.open = ""; go(s); });
  $("compare-close").addEventListener("click", () => { const s = state(); s.compare = []; go(s); });
  $("compare-button").addEventListener("click", () => { if (picked.length === 2) { const s = state(); s.compare = picked.slice(); s.open = ""; go(s); } });
  $("compare-print").addEventListener("click", () => window.print());
  $("compare-evidence").addEventListener("click", () => downloadBoth().catch(showError));
  $("provenance-toggle").addEventListener("change", () => {
    for (const id of ["transcript", "trail"]) $(id).classList.toggle("with-prov", $("provenance-toggle").checked);
  });
  document.addEventListener("keydown", (ev) => {
    const typing = ev.target instanceof HTMLInputElement && ev.target.type !== "checkbox" || ev.target instanceof HTMLSelectElement;
    if (ev.key === "Escape") {
      if (typing) { ev.target.blur(); return; }
      const s = state();
      if (s.compare.length) s.compare = []; else if (s.open) s.open = ""; else return;
      go(s); return;
    }
    if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const rows = [...document.querySelectorAll("#results tbody tr")];
    const at = rows.indexOf(document.activeElement);
    const onPage = at >= 0 || document.activeElement === document.body || document.activeElement == null;
    if (!onPage && ["j", "k", "ArrowDown", "ArrowUp"].includes(ev.key)) return;
    if (ev.key === "/") { ev.preventDefault(); $("q").focus(); $("q").select(); }
    else if (ev.key === "j" || ev.key === "ArrowDown") { if (rows.length) { ev.preventDefault(); rows[Math.min(rows.length - 1, at + 1)].focus(); } }
    else if (ev.key === "k" || ev.key === "ArrowUp") { if (rows.length) { ev.preventDefault(); rows[Math.max(0, at - 1)].focus(); } }
    else if (ev.key === "x" && at >= 0) { const box = rows[at].querySelector(".pick"); box.checked = !box.checked; togglePick(rows[at].dataset.id, box.checked); }
    else if (ev.key === "c") $("compare-button").click();
    else if (ev.key === "n") page(1);
    else if (ev.key === "p") page(-1);
    else if (ev.key === "o") { $("provenance-toggle").click(); }
  });
  window.addEventListener("popstate", render);
  api("/api/v1/syntax").then((syn) => {
    $("syntax").textContent = syn.syntax;
    kinds = syn.kinds;
    for (const k of kinds) {
      const b = el("button", { type: "button", class: "kind", title: k.meaning + " — e.g. " + k.examples.join("  ") }, k.name + ":");
      b.addEventListener("click", () => {
        const q = $("q");
        q.value = (q.value.trim() + " " + k.name + ":").trimStart();
        q.focus(); q.setSelectionRange(q.value.length, q.value.length);
      });
      $("kinds").append(b);
    }
  }).catch(showError);
  render();
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
"""#
}
