extension Page {
    /// The page's style sheet: a laptop screen first; a print style that keeps the
    /// open session or the comparison, for attaching to a complaint.
    static let style = #"""
:root { --fg: #1b1f24; --muted: #5b6470; --line: #d5d9de; --accent: #0b5cad; --bad: #a4000f; --good: #1d6b2c;
        --mark: #ffe58a; --diff: #fde2e1; --bg2: #f4f6f8; font-family: system-ui, sans-serif; font-size: 15px; color: var(--fg); }
body { margin: 0; }
header { padding: .6rem 1rem .4rem; border-bottom: 1px solid var(--line); background: var(--bg2); }
#search { display: flex; gap: .5rem; align-items: center; }
.brand { font-weight: 700; color: var(--accent); text-decoration: none; margin-right: .3rem; }
#q { flex: 1; font: 15px ui-monospace, "DejaVu Sans Mono", monospace; padding: .35rem .5rem; border: 1px solid #9aa3ad; border-radius: 4px; }
button, select { font: inherit; padding: .25rem .6rem; }
#kinds { margin: .4rem 0 0; display: flex; flex-wrap: wrap; gap: .25rem; }
.kind { font: 13px ui-monospace, monospace; padding: .05rem .4rem; border: 1px solid var(--line); background: #fff; border-radius: 3px; cursor: pointer; }
#syntax-help summary { cursor: pointer; color: var(--muted); font-size: 13px; margin-top: .3rem; }
#syntax { font-size: 13px; }
#error { margin-top: .4rem; padding: .4rem .6rem; border-left: 4px solid var(--bad); background: #fff0f0; color: var(--bad); }
#error-hint { color: var(--fg); font-size: 12px; margin: .3rem 0 0; white-space: pre-wrap; }
main { padding: .6rem 1rem; }
#summary-bar, .view-head { display: flex; gap: .8rem; align-items: center; flex-wrap: wrap; }
.spacer { flex: 1; }
#total { font-weight: 600; }
figure { margin: .5rem 0; }
#overview { overflow-x: auto; }
figcaption { font-size: 12px; color: var(--muted); }
#histogram { width: 100%; height: 90px; background: var(--bg2); display: block; }
.bar { fill: var(--accent); cursor: pointer; }
.bar:hover, .bar:focus { fill: #e07b00; outline: none; }
table { border-collapse: collapse; width: 100%; }
#results th, #results td { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid var(--line); font-size: 13px; vertical-align: top; }
#results td { font-family: ui-monospace, monospace; max-width: 11rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#results tbody tr { cursor: pointer; }
#results tbody tr:hover, #results tbody tr:focus { background: #e8f1fb; outline: none; }
#results tbody tr.open { background: #d6e7f8; }
.pick-col { width: 1.5rem; }
td.ok, .badge.ok { color: var(--good); }
td.warn, .badge.warn { color: var(--bad); font-weight: 600; }
#pager { display: flex; gap: .6rem; align-items: center; margin: .6rem 0; }
section#session, section#compare { margin-top: 1rem; border-top: 2px solid var(--accent); padding-top: .4rem; }
h2 { font-size: 15px; font-family: ui-monospace, monospace; margin: .2rem 0; word-break: break-all; }
.badge { font-size: 13px; }
pre { font: 13px/1.35 ui-monospace, "DejaVu Sans Mono", monospace; margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
#transcript, #trail { background: var(--bg2); padding: .5rem; border: 1px solid var(--line); }
#transcript .prov, #trail .prov { display: none; color: var(--muted); }
#transcript.with-prov .prov, #trail.with-prov .prov { display: inline; }
#trail-title { font-size: 14px; margin: .6rem 0 .2rem; }
#session-facts { margin: .3rem 0; }
#session-facts .fact { font-size: 13px; border: 1px solid var(--line); padding: 0 .3rem; margin-right: .3rem; }
mark { background: var(--mark); color: inherit; }
#compare-facts th, #compare-facts td, #compare-table th, #compare-table td { border: 1px solid var(--line); padding: .2rem .4rem; vertical-align: top; text-align: left; font-size: 13px; }
#compare-facts td { font-family: ui-monospace, monospace; }
#compare-table td { width: 46%; }
#compare-table th.phase { width: 8%; white-space: nowrap; }
tr.differs td, .line.differs { background: var(--diff); }
th.differs, .timing.differs { color: var(--bad); }
.timing { font-weight: 400; font-size: 11px; color: var(--muted); }
.differs { background: var(--diff); }
.legend { font-size: 12px; color: var(--muted); }
a { color: var(--accent); }
@media print {
  :root { font-size: 11px; }
  .noprint, header, #overview, #empty { display: none !important; }
  main { padding: 0; }
  section#session, section#compare { border: 0; margin: 0; }
  pre { font-size: 9px; }
  #compare-table td { width: 46%; }
  tr { break-inside: avoid; }
}
"""#
}
