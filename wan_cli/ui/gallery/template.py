"""The gallery page's frame and style sheet: no script, a Content Security Policy that allows
only local images and the inline style, and one thumbnail size in every card.

Every image loads eagerly (no `loading="lazy"`, no `decoding="async"`): a headless browser's
screenshot or PDF must show them all, not grey boxes."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
{generator}
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
img-src 'self' file: data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header class="page"><h1>{heading}</h1><p>{summary}</p></header>
<main>
{runs}
</main>
</body>
</html>
"""


STYLE = """
:root { color-scheme: light dark; --fg: #1c1c1e; --bg: #f3f3f5; --card: #fff; --muted: #6e6e73;
  --line: #e3e3e8; --tile: #e9e9ee; --accent: #6d3fc0; --accent-bg: #efe8fb; --bad: #b3261e;
  --bad-bg: #fbe9e7; --warn: #8a5300; --warn-bg: #fff4dc; --thumb: 170px; }
@media (prefers-color-scheme: dark) { :root { --fg: #ececf0; --bg: #121214; --card: #1d1d20;
  --muted: #a1a1a8; --line: #313136; --tile: #2a2a2e; --accent: #c5a3f5; --accent-bg: #2f2540;
  --bad: #ff8a80; --bad-bg: #3b1f1d; --warn: #ffcc66; --warn-bg: #33290f; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px 20px; background: var(--bg);
  color: var(--fg); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.page h1 { font-size: 1.5rem; line-height: 1.25; margin: 0; overflow-wrap: anywhere; }
.page p { margin: 2px 0 20px; color: var(--muted); }
.run { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr);
  grid-template-areas: "images head" "images about"; grid-template-rows: auto 1fr;
  gap: 8px 24px; background: var(--card); border: 1px solid var(--line); border-radius: 12px;
  padding: 16px; margin: 0 0 20px; }
.head { grid-area: head; min-width: 0; }
.images { grid-area: images; display: grid; align-content: start; gap: 12px;
  grid-template-columns: repeat(auto-fill, minmax(var(--thumb), 1fr)); }
.about { grid-area: about; min-width: 0; }
figure { margin: 0; min-width: 0; }
.thumb, .placeholder { display: block; aspect-ratio: 1 / 1; border-radius: 8px;
  background: var(--tile); overflow: hidden; }
.thumb img { display: block; width: 100%; height: 100%; object-fit: contain; }
.placeholder { display: flex; align-items: center; justify-content: center; padding: 12px;
  border: 1px dashed var(--muted); color: var(--muted); text-align: center; font-size: 0.85rem;
  overflow-wrap: anywhere; }
figcaption { margin-top: 4px; font-size: 0.75rem; color: var(--muted); white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.meta { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px; margin: 0 0 6px;
  font-size: 0.8rem; color: var(--muted); }
.badge { padding: 0 8px; border-radius: 999px; font-weight: 600; letter-spacing: 0.02em; }
.mode { color: var(--accent); background: var(--accent-bg); }
.bad { color: var(--bad); background: var(--bad-bg); }
.mock { color: var(--warn); background: var(--warn-bg); }
.prompt { font-size: 1.15rem; font-weight: 600; line-height: 1.4; margin: 0;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; border-left: 3px solid var(--accent);
  padding: 2px 0 2px 12px; margin: 4px 0 12px; }
.note { color: var(--muted); font-style: italic; margin: 4px 0 8px; }
.status { color: var(--bad); margin: 4px 0 8px; overflow-wrap: anywhere; }
.rescue { margin: 0 0 12px; padding: 8px 12px; border-radius: 8px; color: var(--warn);
  background: var(--warn-bg); font-size: 0.9rem; }
.rescue code { color: var(--fg); white-space: nowrap; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 3px 14px;
  margin: 4px 0 0; font-size: 0.85rem; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
.refs { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.ref { display: block; width: 56px; height: 56px; border-radius: 6px; overflow: hidden;
  background: var(--tile); }
.ref img { display: block; width: 100%; height: 100%; object-fit: cover; }
.ref-url, .ref-note { overflow-wrap: anywhere; }
.ref-note { color: var(--muted); }
a { color: var(--accent); }
code { font: 0.8rem ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
@media (max-width: 700px) {
  :root { --thumb: 130px; }
  body { padding: 14px 10px; }
  .run { grid-template-columns: minmax(0, 1fr); grid-template-areas: "head" "images" "about";
    grid-template-rows: auto; padding: 12px; gap: 10px; }
}
@media print {
  body { max-width: none; background: #fff; }
  .run { break-inside: avoid; }
}
"""
