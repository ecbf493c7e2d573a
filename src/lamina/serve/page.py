"""GET /: one self-contained page to try every served model (no external resources)."""

from __future__ import annotations

import html
import json

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lamina</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>
 body{font:15px/1.4 system-ui,sans-serif;margin:2rem auto;max-width:46rem;padding:0 1rem;color:#222}
 .model{border:1px solid #ccc;border-radius:8px;padding:1rem;margin:1rem 0}
 table{border-collapse:collapse;margin-top:.5rem} td{padding:2px 10px;border-bottom:1px solid #eee}
 .bar{background:#4a7;height:10px;display:inline-block} .err{color:#b00}
</style></head><body>
<h1>lamina</h1>
__TOKEN__
__MODELS__
<script>
const MODELS = __DATA__;
function headers(){const t=document.getElementById('token');return t&&t.value?{'Authorization':'Bearer '+t.value}:{};}
function show(name, preds){
  const out=document.getElementById('out-'+name); out.textContent='';
  const table=document.createElement('table'); table.className='result';
  for(const p of preds[0].top_k){
    const tr=document.createElement('tr');
    const a=document.createElement('td'); a.textContent=p.label;
    const b=document.createElement('td'); b.textContent=p.score.toFixed(4);
    const c=document.createElement('td'); const bar=document.createElement('span'); bar.className='bar';
    bar.style.width=Math.round(p.score*200)+'px'; c.appendChild(bar);
    tr.append(a,b,c); table.appendChild(tr);
  }
  out.appendChild(table);
}
async function run(name){
  const area=document.getElementById('text-'+name);
  const body=area?area.value:document.getElementById('file-'+name).files[0];
  const out=document.getElementById('out-'+name);
  if(!body||(area&&!body.trim())){out.innerHTML='<span class="err">'+(area?'type a text first':'choose a file first')+'</span>';return;}
  out.textContent='…';
  const h=headers(); if(area){h['Content-Type']='text/plain; charset=utf-8';}
  try{
    const r=await fetch('predict/'+encodeURIComponent(name)+'?top_k=5',{method:'POST',body:body,headers:h});
    const j=await r.json();
    if(!r.ok){out.innerHTML='';const s=document.createElement('span');s.className='err';s.textContent=j.error||r.status;out.appendChild(s);return;}
    show(name,j.predictions);
  }catch(e){out.textContent=String(e);}
}
</script></body></html>
"""


def render_page(models, token_required: bool) -> str:
    """The page for ``models`` (ServedModel); names and labels are HTML-escaped."""
    cards = []
    for m in models:
        n = html.escape(m.name, quote=True)
        labels = html.escape(", ".join(m.labels[:20]) + (" …" if len(m.labels) > 20 else ""))
        cards.append(
            f'<div class="model" data-model="{n}"><h2>{n}</h2><p>{html.escape(m.meta["modality"])} · '
            f'{len(m.labels)} labels: {labels}</p>'
            + (f'<textarea id="text-{n}" rows="3" cols="60" placeholder="a text to classify"></textarea><br>'
               if m.meta["modality"] == "text" else
               f'<input type="file" id="file-{n}" accept="{"audio/*" if m.meta["modality"] == "audio" else "image/*"}"> ')
            + f'<button id="run-{n}" onclick="run(this.id.slice(4))">Predict</button>'
            f'<div id="out-{n}"></div></div>'
        )
    token = '<p>Token: <input type="password" id="token" autocomplete="off"></p>' if token_required else ""
    data = json.dumps([m.name for m in models]).replace("<", "\\u003c")
    return PAGE.replace("__TOKEN__", token).replace("__MODELS__", "\n".join(cards)).replace("__DATA__", data)
