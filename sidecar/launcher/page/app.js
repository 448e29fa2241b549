// photobrain's launcher page: plain JavaScript, no build step, nothing loaded from anywhere but the service.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 60;            // results asked for first; "Show more" asks for four times as many
const DEBOUNCE_MS = 150;    // typing pauses this long before a query goes out

const state = {
  kind: "search",           // search | similar | image
  query: "", path: "", image: null, imageName: "",
  n: PAGE, hits: [], selected: -1, detail: null, generation: 0, controller: null,
};
// what a keystroke cost until the first thumbnail was painted (read by bench/bench_launcher.py)
window.photobrainTimings = [];

function params(extra) {
  const p = new URLSearchParams(extra);
  const folder = $("folder").value || $("root").value;
  if (folder) p.set("in", folder);
  if ($("keyword").value.trim()) p.set("keyword", $("keyword").value.trim());
  p.set("cutoff", $("cutoff").value);
  p.set("n", String(state.n));
  return p;
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  let body = {};
  try { body = await response.json(); } catch (e) { body = { error: response.statusText }; }
  if (!response.ok) {
    const error = new Error(body.error || response.statusText);
    error.status = response.status;
    error.hint = body.hint;
    throw error;
  }
  return body;
}

// --- running a query ------------------------------------------------------------------------------

let debounce = null;
function queryTyped() {
  clearTimeout(debounce);
  const typed = performance.now();
  debounce = setTimeout(() => {
    const text = $("q").value.trim();
    state.kind = "search"; state.query = text; state.n = PAGE;
    if (!text) { show({ hits: [], kind: "search" }, null); syncAddress(); return; }
    run(typed);
  }, DEBOUNCE_MS);
}

async function run(typed = performance.now()) {
  const generation = ++state.generation;
  if (state.controller) state.controller.abort();
  state.controller = new AbortController();
  const signal = state.controller.signal;
  syncAddress();
  $("state").textContent = "searching…";
  try {
    let result;
    if (state.kind === "search") {
      result = await api("/api/search?" + params({ q: state.query }), { signal });
    } else if (state.kind === "similar") {
      result = await api("/api/similar?" + params({ path: state.path }), { signal });
    } else {
      const p = params({});
      result = await api("/api/similar-image", {
        method: "POST", body: state.image, signal,
        headers: { "Content-Type": "application/octet-stream", "X-Filename": encodeURIComponent(state.imageName),
                   "X-Results": p.get("n"), "X-Cutoff": p.get("cutoff"),
                   ...(p.get("in") ? { "X-In": encodeURIComponent(p.get("in")) } : {}),
                   ...(p.get("keyword") ? { "X-Keyword": encodeURIComponent(p.get("keyword")) } : {}) },
      });
    }
    if (generation !== state.generation) return;   // a newer query is on its way
    show(result, typed);
  } catch (error) {
    if (error.name === "AbortError" || generation !== state.generation) return;
    if (error.status === 401) {
      $("state").textContent = "Signed out: open photobrain again from its menu entry or run 'photobrain launcher'.";
    } else {
      $("state").textContent = "error: " + error.message + (error.hint ? " (" + error.hint + ")" : "");
    }
    show({ hits: [], kind: state.kind }, null, true);
  }
}

let answers = 0;
function show(result, typed, failed = false) {
  closeDetail(false);
  document.body.dataset.answers = String(++answers);  // how many answers the page has shown (tests wait on it)
  state.hits = result.hits || [];
  state.selected = -1;
  const list = $("results");
  list.replaceChildren();
  const reference = $("reference");
  reference.hidden = state.kind === "search";
  if (state.kind === "similar") {
    $("reference-name").textContent = state.path;
    const same = (result.same || [])[0];
    $("reference-image").src = same && same.thumb ? same.thumb : "";
  } else if (state.kind === "image") {
    $("reference-name").textContent = state.imageName + " (dropped)";
    $("reference-image").src = URL.createObjectURL(state.image);
  }
  let painted = false;
  state.hits.forEach((hit, index) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "hit";
    button.dataset.index = String(index);
    button.dataset.path = hit.path;
    button.title = hit.path;
    const frame = document.createElement("span");
    frame.className = "frame";
    const image = document.createElement("img");
    image.alt = hit.name;
    image.decoding = "async";
    if (index >= 24) image.loading = "lazy";  // the first screenful at once, best first; the rest as they scroll in
    if (index < 6) image.fetchPriority = "high";  // the top row before the rest of the screen
    if (typed !== null && index === 0) {
      image.addEventListener("load", () => {
        if (!painted) {
          painted = true;
          requestAnimationFrame(() => window.photobrainTimings.push({
            query: state.query, typed, painted: performance.now(), results: state.hits.length }));
        }
      }, { once: true });
    }
    image.src = hit.thumb;
    frame.append(image);
    const caption = document.createElement("span");
    caption.className = "caption";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = hit.name;
    const why = document.createElement("span");
    why.className = "why " + hit.why;
    why.textContent = hit.why;
    why.title = whyText(hit);
    caption.append(name, why);
    button.append(frame, caption);
    button.addEventListener("click", () => { select(index); openDetail(index); });
    item.append(button);
    list.append(item);
  });
  const empty = $("empty");
  empty.hidden = state.hits.length > 0 || failed || (state.kind === "search" && !state.query);
  empty.textContent = state.kind === "search"
    ? "Nothing matched. Try other words, or 'Matches: more'."
    : "No photo stands out as similar. Try 'Matches: more'.";
  $("more").hidden = !moreToShow();
  if (!failed) {
    const ms = result.milliseconds !== undefined ? ` in ${Math.round(result.milliseconds)} ms` : "";
    $("state").textContent = state.kind === "search" && !state.query ? "" :
      `${state.hits.length} photo${state.hits.length === 1 ? "" : "s"}${ms}`;
  }
}

function moreToShow() { return state.hits.length >= state.n && state.n < 1000; }

function whyText(hit) {
  const parts = [];
  if (hit.why !== "keyword") parts.push(`looks like it (similarity ${hit.similarity ?? "?"})`);
  if (hit.why !== "semantic") parts.push("a keyword, tag, caption or name matches");
  if (hit.duplicates && hit.duplicates.length) parts.push(`${hit.duplicates.length} exact duplicate(s)`);
  return parts.join("; ");
}

function syncAddress() {
  let address = "/";
  if (state.kind === "search" && state.query) address = "/?" + new URLSearchParams({ q: state.query });
  if (state.kind === "similar") address = "/similar?" + new URLSearchParams({ path: state.path });
  if (location.pathname + location.search !== address) history.replaceState(null, "", address);
}

function findSimilar(path) {
  state.kind = "similar"; state.path = path; state.n = PAGE;
  run();
}

function findLike(file) {
  state.kind = "image"; state.image = file; state.imageName = file.name; state.n = PAGE;
  run();
}

// --- the grid and the detail view -----------------------------------------------------------------

function buttons() { return Array.from(document.querySelectorAll("#results .hit")); }

function select(index) {
  const all = buttons();
  if (!all.length) return;
  index = Math.max(0, Math.min(all.length - 1, index));
  all.forEach((b) => b.classList.remove("selected"));
  state.selected = index;
  all[index].classList.add("selected");
  all[index].focus({ preventScroll: true });
  all[index].scrollIntoView({ block: "nearest" });
}

function columns() {
  const all = buttons();
  if (all.length < 2) return 1;
  const top = all[0].getBoundingClientRect().top;
  const count = all.findIndex((b) => b.getBoundingClientRect().top !== top);
  return count === -1 ? all.length : count;
}

async function openDetail(index) {
  const hit = state.hits[index];
  if (!hit) return;
  let info;
  try {
    info = await api("/api/file?" + new URLSearchParams({ path: hit.path }));
  } catch (error) {
    $("state").textContent = "error: " + error.message;
    return;
  }
  state.detail = info;
  $("results").hidden = true; $("more").hidden = true; $("reference").hidden = true; $("empty").hidden = true;
  $("detail").hidden = false;
  $("detail-image").src = info.thumb ? info.thumb + "?size=large" : "";
  $("detail-image").alt = info.name;
  $("detail-name").textContent = info.name;
  const size = info.width ? `${info.width} × ${info.height}` : "";
  $("detail-meta").textContent = [info.taken ? "taken " + info.taken : "", "modified " + info.modified, size,
    info.format, (info.bytes / 1e6).toFixed(1) + " MB", info.rating ? "rating " + info.rating : ""]
    .filter(Boolean).join(" · ");
  $("detail-caption").textContent = info.caption || "";
  $("detail-path").textContent = info.path;
  const tags = $("detail-tags");
  tags.replaceChildren(
    group("Your keywords", info.tags.user.map((k) => [k, null])),
    group("On-device model", info.tags.model.map((t) => [t.path, t.score])),
    group("Cloud", info.tags.cloud.map((t) => [t.path, t.score])));
  $("act-similar").focus();
}

function group(title, entries) {
  const box = document.createElement("div");
  box.className = "group";
  const heading = document.createElement("h3");
  heading.textContent = `${title} (${entries.length})`;
  const list = document.createElement("ul");
  list.className = "tags";
  for (const [text, score] of entries) {
    const item = document.createElement("li");
    item.textContent = text;
    if (score !== null && score !== undefined) {
      const s = document.createElement("span");
      s.className = "score";
      s.textContent = Number(score).toFixed(2);
      item.append(s);
    }
    list.append(item);
  }
  if (!entries.length) {
    const item = document.createElement("li");
    item.textContent = "none";
    list.append(item);
  }
  box.append(heading, list);
  return box;
}

function closeDetail(focus = true) {
  if ($("detail").hidden) return;
  $("detail").hidden = true;
  $("results").hidden = false;
  $("reference").hidden = state.kind === "search";
  $("more").hidden = !moreToShow();
  state.detail = null;
  if (focus && state.selected >= 0) select(state.selected);
}

async function act(kind) {
  const info = state.detail;
  if (!info) return;
  if (kind === "similar") { findSimilar(info.path); return; }
  if (kind === "copy") {
    try {
      await navigator.clipboard.writeText(info.path);
      $("state").textContent = "path copied";
    } catch (e) {
      $("state").textContent = "could not copy; the path is: " + info.path;
    }
    return;
  }
  try {
    await api("/api/" + kind, { method: "POST", headers: { "Content-Type": "application/json" },
                                body: JSON.stringify({ path: info.path }) });
    $("state").textContent = kind === "open" ? "opened " + info.name : "shown in its folder: " + info.name;
  } catch (error) {
    $("state").textContent = "error: " + error.message + (error.hint ? " (" + error.hint + ")" : "");
  }
}

// --- filters and status ---------------------------------------------------------------------------

async function loadFacets() {
  const root = $("root").value;
  let facets;
  try {
    facets = await api("/api/facets?" + new URLSearchParams(root ? { in: root } : {}));
  } catch (e) { return; }
  if ($("root").options.length === 1) {
    for (const r of facets.roots) $("root").append(new Option(r, r));
  }
  const folder = $("folder");
  const chosen = folder.value;
  folder.replaceChildren(new Option("Everywhere", ""));
  for (const f of facets.folders) {
    folder.append(new Option(`${f.path.slice(root.length + 1)} (${f.count})`, f.path));
  }
  if (chosen && ![...folder.options].some((o) => o.value === chosen)) folder.append(new Option(chosen, chosen));
  folder.value = chosen;
  if ($("keywords").childElementCount === 0) {
    for (const k of facets.keywords) $("keywords").append(new Option(k.path, k.keyword));
  }
}

async function loadStatus() {
  try {
    const s = await api("/api/status");
    const watch = s.watch || {};
    const pending = (watch.pending || 0) + (watch.tagging || 0);
    $("status").textContent = `${s.files} photos · ${s.model}` +
      (pending ? ` · ${pending} new photo${pending === 1 ? "" : "s"} being tagged` : "") +
      (watch.watching && watch.watching.length ? ` · watching ${watch.watching.length} librar${watch.watching.length === 1 ? "y" : "ies"}` : "");
  } catch (e) { /* signed out: the query line says so */ }
}

// --- keyboard and drop ----------------------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  const inBox = document.activeElement === $("q");
  const typing = inBox || ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (event.key === "/" && !typing) { event.preventDefault(); closeDetail(false); $("q").focus(); $("q").select(); return; }
  if (event.key === "Escape") {
    event.preventDefault();
    if (!$("detail").hidden) closeDetail();
    else if (!inBox) $("q").focus();
    else { $("q").value = ""; queryTyped(); }
    return;
  }
  if (!$("detail").hidden) {
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      const next = state.selected + (event.key === "ArrowRight" ? 1 : -1);
      if (next >= 0 && next < state.hits.length) { state.selected = next; openDetail(next); }
    }
    return;
  }
  if (typing && !(inBox && event.key === "ArrowDown")) {
    if (inBox && event.key === "Enter") { event.preventDefault(); if (state.hits.length) select(0); }
    return;
  }
  const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns() }[event.key];
  if (step !== undefined) {
    event.preventDefault();
    if (state.selected < 0) { select(0); return; }
    if (event.key === "ArrowUp" && state.selected < columns()) { $("q").focus(); return; }
    select(state.selected + step);
  } else if (event.key === "Enter" && state.selected >= 0) {
    event.preventDefault();
    openDetail(state.selected);
  }
});

let dragDepth = 0;
document.addEventListener("dragenter", (e) => { if (hasFiles(e)) { dragDepth++; $("drop").hidden = false; } });
document.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; $("drop").hidden = true; } });
document.addEventListener("dragover", (e) => { if (hasFiles(e)) e.preventDefault(); });
document.addEventListener("drop", (e) => {
  e.preventDefault();
  dragDepth = 0; $("drop").hidden = true;
  const file = e.dataTransfer && e.dataTransfer.files[0];
  if (file) findLike(file);
});
function hasFiles(e) { return e.dataTransfer && Array.from(e.dataTransfer.types || []).includes("Files"); }

// --- start ----------------------------------------------------------------------------------------

$("search").addEventListener("submit", (e) => e.preventDefault());
$("q").addEventListener("input", queryTyped);
for (const id of ["folder", "cutoff"]) $(id).addEventListener("change", () => { state.n = PAGE; if (state.query || state.kind !== "search") run(); });
$("root").addEventListener("change", () => { $("folder").value = ""; loadFacets(); state.n = PAGE; if (state.query || state.kind !== "search") run(); });
$("keyword").addEventListener("change", () => { state.n = PAGE; if (state.query || state.kind !== "search") run(); });
$("more").addEventListener("click", () => { state.n = Math.min(1000, state.n * 4); run(); });
$("act-similar").addEventListener("click", () => act("similar"));
$("act-open").addEventListener("click", () => act("open"));
$("act-reveal").addEventListener("click", () => act("reveal"));
$("act-copy").addEventListener("click", () => act("copy"));

(function start() {
  const address = new URLSearchParams(location.search);
  if (address.get("cutoff") !== null) {
    const wanted = address.get("cutoff");
    if (![...$("cutoff").options].some((o) => o.value === wanted)) $("cutoff").append(new Option("cutoff " + wanted, wanted));
    $("cutoff").value = wanted;
  }
  if (address.get("in")) {  // a folder to search in ("Search photos..." on a folder)
    $("folder").append(new Option(address.get("in"), address.get("in")));
    $("folder").value = address.get("in");
  }
  if (location.pathname === "/similar" && address.get("path")) {
    findSimilar(address.get("path"));
  } else if (address.get("q")) {
    $("q").value = address.get("q");
    state.query = address.get("q");
    run();
  }
  $("q").focus();
  loadFacets();
  loadStatus();
  setInterval(loadStatus, 10000);
})();
