"""GET /: one self-contained page to try every served model (no external resources).

The cards are built by the page's script from a list of models: embedded in the page when
the server is open, fetched with the token the user types when it needs one (the page itself
then shows nothing of the models). No inline handlers, so the Content-Security-Policy can
allow exactly this page's script and style by their hashes.
"""

from __future__ import annotations

import base64
import hashlib
import json

STYLE = """
 body{font:15px/1.4 system-ui,sans-serif;margin:2rem auto;max-width:46rem;padding:0 1rem;color:#222}
 .model{border:1px solid #ccc;border-radius:8px;padding:1rem;margin:1rem 0}
 table{border-collapse:collapse;margin-top:.5rem} td{padding:2px 10px;border-bottom:1px solid #eee}
 .bar{background:#4a7;height:10px;display:inline-block} .err{color:#b00}
 .field{display:inline-block;margin:0 1rem .4rem 0} .field input{width:8rem}
"""

SCRIPT = """
const PAGE = JSON.parse(document.getElementById('models').textContent);
function el(tag, props, ...kids){const e=document.createElement(tag);Object.assign(e,props||{});e.append(...kids);return e;}
function headers(){const t=document.getElementById('token');return t&&t.value?{'Authorization':'Bearer '+t.value}:{};}
function fail(out, message){out.textContent='';out.appendChild(el('span',{className:'err'},String(message)));}
function show(name, preds){
  const out=document.getElementById('out-'+name); out.textContent='';
  const first=preds[0];
  if(first.value!==undefined){out.appendChild(el('p',{className:'value'},'predicted value: '+first.value.toPrecision(6)));return;}
  if(first.labels){out.appendChild(el('p',{className:'chosen'},'labels: '+(first.labels.join(', ')||'(none above its threshold)')));}
  const rows=first.top_k||Object.entries(first.scores).sort((a,b)=>b[1]-a[1]).slice(0,10).map(([label,score])=>({label,score}));
  const table=el('table',{className:'result'});
  for(const p of rows){
    const bar=el('span',{className:'bar'}); bar.style.width=Math.round(p.score*200)+'px';
    table.appendChild(el('tr',{},el('td',{},p.label),el('td',{},p.score.toFixed(4)),el('td',{},bar)));
  }
  out.appendChild(table);
}
function dataUrl(file){
  return new Promise((ok,bad)=>{const r=new FileReader(); r.onload=()=>ok(r.result); r.onerror=()=>bad(r.error); r.readAsDataURL(file);});
}
async function fields(name){
  const row={}; let any=false;
  for(const f of document.querySelectorAll('[data-field-of="'+CSS.escape(name)+'"]')){
    if(f.type==='file'){row[f.dataset.field]=f.files[0]?await dataUrl(f.files[0]):null; any=any||!!f.files[0]; continue;}
    if(f.value.trim()===''){row[f.dataset.field]=null; continue;} any=true;
    row[f.dataset.field]=f.type==='number'?Number(f.value):f.value;
  }
  return any?JSON.stringify(row):'';
}
async function run(name){
  const area=document.getElementById('text-'+name), form=document.getElementById('fields-'+name);
  const body=form?await fields(name):area?area.value:document.getElementById('file-'+name).files[0];
  const out=document.getElementById('out-'+name);
  if(!body||(area&&!body.trim())){fail(out,form?'fill in a field first':area?'type a text first':'choose a file first');return;}
  out.textContent='…';
  const h=headers(); if(area){h['Content-Type']='text/plain; charset=utf-8';} if(form){h['Content-Type']='application/json';}
  try{
    const r=await fetch('predict/'+encodeURIComponent(name)+'?top_k=5',{method:'POST',body:body,headers:h});
    const j=await r.json();
    if(!r.ok){fail(out,j.error||r.status);return;}
    show(name,j.predictions);
  }catch(e){fail(out,e);}
}
function field(name, f){
  const input=f.accept?el('input',{type:'file',accept:f.accept}):el('input',{type:f.number?'number':'text',step:'any'});
  input.dataset.fieldOf=name; input.dataset.field=f.name;
  if(!f.choices){return el('label',{className:'field'},f.name+' ',input);}
  const list=el('datalist',{id:'choices-'+name+'-'+f.name},...f.choices.map(v=>el('option',{value:v})));
  input.setAttribute('list',list.id);
  return el('label',{className:'field'},f.name+' ',input,list);
}
function entry(m){
  const form=m.form;
  if(form.kind==='text'){return el('textarea',{id:'text-'+m.name,rows:3,cols:60,placeholder:'a text to classify'});}
  if(form.kind==='fields'){return el('div',{id:'fields-'+m.name},...form.fields.map(f=>field(m.name,f)));}
  return el('input',{type:'file',id:'file-'+m.name,accept:form.accept});
}
function card(m){
  const shown=m.labels.slice(0,20).join(', ')+(m.labels.length>20?' …':'');
  const button=el('button',{id:'run-'+m.name},'Predict'); button.addEventListener('click',()=>run(m.name));
  const div=el('div',{className:'model'},el('h2',{},m.name),el('p',{},m.modality+' · '+m.labels.length+' labels: '+shown),
               entry(m),m.form.kind==='file'?' ':el('br'),button,el('div',{id:'out-'+m.name}));
  div.dataset.model=m.name;
  return div;
}
async function connect(){
  const status=document.getElementById('status');
  try{
    const doc=await fetch('openapi.json',{headers:headers()});
    if(!doc.ok){fail(status,doc.status===401?'wrong token':'error '+doc.status);return;}
    const names=(await doc.json()).paths['/v2/models/{name}'].get.parameters[0].schema.enum;
    const models=[];
    for(const n of names){
      const meta=await (await fetch('v2/models/'+encodeURIComponent(n),{headers:headers()})).json();
      models.push({name:n,modality:meta.parameters.modality,labels:meta.parameters.labels,form:meta.parameters.form});
    }
    status.textContent=''; models.forEach(m=>document.getElementById('cards').appendChild(card(m)));
  }catch(e){fail(status,e);}
}
if(PAGE.token){document.getElementById('connect').addEventListener('click',connect);}
else{PAGE.models.forEach(m=>document.getElementById('cards').appendChild(card(m)));}
"""

TOKEN_FORM = (
    '<p>This server needs a token. Token: <input type="password" id="token" autocomplete="off"> '
    '<button id="connect">Connect</button> <span id="status"></span></p>'
)


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CSP = (
    f"default-src 'none'; script-src {_hash(SCRIPT)}; style-src {_hash(STYLE)}; connect-src 'self'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def render_page(models, token_required: bool) -> str:
    """The page for ``models`` (ServedModel); with a token, the models are fetched after the user gives it."""
    data = {
        "token": token_required,
        "models": []
        if token_required
        else [{"name": m.name, "modality": m.modality, "labels": m.labels, "form": m.prep.page_form()} for m in models],
    }
    blob = json.dumps(data).replace("<", "\\u003c")  # no '</script>' can close the data block
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>lamina</title>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">\n'
        f'<style>{STYLE}</style></head><body>\n<h1>lamina</h1>\n{TOKEN_FORM if token_required else ""}\n<div id="cards"></div>\n'
        f'<script type="application/json" id="models">{blob}</script>\n<script>{SCRIPT}</script></body></html>\n'
    )
