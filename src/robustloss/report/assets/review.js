// The review page's application (inlined into review.html by robustloss.report.review).
// Everything that grows with the number of suspects is an array in memory; the DOM holds
// one large image and PAGE_SIZE list rows, whatever the count.
(function(){
"use strict";
var R = window.ROBUSTLOSS_REVIEW;
if (!R) { document.body.innerHTML = "<p>review/suspects.js is missing next to this page.</p>"; return; }
var C = R.classes, K = C.length, N = R.rows.length, PS = R.page_size;
var KEY = "robustloss-review:" + R.run;
var $ = function(id){ return document.getElementById(id); };
var state = {d:{}, pos:0, order:"rank", given:"", sugg:""};
try { var saved = JSON.parse(localStorage.getItem(KEY) || "null");
      if (saved && saved.d) state = Object.assign(state, saved); } catch (e) {}
var view = [];          // positions (into R.rows) in the current order and filter
var sheets = {};        // sheet number -> Image (loaded lazily)
function save(){ try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) {} }
function rebuild(keepIndex){
  var g = state.given === "" ? -1 : +state.given, s = state.sugg === "" ? -1 : +state.sugg;
  view = [];
  for (var k = 0; k < N; k++) {
    var r = R.rows[k];
    if ((g < 0 || r[1] === g) && (s < 0 || r[2] === s)) view.push(k);
  }
  if (state.order === "class") view.sort(function(a, b){ return (R.rows[a][1] - R.rows[b][1]) || (a - b); });
  if (keepIndex !== undefined) { var at = view.indexOf(keepIndex); state.pos = at < 0 ? 0 : at; }
  state.pos = Math.max(0, Math.min(state.pos, view.length - 1));
}
function sheet(n){
  if (!sheets[n]) { var im = new Image(); im.src = "review/sheet-" + String(n).padStart(5, "0") + ".png"; sheets[n] = im; }
  return sheets[n];
}
function decisionOf(k){ return state.d[R.rows[k][0]]; }
function labelOf(dec, r){
  if (!dec) return null;
  if (dec === "a") return r[2]; if (dec === "k") return r[1]; if (dec === "u") return -1;
  return +dec.slice(2);
}
function decName(dec){ return !dec ? "" : dec === "a" ? "accept" : dec === "k" ? "keep" : dec === "u" ? "unsure" : "relabel"; }
function describe(dec, r){
  var n = decName(dec); if (!n) return "";
  var l = labelOf(dec, r); return n + (l >= 0 ? " → " + C[l] : "");
}
function render(){
  var done = Object.keys(state.d).length;
  $("progress").textContent = "decided " + done + " of " + N;
  if (!view.length) { $("pos").textContent = "no suspects in this selection"; $("rows").innerHTML = ""; return; }
  var k = view[state.pos], r = R.rows[k];
  var img = $("img");
  if (R.tile) {
    var sn = Math.floor(k / R.sheet_size), t = k % R.sheet_size;
    var th = R.tile[0], tw = R.tile[1], box = 336, scale = Math.min(box / tw, box / th);
    img.style.width = Math.round(tw * scale) + "px"; img.style.height = Math.round(th * scale) + "px";
    img.style.backgroundImage = "url('" + sheet(sn).src + "')";
    img.style.backgroundSize = (R.sheet_columns * tw * scale) + "px auto";
    img.style.backgroundPosition = (-(t % R.sheet_columns) * tw * scale) + "px " + (-Math.floor(t / R.sheet_columns) * th * scale) + "px";
    if ((sn + 1) * R.sheet_size < N) sheet(sn + 1);  // prefetch the next sheet
  } else {
    img.textContent = "no image (a run on embeddings or given probabilities)";
    img.style.color = "#ccc"; img.style.textAlign = "center";
  }
  var dec = decisionOf(k);
  img.className = decName(dec);
  img.setAttribute("data-index", r[0]);
  $("pos").textContent = "suspect " + (state.pos + 1) + " of " + view.length + " (rank " + (k + 1) + ", index " + r[0] + ")";
  $("given").textContent = C[r[1]]; $("pgiven").textContent = "p = " + r[3];
  $("sugg").textContent = C[r[2]]; $("psugg").textContent = "p = " + r[4];
  $("path").textContent = (R.paths ? R.paths[k] : "") + (R.ids ? "  id " + R.ids[k] : "");
  $("decision").textContent = describe(dec, r);
  $("decision").className = "d-" + decName(dec);
  var p0 = Math.floor(state.pos / PS) * PS, p1 = Math.min(view.length, p0 + PS), html = [];
  $("pageinfo").textContent = "page " + (p0 / PS + 1) + " of " + Math.ceil(view.length / PS);
  for (var p = p0; p < p1; p++) {
    var kk = view[p], rr = R.rows[kk], dd = decisionOf(kk);
    html.push("<tr data-p='" + p + "'" + (p === state.pos ? " class='cur'" : "") + "><td>" + (kk + 1) + "</td><td>" + rr[0] +
      "</td><td>" + esc(C[rr[1]]) + "</td><td>" + esc(C[rr[2]]) + "</td><td>" + rr[3] +
      "</td><td class='d-" + decName(dd) + "'>" + esc(describe(dd, rr)) + "</td></tr>");
  }
  $("rows").innerHTML = html.join("");
  save();
}
function esc(s){ return String(s).replace(/[&<>"']/g, function(c){ return "&#" + c.charCodeAt(0) + ";"; }); }
function go(p){ state.pos = Math.max(0, Math.min(view.length - 1, p)); render(); }
function decide(code){
  if (!view.length) return;
  var r = R.rows[view[state.pos]];
  if (code.slice(0, 2) === "r:") { var l = +code.slice(2); if (l === r[1]) code = "k"; else if (l === r[2]) code = "a"; }
  state.d[r[0]] = code;
  if (state.pos < view.length - 1) state.pos++;
  render();
}
// ---- the class picker
var psel = 0, pitems = [];
function openPicker(){ $("picker").className = "open"; $("pfilter").value = ""; fillPicker(); $("pfilter").focus(); }
function closePicker(){ $("picker").className = ""; $("pfilter").blur(); }
function fillPicker(){
  var q = $("pfilter").value.toLowerCase(); pitems = [];
  for (var i = 0; i < K; i++) if (C[i].toLowerCase().indexOf(q) >= 0) pitems.push(i);
  psel = Math.min(psel, Math.max(0, pitems.length - 1));
  $("plist").innerHTML = pitems.map(function(i, j){
    return "<li data-c='" + i + "'" + (j === psel ? " class='sel'" : "") + ">" + (K <= 10 ? "[" + i + "] " : "") + esc(C[i]) + "</li>"; }).join("");
}
$("pfilter").addEventListener("input", function(){ psel = 0; fillPicker(); });
$("plist").addEventListener("click", function(e){ var li = e.target.closest("li"); if (li) { closePicker(); decide("r:" + li.getAttribute("data-c")); } });
// ---- export
function csvField(v){ v = String(v); return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
function exportCsv(){
  var cols = ["index", "given", "decision", "label"];
  if (R.paths) cols.push("path"); if (R.ids) cols.push("id"); cols.push("run");
  var lines = [cols.join(",")];
  for (var k = 0; k < N; k++) {
    var r = R.rows[k], dec = state.d[r[0]]; if (!dec) continue;
    var l = labelOf(dec, r), row = [r[0], C[r[1]], decName(dec), l >= 0 ? C[l] : ""];
    if (R.paths) row.push(R.paths[k]); if (R.ids) row.push(R.ids[k]); row.push(R.run);
    lines.push(row.map(csvField).join(","));
  }
  var a = $("download");
  if (a.href) URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(new Blob([lines.join("\r\n") + "\r\n"], {type: "text/csv"}));
  a.download = "review.csv"; a.click();
  $("progress").textContent = "exported " + (lines.length - 1) + " decisions to review.csv";
}
// ---- wiring
function act(a){
  if (a === "accept") decide("a"); else if (a === "keep") decide("k"); else if (a === "unsure") decide("u");
  else if (a === "pick") openPicker(); else if (a === "next") go(state.pos + 1); else if (a === "prev") go(state.pos - 1);
  else if (a === "first") go(0); else if (a === "last") go(view.length - 1);
  else if (a === "pagenext") go(state.pos + PS); else if (a === "pageprev") go(state.pos - PS);
}
document.addEventListener("click", function(e){
  var b = e.target.closest("[data-act]"); if (b) { act(b.getAttribute("data-act")); b.blur(); return; }
  var tr = e.target.closest("#rows tr"); if (tr) go(+tr.getAttribute("data-p"));
});
$("export").addEventListener("click", function(){ exportCsv(); this.blur(); });
document.addEventListener("keydown", function(e){
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if ($("picker").className === "open") {
    if (e.key === "Escape") closePicker();
    else if (e.key === "ArrowDown") { psel = Math.min(pitems.length - 1, psel + 1); fillPicker(); }
    else if (e.key === "ArrowUp") { psel = Math.max(0, psel - 1); fillPicker(); }
    else if (e.key === "Enter" && pitems.length) { closePicker(); decide("r:" + pitems[psel]); }
    else return;
    e.preventDefault(); return;
  }
  if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT") return;
  var k = e.key, m = {"a": "accept", "k": "keep", "u": "unsure", "r": "pick", "ArrowRight": "next", " ": "next",
    "ArrowLeft": "prev", "Home": "first", "End": "last", "PageDown": "pagenext", "PageUp": "pageprev"}[k];
  if (m) { act(m); e.preventDefault(); return; }
  if (K <= 10 && /^[0-9]$/.test(k) && +k < K) { decide("r:" + k); e.preventDefault(); }
});
function fillSelect(sel, value){
  for (var i = 0; i < K; i++) { var o = document.createElement("option"); o.value = i; o.textContent = C[i]; sel.appendChild(o); }
  sel.value = value;
}
function fromHash(){
  var h = location.hash.replace(/^#/, ""); if (!h) return;
  var q = {}; h.split("&").forEach(function(kv){ var p = kv.split("="); q[p[0]] = decodeURIComponent(p[1] || ""); });
  if ("given" in q) state.given = q.given; if ("suggested" in q) state.sugg = q.suggested;
  if ("given" in q || "suggested" in q) state.pos = 0;
}
fromHash();
$("title").textContent = R.title;
$("digits").textContent = K <= 10 ? "0-" + (K - 1) + " relabel to that class · " : "";
$("order").value = state.order;
fillSelect($("fgiven"), state.given); fillSelect($("fsugg"), state.sugg);
$("order").addEventListener("change", function(){ var k = view[state.pos]; state.order = this.value; rebuild(k); render(); this.blur(); });
$("fgiven").addEventListener("change", function(){ state.given = this.value; state.pos = 0; rebuild(); render(); this.blur(); });
$("fsugg").addEventListener("change", function(){ state.sugg = this.value; state.pos = 0; rebuild(); render(); this.blur(); });
window.addEventListener("hashchange", function(){ fromHash(); $("fgiven").value = state.given; $("fsugg").value = state.sugg; rebuild(); render(); });
// For tests and the curious: which sheets this page has asked the browser for.
window.robustlossReview = {sheetsRequested: function(){ return Object.keys(sheets).map(Number); }};
rebuild(); render();
})();
