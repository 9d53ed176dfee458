/// The web page: its HTML, script (`PageScript.swift`) and style sheet
/// (`PageStyle.swift`), served by maildex itself: no build step, nothing from other
/// hosts, no inline script or style (the Content-Security-Policy forbids them). Log
/// text reaches the document only as text nodes (`textContent`), never as markup.
enum Page {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>maildex</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header class="noprint">
  <form id="search" role="search" autocomplete="off">
    <a class="brand" href="/" title="maildex: search SMTP logs">maildex</a>
    <input id="q" name="q" type="search" spellcheck="false" aria-label="Query terms"
           placeholder="ip:203.0.113.0/24 since:2026-01-01   (press / to search)">
    <select id="order" name="order" aria-label="Order">
      <option value="oldest">oldest first</option>
      <option value="newest">newest first</option>
    </select>
    <button id="go" type="submit">Search</button>
  </form>
  <div id="kinds" aria-label="Term kinds"></div>
  <details id="syntax-help"><summary>Query syntax</summary><pre id="syntax"></pre></details>
  <div id="error" role="alert" hidden><span id="error-text"></span><pre id="error-hint"></pre></div>
</header>
<main>
  <section id="overview" class="noprint" hidden>
    <div id="summary-bar">
      <span id="total"></span>
      <span class="spacer"></span>
      <a id="export-ndjson" download>Export NDJSON</a>
      <a id="export-csv" download>Export CSV</a>
      <button id="compare-button" type="button" disabled title="Pick two sessions (x), then compare (c)">Compare picked</button>
    </div>
    <figure id="histogram-box">
      <figcaption id="histogram-caption"></figcaption>
      <svg id="histogram" role="img" aria-label="Matching sessions over time" preserveAspectRatio="none"></svg>
    </figure>
    <table id="results">
      <thead><tr>
        <th class="pick-col" title="Pick for comparison (x)">⇔</th><th>date</th><th>time</th><th>line id</th><th>peer</th>
        <th>HELO</th><th>sender</th><th>recipients</th><th>rejected</th><th>msgs</th><th>complete</th>
        <th title="server · out (sent by it) · TLS">via</th>
      </tr></thead>
      <tbody></tbody>
    </table>
    <nav id="pager">
      <button id="first" type="button">⟨⟨ first page</button>
      <button id="prev" type="button">⟨ previous (p)</button>
      <span id="page-label"></span>
      <button id="next" type="button">next (n) ⟩</button>
    </nav>
  </section>
  <section id="session" hidden aria-live="polite">
    <div class="view-head">
      <h2 id="session-title"></h2>
      <span id="session-status" class="badge"></span>
      <span class="spacer"></span>
      <label class="noprint"><input id="provenance-toggle" type="checkbox"> file, line and byte offset (o)</label>
      <a id="evidence-link" class="noprint" download>Evidence (.txt)</a>
      <a id="session-permalink" class="noprint">Permalink</a>
      <button id="session-close" class="noprint" type="button">Close (Esc)</button>
    </div>
    <p id="session-facts"></p>
    <pre id="transcript" tabindex="0"></pre>
    <h3 id="trail-title" hidden>What became of its messages</h3>
    <pre id="trail" tabindex="0" hidden></pre>
    <div id="evidence-sources"></div>
  </section>
  <section id="compare" hidden aria-live="polite">
    <div class="view-head">
      <h2>Side by side</h2>
      <span class="spacer"></span>
      <button id="compare-evidence" class="noprint" type="button">Evidence of both (.txt)</button>
      <a id="compare-permalink" class="noprint">Permalink</a>
      <button id="compare-print" class="noprint" type="button">Print / PDF</button>
      <button id="compare-close" class="noprint" type="button">Close (Esc)</button>
    </div>
    <table id="compare-facts"></table>
    <table id="compare-table"></table>
    <p class="legend">Rows are SMTP phases; <span class="differs">marked</span> lines have no like line on the other side (times, line ids and the channel's context left aside).</p>
  </section>
  <p id="empty" hidden>Type query terms above: an IP or CIDR range, an address, a domain, a message id, a line id, dates. The term kinds are listed under the search box.</p>
</main>
</body>
</html>
"""#
}
