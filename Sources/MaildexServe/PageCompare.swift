extension Page {
    /// The part of the page's script that lines two sessions up by SMTP phase and marks
    /// what differs (`compare`), and downloads the evidence of both. Spliced into
    /// `script`, inside its function: it uses the helpers there (`$`, `el`, `api`,
    /// `appendMarked`, `needles`, `state`, `urlFor`, `stale`).
    static let compareScript = #"""
// ---- two sessions side by side ----
function body(text) { return text.replace(/^\d\d:\d\d:\d\d(\.\d+)? +\d +/, ""); }
function normalize(text) {
  return body(text).replace(/\b(SMTPI?|SMTP\(\w+\))-?\d*(\([^)]*\))?/g, "SMTP").replace(/\bLine \d+/g, "Line N").replace(/\s+/g, " ").trim();
}
const COMMAND = "(?:Input Line:|cmd:|<-)\\s*";
const PHASE_RULES = [
  ["quit", new RegExp(COMMAND + "QUIT\\b", "i")],
  ["rcpt", new RegExp(COMMAND + "RCPT\\s+TO", "i")],
  ["mail", new RegExp(COMMAND + "MAIL\\s+FROM", "i")],
  ["data", new RegExp(COMMAND + "DATA\\b", "i")],
  ["accepted", /\}\s*received\b|\bmessage accepted\b/i],
  ["helo", new RegExp(COMMAND + "(HELO|EHLO)\\b", "i")],
  ["greeting", /(?:Sending|rsp:|->)\s*220[ -]/],
  ["close", /\b(Closing|Disconnect Received|disposing line|Stream Disposed|Input Stream ended|releasing stream|closing connection)\b/i],
];
// The phase a line starts, or null if it continues the current one. Phases only go
// forward (a command logged out of order stays in the phase it came in); each RCPT
// starts a row of its own.
function phaseOf(text, cur) {
  const b = body(text);
  for (const [phase, re] of PHASE_RULES) {
    if (!re.test(b)) continue;
    if (phase === "close" && /\b221\b/.test(b)) continue;  // "221 ... closing connection" is QUIT's reply
    if (phase === "rcpt" && cur === "rcpt") return "rcpt";
    return PHASES.indexOf(phase) > PHASES.indexOf(cur) ? phase : null;
  }
  return null;
}
function phases(lines) {
  const rows = new Map();
  let cur = "connection", rcpt = 0;
  const t0 = seconds(lines[0] && lines[0].text);
  for (const l of lines) {
    const p = phaseOf(l.text, cur);
    if (p) { if (p === "rcpt") rcpt++; cur = p; }
    const key = cur === "rcpt" ? "rcpt " + rcpt : cur;
    if (!rows.has(key)) rows.set(key, { lines: [], at: seconds(l.text) - t0 });
    rows.get(key).lines.push(l);
  }
  return rows;
}
function seconds(text) {
  const m = /^(\d\d):(\d\d):(\d\d)/.exec(text || "");
  return m ? (+m[1]) * 3600 + (+m[2]) * 60 + (+m[3]) : 0;
}
function replyCodes(lines) {
  return lines.map((l) => /(Sending|rsp:|->)\s*(\d{3})[ -]/.exec(body(l.text))).filter(Boolean).map((m) => m[2]).join(" ");
}
async function compare(ids, q, gen) {
  const [a, b, la, lb] = await Promise.all([
    api("/api/v1/sessions/" + encodeURIComponent(ids[0])), api("/api/v1/sessions/" + encodeURIComponent(ids[1])),
    api("/api/v1/sessions/" + encodeURIComponent(ids[0]) + "/lines"), api("/api/v1/sessions/" + encodeURIComponent(ids[1]) + "/lines")]);
  if (stale(gen)) return;
  $("compare").hidden = false;
  $("compare-permalink").href = urlFor({ q: q, order: state().order, cursor: "", page: 1, open: "", compare: ids });
  const facts = $("compare-facts");
  clear(facts);
  facts.append(el("tr", {}, el("th", { text: "" }), el("th", { text: "session " + ids[0] }), el("th", { text: "session " + ids[1] })));
  const fact = (name, f) => {
    const va = f(a, la), vb = f(b, lb);
    const tr = el("tr", { class: va === vb ? "" : "differs" }, el("th", { text: name }), el("td", { text: va }), el("td", { text: vb }));
    facts.append(tr);
  };
  fact("date", (x) => x.date);
  fact("line id", (x) => String(x.line));
  fact("peer", (x) => (x.peer || "?") + (x.port != null ? " port " + x.port : ""));
  fact("HELO", (x) => x.helo || "");
  fact("sender", (x) => x.from.map((f) => f || "<>").join(", "));
  fact("recipients", (x) => x.to.join(", "));
  fact("rejected", (x) => x.rejected.join(", "));
  fact("messages", (x) => x.messages.join(", "));
  fact("time", (x) => x.start + "–" + (x.end || "?"));
  fact("duration", (x) => x.end ? (seconds(x.end) - seconds(x.start)) + " s" : "?");
  fact("complete", (x) => x.complete ? "yes" : "no");
  fact("server", (x) => x.server || "");
  fact("direction", (x) => x.direction || "in");
  fact("TLS", (x) => x.tls ? "yes" : "no");
  fact("account", (x) => x.auth || "");
  fact("source", (x) => x.source.file + " lines " + x.source.firstLine + "–" + x.source.lastLine);
  const pa = phases(la.lines), pb = phases(lb.lines);
  const keys = [];
  const order = (k) => { const [p, n] = k.split(" "); return PHASES.indexOf(p) * 1000 + (+n || 0); };
  for (const k of [...pa.keys(), ...pb.keys()]) if (!keys.includes(k)) keys.push(k);
  keys.sort((x, y) => order(x) - order(y));
  const table = $("compare-table");
  clear(table);
  table.append(el("tr", {}, el("th", { text: "phase" }), el("th", { text: "session " + ids[0] }), el("th", { text: "session " + ids[1] })));
  const words = needles(q, null);
  for (const k of keys) {
    const ra = pa.get(k) || { lines: [], at: null }, rb = pb.get(k) || { lines: [], at: null };
    const na = new Set(ra.lines.map((l) => normalize(l.text))), nb = new Set(rb.lines.map((l) => normalize(l.text)));
    const cell = (r, other) => {
      const td = el("td", {});
      const pre = el("pre", {});
      for (const l of r.lines) {
        const line = el("span", { class: "line" + (other.has(normalize(l.text)) ? "" : " differs"), title: l.file + ":" + l.line + ":" + l.offset });
        appendMarked(line, l.text, words);
        line.append(document.createTextNode("\n"));
        pre.append(line);
      }
      td.append(pre);
      return td;
    };
    const timing = (r) => r.at == null ? "" : "+" + r.at + " s";
    const codesDiffer = replyCodes(ra.lines) !== replyCodes(rb.lines);
    const th = el("th", { class: "phase" + (codesDiffer ? " differs" : "") }, k,
      el("div", { class: "timing" + (timing(ra) !== timing(rb) ? " differs" : ""), text: timing(ra) + " / " + timing(rb) }));
    table.append(el("tr", { "data-phase": k }, th, cell(ra, nb), cell(rb, na)));
  }
}

async function downloadBoth() {
  const ids = state().compare;
  const texts = await Promise.all(ids.map(async (id) => {
    const r = await fetch("/api/v1/sessions/" + encodeURIComponent(id) + "/evidence");
    if (!r.ok) throw new Error("evidence of session " + id + ": HTTP " + r.status);
    return r.text();
  }));
  const a = el("a", { download: "sessions-" + ids.join("-") + "-evidence.txt" });
  a.href = URL.createObjectURL(new Blob([texts.join("\n")], { type: "text/plain" }));
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
"""#
}
