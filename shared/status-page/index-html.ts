/**
 * The status page's HTML: plain markup and CSS, no build step. Kept as a string module so the
 * function bundle carries it without a file loader. The behaviour is app-js.ts.
 */
export const INDEX_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tidemark status</title>
<link rel="icon" href="data:,">
<style>
  :root { font: 14px/1.4 system-ui, sans-serif; color: #1f2328; background: #f6f8fa; }
  body { margin: 0 1.5rem 2rem; }
  header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
  h1 { font-size: 1.4rem; margin: 1rem 0 .5rem; }
  h2 { font-size: 1.1rem; margin: 0 0 .3rem; }
  h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; }
  #meta, .muted { color: #59636e; }
  form.bar { display: flex; gap: .8rem; align-items: center; flex-wrap: wrap; background: #fff; border: 1px solid #d1d9e0; border-radius: 6px; padding: .5rem .8rem; }
  #legend { display: flex; gap: .8rem; flex-wrap: wrap; margin: .6rem 0; font-size: 12px; }
  #legend span::before { content: ""; display: inline-block; width: 11px; height: 11px; margin-right: 4px; vertical-align: -1px; background: var(--c); border-radius: 2px; }
  section.table { background: #fff; border: 1px solid #d1d9e0; border-radius: 6px; padding: .7rem .9rem; margin: .8rem 0; }
  .stats { display: flex; gap: 1.4rem; flex-wrap: wrap; margin-bottom: .5rem; font-size: 13px; }
  .stats b { font-weight: 600; }
  meter { width: 90px; vertical-align: middle; }
  .grid { max-height: 330px; overflow: auto; position: relative; border-top: 1px solid #eef1f4; }
  .grid canvas { position: sticky; top: 0; display: block; cursor: pointer; }
  #tip { position: fixed; pointer-events: none; background: #1f2328; color: #fff; padding: 3px 7px; border-radius: 4px; font-size: 12px; display: none; z-index: 10; white-space: nowrap; }
  #details { position: fixed; right: 1rem; top: 1rem; bottom: 1rem; width: min(460px, 45vw); overflow: auto; background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; box-shadow: 0 8px 24px #0002; padding: .8rem 1rem; z-index: 5; }
  #details[hidden] { display: none; }
  table.list { border-collapse: collapse; width: 100%; font-size: 12px; background: #fff; }
  table.list th, table.list td { text-align: left; border-bottom: 1px solid #eef1f4; padding: 3px 6px; vertical-align: top; overflow-wrap: break-word; }
  .err { color: #cf222e; white-space: pre-wrap; }
  td .err { display: block; max-height: 4.3em; overflow: auto; }
  button { font: inherit; padding: 2px 10px; border: 1px solid #d1d9e0; border-radius: 6px; background: #f6f8fa; cursor: pointer; }
  button.primary { background: #1f883d; color: #fff; border-color: #1a7f37; }
  .preview { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: .5rem; margin: .5rem 0; }
  code { font-size: 12px; }
</style>
</head>
<body>
<header><h1>tidemark status</h1><span id="meta">loading…</span></header>
<form class="bar" id="filters">
  <label><input type="checkbox" id="f-problems"> problems only</label>
  <label>table <select id="f-table"><option value="">all tables</option></select></label>
  <label>from <input type="date" id="f-from"></label>
  <label>to <input type="date" id="f-to"></label>
  <button type="button" id="f-refresh">Refresh</button>
</form>
<div id="legend"></div>
<main id="tables"></main>
<section id="actions" hidden>
  <h3>Backfill a range</h3>
  <form class="bar" id="backfill">
    <select id="b-table"></select>
    <label>from <input id="b-from" placeholder="2026112400 or 2026-11-24" size="14"></label>
    <label>to <input id="b-to" placeholder="inclusive" size="14"></label>
    <label><input type="checkbox" id="b-force"> force</label>
    <button type="button" id="b-dry">Dry run</button>
  </form>
  <div id="b-result"></div>
</section>
<h3>Quarantined files</h3><div id="quarantine"></div>
<h3>Dead letters</h3><div id="dead"></div>
<h3>Unrouted objects</h3><div id="unrouted"></div>
<aside id="details" hidden></aside>
<div id="tip"></div>
<script type="module" src="app.js"></script>
</body>
</html>
`;
