"""HTML building blocks: escaping, the page shell and the one stylesheet (inlined in every page).

Pages carry no script: folds are ``<details>``, the enlarged frame is a ``:target`` overlay.
Every text that comes from a record goes through ``esc``; attribute values too.
"""

from __future__ import annotations

import html

CSS = """
:root{--fg:#1d2330;--muted:#687083;--line:#e2e5eb;--bg:#f6f7f9;--card:#fff;--ok:#16803c;--okbg:#e3f5e9;
--bad:#c0262d;--badbg:#fde8e8;--warn:#9a6400;--warnbg:#fff4d6;--acc:#3450c9}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"DejaVu Sans",sans-serif}
a{color:var(--acc);text-decoration:none}a:hover{text-decoration:underline}
code,pre,.mono{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12.5px}
.wrap{max-width:1500px;margin:0 auto;padding:0 18px 24px}
.topnav{display:flex;gap:14px;align-items:center;padding:8px 18px;background:#20263a;color:#cfd5e4;font-size:13px}
.topnav a{color:#fff}.topnav .sp{flex:1}
.head{display:flex;gap:16px;align-items:flex-start;justify-content:space-between;margin:10px 0 8px}
h1{font-size:21px;margin:0;word-break:break-all}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);margin:0 0 8px;font-weight:650}
h2 small{text-transform:none;letter-spacing:0;font-weight:400;margin-left:6px}
.meta{color:var(--muted);font-size:13px;margin-top:2px}
.badges{display:flex;gap:6px;flex-wrap:wrap;justify-content:flex-end}
.badge{display:inline-block;padding:3px 10px;border-radius:999px;font-weight:650;font-size:13px;white-space:nowrap;
border:1px solid transparent}
.badge.ok{background:var(--okbg);color:var(--ok);border-color:#b5e2c3}
.badge.bad{background:var(--badbg);color:var(--bad);border-color:#f4bcbc}
.badge.warn{background:var(--warnbg);color:var(--warn);border-color:#f0d78c}
.badge.na{background:#eceef2;color:var(--muted)}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 14px;margin-bottom:12px}
.qa{display:grid;grid-template-columns:minmax(0,1.3fr) minmax(0,1fr);gap:12px}
.question{font-size:18px;font-weight:600;margin:0 0 6px}
.choices{list-style:none;margin:0;padding:0;display:grid;gap:3px}
.choices li{display:flex;gap:8px;align-items:center;padding:2px 8px;border-radius:6px;border:1px solid var(--line)}
.choices .key{font-weight:700;color:var(--muted);width:1.2em}
.choices li.hit{background:var(--okbg);border-color:#9fd8b1}
.choices li.miss{background:var(--badbg);border-color:#f0a9a9}
.choices li.truth{border-color:var(--ok);border-style:dashed}
.tag{font-size:11px;font-weight:700;padding:1px 7px;border-radius:999px;text-transform:uppercase;letter-spacing:.03em}
.tag.label{background:var(--ok);color:#fff}.tag.pred{background:#39414f;color:#fff}.tag.pred.wrong{background:var(--bad)}
.choices .txt{flex:1}
.answers div{margin:2px 0}
table.verdicts{border-collapse:collapse;width:100%;font-size:13px}
table.verdicts td{padding:3px 6px;border-top:1px solid var(--line);vertical-align:top}
table.verdicts tr:first-child td{border-top:0}
table.verdicts td.stage{font-weight:650;white-space:nowrap;width:1%}
table.verdicts td.v{white-space:nowrap;width:1%}
.why{color:var(--muted)}
.cols{display:grid;grid-template-columns:minmax(0,1.3fr) minmax(0,1fr);gap:12px;align-items:start}
@media (max-width:1000px){.cols,.qa{grid-template-columns:minmax(0,1fr)}}
.legend{display:flex;flex-wrap:wrap;gap:4px 12px;font-size:12.5px;margin-bottom:8px}
.legend i{display:inline-block;width:12px;height:12px;border:2.5px solid;border-radius:2px;vertical-align:-2px;
margin-right:4px}
.grid{display:grid;grid-template-columns:repeat(8,minmax(0,1fr));gap:4px}
.frame{position:relative;display:block;border-radius:3px;overflow:hidden;background:#222;line-height:0}
.frame img{width:100%;height:auto;display:block}
.frame svg{position:absolute;left:0;top:0;width:100%;height:100%;overflow:visible}
.frame .fid{position:absolute;left:0;bottom:0;background:rgba(0,0,0,.62);color:#fff;font-size:10.5px;line-height:1;
padding:2px 4px;border-top-right-radius:3px}
.frame.has .fid{background:rgba(22,30,60,.85);font-weight:700}
.frame.missing{aspect-ratio:4/3;background:repeating-linear-gradient(45deg,#e9ebef 0 6px,#f3f4f7 6px 12px);
line-height:1.2;color:var(--muted);font-size:11px;padding:4px}
.frame.missing .fid{background:#9aa1b0}
.note{background:var(--warnbg);color:var(--warn);border:1px solid #f0d78c;border-radius:6px;padding:6px 10px;
margin:8px 0;font-size:13px}
.note.err{background:var(--badbg);color:var(--bad);border-color:#f4bcbc}
.tl{font-size:12px}
.tl-row{display:grid;grid-template-columns:170px minmax(0,1fr) 62px;align-items:center;gap:6px;min-height:20px}
.tl-label{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.tl-score{color:var(--muted);font-size:11px;text-align:right;white-space:nowrap}
.tl-track{position:relative;height:16px;border-radius:3px;background-color:#f0f2f5;
background-image:repeating-linear-gradient(to right,transparent 0,transparent calc(100%/32 - 1px),#dde1e7 calc(100%/32 - 1px),
#dde1e7 calc(100%/32))}
.tl-head .tl-track{background:none;height:14px}
.tick{position:absolute;top:0;width:calc(100%/32);text-align:center;font-size:9.5px;color:var(--muted)}
.tick.major{color:var(--fg);font-weight:650}
.bar{position:absolute;top:2px;bottom:2px;border-radius:3px;min-width:4px;opacity:.9}
.tl-empty{position:absolute;left:6px;top:0;font-style:italic;color:var(--muted);font-size:11px;line-height:16px}
.ln{display:inline-block;min-width:2.2em;color:var(--muted);font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px}
.tl-label .ln{min-width:0;margin-right:4px;background:#eceef2;border-radius:3px;padding:0 3px}
table.prog{border-collapse:collapse;width:100%;table-layout:fixed}
table.prog td{padding:0 6px;vertical-align:top}
table.prog td.n{width:2.6em;text-align:right;color:var(--muted);user-select:none;font-family:ui-monospace,Menlo,monospace;
font-size:11.5px;padding-top:1px}
table.prog td.code{white-space:pre-wrap;word-break:break-word;font-family:ui-monospace,Menlo,Consolas,monospace;
font-size:12.5px}
table.prog tr.called td.code{background:#f2f5ff}
table.prog tr.err td.code{background:var(--badbg)}
table.prog tr:target td{background:#fff3b0}
table.prog tr.res td{padding-bottom:4px}
.call{margin:2px 0 2px 0;font-size:12.5px;border-left:3px solid var(--acc);padding:1px 0 1px 8px;background:#fafbfd}
.call.failed{border-left-color:var(--bad)}
.call summary{cursor:pointer;list-style:none}
.call summary::-webkit-details-marker{display:none}
.call summary .sig{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;color:#39414f}
.call summary .out{font-weight:600}
.call.failed summary .out{color:var(--bad)}
.call .chip{display:inline-block;width:9px;height:9px;border-radius:2px;margin-right:4px;vertical-align:0}
.call pre,.raw pre{margin:4px 0;max-height:260px;overflow:auto;background:#f4f5f8;padding:6px;border-radius:4px;
white-space:pre-wrap;word-break:break-word}
.errline{color:var(--bad);font-weight:600;font-size:12.5px;padding:2px 0 4px 8px}
.result{margin-top:8px;font-size:13px}
.steps{margin:0;padding-left:1.4em}
.steps li{margin:3px 0}
.steps li.concl{font-weight:650;list-style:none;margin-left:-1.4em;margin-top:6px}
.ground{background:#fff0c2;border-radius:3px;padding:0 2px}
dl.prov{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 12px;margin:0;font-size:12.5px}
dl.prov dt{color:var(--muted)}dl.prov dd{margin:0;word-break:break-word}
.zoom{display:none}
.zoom:target{display:flex;position:fixed;inset:0;z-index:10;align-items:center;justify-content:center}
.zoom .zbg{position:absolute;inset:0;background:rgba(10,14,24,.78)}
.zoom figure{position:relative;margin:0;background:#111;padding:8px;border-radius:6px;max-width:92vw}
.zoom .zimg{position:relative;line-height:0}
.zoom img{width:min(880px,88vw);height:auto;display:block;image-rendering:auto}
.zoom svg{position:absolute;left:0;top:0;width:100%;height:100%;overflow:visible}
.zoom figcaption{color:#e8eaf0;font-size:13px;margin-top:6px;line-height:1.4}
.zoom figcaption a{color:#fff;font-size:18px;padding:0 6px}
.zoom .zclose{position:absolute;right:10px;top:6px;color:#fff;font-size:13px;z-index:2}
table.index{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
table.index th{text-align:left;font-size:12px;color:var(--muted);border-bottom:2px solid var(--line);padding:6px 8px;
position:sticky;top:0;background:#fff}
table.index td{border-bottom:1px solid var(--line);padding:5px 8px;vertical-align:top}
table.index tr:hover td{background:#f7f8fb}
table.index td.q{max-width:420px}
.counts{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.count{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:110px}
.count b{display:block;font-size:22px}
.count span{color:var(--muted);font-size:12px}
.muted{color:var(--muted)}
"""


def esc(value: object) -> str:
    """Text or attribute value, escaped: ``<``, ``>``, ``&`` and both quotes."""
    return html.escape(str(value), quote=True)


def page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(title)}</title>\n"
            # no favicon request: a file:// page would otherwise log a failed load
            "<link rel=\"icon\" href=\"data:,\">\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def badge(text: str, kind: str, title: str | None = None) -> str:
    tip = f' title="{esc(title)}"' if title else ""
    return f'<span class="badge {kind}"{tip}>{esc(text)}</span>'


def mark(passed: bool | None) -> str:
    """The symbol and CSS class of a verdict."""
    return {True: "✓", False: "✗", None: "–"}[passed]
