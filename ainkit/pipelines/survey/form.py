"""The survey form: one static, bilingual HTML page (CSS, JS, images inline) that saves a rater's answers as JSON.

The page holds the questions, each answer under an opaque token, and the order seed; never a model's name.
A rater enters the code they were given (or opens survey.html?rater=CODE); the page then shows every
question's answers in that rater's order (ainkit.pipelines.survey.order) and, on "Save", downloads
survey-<survey>-<rater>.json with the order shown, the choice and its position for every question.
"""
from __future__ import annotations

import html
import json
from typing import Any

from ainkit.pipelines.sidebyside import bilingual, isolated_text
from ainkit.pipelines.survey import order

RESPONSE_KIND = "ainkit-survey-response"
FORMAT = 1
RATER_PATTERN = r"^[A-Za-z0-9-]{1,40}$"

_CSS = """
body{font-family:"DejaVu Sans",Tahoma,Arial,sans-serif;margin:0 auto;max-width:56em;padding:1em;color:#222;line-height:1.5}
.en{direction:ltr;unicode-bidi:isolate;display:block;text-align:left;color:#444;font-size:.92em}.ar{direction:rtl;text-align:right}
.card{border:1px solid #ccc;border-radius:6px;padding:1em;margin:1em 0}.imgs img{max-height:220px;max-width:48%;margin:.3em}
.opt{display:block;border:1px solid #ddd;border-radius:4px;padding:.5em;margin:.4em 0;cursor:pointer}
.opt:hover{background:#f3f7ff}.ref{background:#f6f6f6;padding:.4em;border-radius:4px}
.question,.answer-text,.reference-text{white-space:pre-line}
#status{font-weight:bold;margin:1em 0}#status.err{color:#b2182b}#status.ok{color:#1b7837}
button{font-size:1.05em;padding:.5em 1.2em}select{font-size:1em}
"""

_JS = order.JS + """
const DATA=JSON.parse(document.getElementById('survey-data').textContent);
const RATER_RE=new RegExp(DATA.rater_pattern);let RATER=null;const ORDERS={};
function el(tag,attrs,...kids){const e=document.createElement(tag);for(const[k,v]of Object.entries(attrs||{}))e.setAttribute(k,v);
  for(const c of kids)e.append(c);return e;}
// a text as [[dir, text], ...] runs (ainkit.pipelines.sidebyside.direction_runs): one run sets the element's dir, several get a <bdi> each
function runs(tag,attrs,rs){const lang=d=>d==='rtl'?'ar':'en';
  if(rs.length<2)return el(tag,{...attrs,dir:rs.length?rs[0][0]:'auto',lang:rs.length?lang(rs[0][0]):'en'},rs.length?rs[0][1]:'');
  return el(tag,{...attrs,dir:rs[0][0]},...rs.map(([d,t])=>el('bdi',{dir:d,lang:lang(d)},t)));}
// an Arabic and an English label, each isolated in its own direction
function bi(ar,en){return [el('bdi',{dir:'rtl',lang:'ar'},ar),' · ',el('bdi',{dir:'ltr',lang:'en'},en)];}
function status(ar,en,cls){const s=document.getElementById('status');s.replaceChildren(el('div',{dir:'rtl'},ar),el('div',{dir:'ltr',class:'en'},en));s.className=cls;if(cls)s.scrollIntoView();}
function start(code){
  code=(code||'').trim();
  if(!RATER_RE.test(code)){status('رمز المشارك غير صالح','Invalid participant code (letters, digits and "-" only)','err');return;}
  RATER=code;document.getElementById('rater-shown').textContent=code;
  document.getElementById('login').hidden=true;document.getElementById('survey').hidden=false;
  const box=document.getElementById('questions');box.innerHTML='';
  DATA.questions.forEach((q,qi)=>{
    const shown=shownOrder(DATA.seed,RATER,q.id,q.answers.map(a=>a.token));ORDERS[q.id]=shown;
    const card=el('div',{class:'card',id:'card-'+q.id,'data-question':q.id});
    card.append(el('h3',{},...bi('السؤال '+(qi+1),'Question '+(qi+1))));
    const imgs=el('div',{class:'imgs'});q.images.forEach((src,i)=>imgs.append(el('img',{src:src,alt:q.id+' image '+(i+1)})));card.append(imgs);
    card.append(runs('p',{class:'question'},q.question));
    if(q.reference!==null)card.append(el('div',{class:'ref'},el('b',{},...bi('الإجابة الصحيحة','Correct answer')),runs('div',{class:'reference-text'},q.reference)));
    shown.forEach((tok,pos)=>{const a=q.answers.find(x=>x.token===tok);
      const input=el('input',{type:'radio',name:'q-'+q.id,value:tok,'data-position':String(pos+1)});
      card.append(el('label',{class:'opt','data-token':tok},input,' ',el('b',{},...bi('الإجابة '+(pos+1),'Answer '+(pos+1))),
        runs('div',{class:'answer-text'},a.text)));});
    box.append(card);});
  status('','','');
}
function collect(){
  const missing=[],answers=[];
  DATA.questions.forEach((q,qi)=>{const c=document.querySelector('input[name="q-'+q.id+'"]:checked');
    if(!c){missing.push(qi+1);return;}
    answers.push({question:q.id,order:ORDERS[q.id],choice:c.value,position:Number(c.dataset.position)});});
  const country=document.getElementById('country').value;const msa=document.querySelector('input[name="msa"]:checked');
  return{missing,answers,country,msa:msa?msa.value:''};
}
function save(){
  const r=collect();const ar=[],en=[];
  if(r.missing.length){ar.push('أسئلة بلا إجابة: '+r.missing.join('، '));en.push('unanswered questions: '+r.missing.join(', '));}
  if(!r.country){ar.push('اختر بلدك');en.push('choose your country');}
  if(!r.msa){ar.push('أجب عن سؤال الفصحى واللهجة');en.push('answer the MSA/dialect question');}
  if(en.length){status(ar.join(' — '),en.join(' — '),'err');return;}
  const resp={kind:DATA.response_kind,format:DATA.format,survey:DATA.survey,rater:RATER,submitted_at:new Date().toISOString(),
    order_seed:DATA.seed,demographics:{country:r.country,msa:r.msa},comment:document.getElementById('comment').value,answers:r.answers};
  const blob=new Blob([JSON.stringify(resp,null,2)],{type:'application/json'});
  const a=el('a',{href:URL.createObjectURL(blob),download:'survey-'+DATA.survey+'-'+RATER+'.json'});
  document.body.append(a);a.click();a.remove();
  status('حُفظت إجاباتك في ملف؛ أرسله إلى الباحثين: '+a.download,'Your answers were saved to a file ('+a.download+'); send it to the researchers','ok');
}
document.getElementById('start').addEventListener('click',()=>start(document.getElementById('rater').value));
document.getElementById('save').addEventListener('click',save);
document.addEventListener('change',()=>{if(document.getElementById('status').className==='err')status('','','');});
const fromUrl=new URLSearchParams(location.search).get('rater');
if(fromUrl){document.getElementById('rater').value=fromUrl;start(fromUrl);}
"""


def render(data: dict[str, Any], countries: dict[str, tuple[str, str]], msa: dict[str, tuple[str, str]],
           msa_question: tuple[str, str], title: tuple[str, str]) -> str:
    """The whole page; `data` (survey id, seed, questions with tokens and texts) is embedded as JSON."""
    e = html.escape
    blob = json.dumps({**data, "response_kind": RESPONSE_KIND, "format": FORMAT, "rater_pattern": RATER_PATTERN},
                      ensure_ascii=False).replace("</", "<\\/")
    country_opts = "".join(f'<option value="{e(c)}">{e(isolated_text(ar, en))}</option>' for c, (en, ar) in countries.items())
    msa_opts = "".join(f'<label class="opt"><input type="radio" name="msa" value="{e(k)}"> <bdi class="ar" dir="rtl" lang="ar">{e(ar)}'
                       f'</bdi><br><bdi class="en" dir="ltr" lang="en">{e(en)}</bdi></label>' for k, (en, ar) in msa.items())
    n = len(data["questions"])
    return f"""<!doctype html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(isolated_text(title[1], title[0]))}</title><style>{_CSS}</style></head><body>
<h1 class="ar" dir="rtl">{e(title[1])}</h1><h2 class="en" dir="ltr">{e(title[0])}</h2>
<p class="ar" dir="rtl">ستقيّم إجابات {n} أسئلة قدّمتها نماذج ذكاء اصطناعي مجهولة الهوية. لكل سؤال إجابة صحيحة للمرجع؛ اختر الإجابة الأقرب إليها.
لا نسأل إلا عن بلدك ورأيك في الفصحى، ولأغراض البحث فقط.</p>
<p class="en" dir="ltr">You will compare answers to {n} questions given by anonymous AI models. Each question shows its correct
answer for reference; choose the answer closest to it. We ask only your country and your view on MSA, for research only.</p>
<noscript><p><b>{bilingual("هذه الصفحة تحتاج JavaScript.", "This page needs JavaScript.")}</b></p></noscript>
<div id="login" class="card"><label>{bilingual("رمز المشارك", "Participant code")}<br><input id="rater" dir="ltr" autocomplete="off"></label>
<button id="start" type="button">{bilingual("ابدأ", "Start")}</button></div>
<div id="survey" hidden><p>{bilingual("رمزك", "Your code")}<br><b id="rater-shown" dir="ltr"></b></p><div id="questions"></div>
<div class="card"><h3>{bilingual("عنك", "About you")}</h3>
<label>{bilingual("من أي بلد أنت؟", "Where are you from?")}<br><select id="country"><option value="">—</option>{country_opts}</select></label>
<p class="ar" dir="rtl">{e(msa_question[1])}</p><p class="en" dir="ltr">{e(msa_question[0])}</p>{msa_opts}
<label>{bilingual("ملاحظات (اختياري)", "Comments (optional)")}<br><textarea id="comment" dir="auto" rows="3" cols="60"></textarea></label></div>
<button id="save" type="button">{bilingual("حفظ الإجابات", "Save responses")}</button></div>
<div id="status" role="status"></div>
<script id="survey-data" type="application/json">{blob}</script>
<script>{_JS}</script></body></html>
"""
