"""The evaluation report's stylesheet (inlined into the self-contained page)."""

__all__ = ["REPORT_CSS"]

REPORT_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f5f6f8;
color:#1d2733}
header{background:#1d2733;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9d1db;font-size:14px}
main{padding:10px 28px 40px;max-width:1280px}
section{background:#fff;border-radius:8px;padding:14px 18px;margin:16px 0;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:17px;margin:2px 0 10px}h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:12.5px}
th,td{padding:4px 8px;border-bottom:1px solid #e4e7eb;text-align:right;
white-space:nowrap}th:first-child,td:first-child{text-align:left}
th{background:#f0f2f5;position:sticky;top:0}td.best{font-weight:700;color:#1a7f4b}
.ci{color:#6b7785;font-size:11px}.note{color:#56606b;font-size:13px;max-width:900px}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots img{width:calc(50% - 8px);min-width:420px;
border:1px solid #e4e7eb;border-radius:4px}.plots figure{margin:0;width:calc(50% - 8px)}
.plots figure img{width:100%}figcaption{font-size:12px;color:#56606b}
.row{display:flex;align-items:flex-start;gap:6px;margin:8px 0;padding-bottom:8px;
border-bottom:1px dashed #e4e7eb}
.card{width:96px;font-size:10.5px;text-align:center;color:#56606b}
.card div{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.card img{width:96px;height:96px;object-fit:cover;border-radius:4px;border:3px solid #ccc;
display:block}
.card.query img{border-color:#2b6cb0}.card.hit img{border-color:#2f9e62}
.card.miss img{border-color:#d64545}.card .cat{overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}.arrow{align-self:center;font-size:20px;color:#9aa5b1}
.heat td{text-align:center;min-width:38px}.heat td:first-child{text-align:left}
.legend span{display:inline-block;width:12px;height:12px;border-radius:2px;
margin:0 4px 0 12px;vertical-align:middle}
.scroll{overflow-x:auto;max-width:100%}.verdict{font-size:15px;line-height:1.5;max-width:900px}
.glossary dt{font-weight:600;font-size:13px;margin-top:6px}.glossary dd{margin:0 0 0 16px;
font-size:13px;color:#56606b}.plots img{max-width:100%}
"""
