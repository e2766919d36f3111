// Play it yourself: the scene's frame, keys and on-screen buttons (and sliders for continuous actions) as the
// actions of one agent. The kernel steps the scene on each "step" message and answers "stepped"; a new step is
// asked for only once the last one is answered, so a slow kernel slows the game instead of queueing keys.
function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
const SHOWN = {ArrowLeft: "←", ArrowRight: "→", ArrowUp: "↑", ArrowDown: "↓", " ": "space"};

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "unity-nb-play";
  root.tabIndex = 0;
  // JupyterLab leaves keys pressed inside this element to it (no cell shortcuts while playing)
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  root.setAttribute("data-p-suppress-shortcuts", "true");
  root.innerHTML = `
    <style>
      .unity-nb-play { font: 12px sans-serif; outline: none; display: inline-block; padding: 6px; border: 2px solid #ddd; border-radius: 4px; }
      .unity-nb-play:focus { border-color: #fa9f28; }
      .unity-nb-play img { image-rendering: pixelated; min-width: 320px; display: block; }
      .unity-nb-play .unity-nb-row { display: flex; gap: 6px; align-items: center; margin-top: 6px; flex-wrap: wrap; }
      .unity-nb-play button.unity-nb-held { background: #fa9f28; }
      .unity-nb-play .unity-nb-hint { color: #666; }
      .unity-nb-play .unity-nb-error { color: #b00020; white-space: pre-wrap; }
    </style>
    <div class="unity-nb-title"></div>
    <img class="unity-nb-frame" alt="the scene">
    <div class="unity-nb-row unity-nb-buttons"></div>
    <div class="unity-nb-row unity-nb-sliders"></div>
    <div class="unity-nb-row">
      <button class="unity-nb-run"></button>
      <button class="unity-nb-new" title="end this episode unrecorded and start a new one">New episode</button>
      <span class="unity-nb-status"></span>
    </div>
    <div class="unity-nb-hint"></div>
    <div class="unity-nb-error"></div>`;
  el.appendChild(root);
  const $ = s => root.querySelector(s);
  const held = [];  // keys and buttons held now, in the order pressed (a later one wins its branch)
  let waiting = false, running = false, timer = null, sliders = [];
  const queued = [];  // turn by turn: presses made while the kernel was busy, played in order

  function press(key) { if (!held.includes(key)) held.push(key); }
  function release(key) { const i = held.indexOf(key); if (i >= 0) held.splice(i, 1); }
  function step(keys) {
    if (waiting) {
      if (keys && !model.get("realtime")) queued.push(keys);
      return false;
    }
    waiting = true;
    model.send({type: "step", held: keys || held.slice(), sliders: model.get("axes") ? sliders.slice() : null});
    return true;
  }
  model.on("msg:custom", msg => {
    if (msg.type !== "stepped") return;
    waiting = false;
    if (queued.length) step(queued.shift());
  });
  function setRunning(on) {
    running = on;
    if (timer) { clearInterval(timer); timer = null; }
    if (on) timer = setInterval(() => step(), 1000 / Math.max(1, model.get("fps")));
    $(".unity-nb-run").textContent = on ? "Pause" : "Play";
  }
  function bound(key) { return model.get("controls").some(c => c.keys.includes(key)); }
  function mark(key, on) {  // the button of the action a key does looks pressed while the key is held
    model.get("controls").forEach((c, i) => {
      if (c.keys.includes(key)) root.querySelectorAll(`button[data-index="${i}"]`).forEach(b => b.classList.toggle("unity-nb-held", on));
    });
  }

  function build() {
    $(".unity-nb-title").textContent = model.get("title");
    const controls = model.get("controls"), buttons = $(".unity-nb-buttons");
    buttons.innerHTML = "";
    controls.forEach((c, i) => {
      const b = document.createElement("button"), key = c.keys[0];
      b.className = "unity-nb-key";
      b.dataset.index = i;
      b.textContent = `${c.label} (${c.keys.map(k => SHOWN[k] || k).join(" / ")})`;
      b.onpointerdown = e => { e.preventDefault(); root.focus(); press(key); b.classList.add("unity-nb-held");
                                if (model.get("realtime")) { if (!running) setRunning(true); } else step([key]); };
      b.onpointerup = b.onpointerleave = () => { release(key); b.classList.remove("unity-nb-held"); };
      buttons.appendChild(b);
    });
    const box = $(".unity-nb-sliders");
    box.innerHTML = "";
    sliders = new Array(model.get("axes")).fill(0);
    for (let d = 0; d < model.get("axes"); d++) {
      const label = document.createElement("label");
      label.innerHTML = `axis ${d} <input type="range" min="-1" max="1" step="0.05" value="0" class="unity-nb-axis" data-axis="${d}"> <span>0.00</span>`;
      const input = label.querySelector("input");
      input.oninput = () => { sliders[d] = Number(input.value); label.querySelector("span").textContent = sliders[d].toFixed(2); };
      box.appendChild(label);
    }
    $(".unity-nb-run").style.display = model.get("realtime") ? "" : "none";
    $(".unity-nb-hint").textContent = model.get("realtime")
      ? "Click here, then hold the keys (or the buttons); the scene runs on its own while playing."
      : "Click here, then press a key (or a button): each press is one step.";
    setRunning(false);
  }
  function show() {
    $(".unity-nb-frame").src = model.get("frame");
    const s = model.get("status") || {};
    root.dataset.step = s.step; root.dataset.episodes = s.episodes;
    const two = v => Number(v || 0).toFixed(2);
    const parts = s.ended
      ? [`episode ${s.episodes} over (last reward ${two(s.reward)}), a new one begins`]
      : [`step ${s.step}`, `reward ${two(s.reward)}`, `return ${two(s["return"])}`];
    let done = `episodes ${s.episodes}`;
    if (s.last_returns && s.last_returns.length) done += ` (last: ${s.last_returns.map(r => r.toFixed(2)).join(", ")})`;
    parts.push(done);
    if (s.demo) parts.push(`recorded ${s.demo_steps} steps to ${s.demo}`);
    const text = parts.join("  ·  ");
    $(".unity-nb-status").textContent = text;
    $(".unity-nb-error").textContent = model.get("error");
  }

  root.addEventListener("keydown", e => {
    if (!bound(e.key)) return;
    e.preventDefault(); e.stopPropagation();
    if (e.repeat && !model.get("realtime")) return;  // turn by turn: a held key is one step
    press(e.key);
    mark(e.key, true);
    if (model.get("realtime")) { if (!running) setRunning(true); }
    else step([e.key]);
  });
  root.addEventListener("keyup", e => {
    release(e.key);
    mark(e.key, false);
    if (bound(e.key)) { e.preventDefault(); e.stopPropagation(); }
  });
  root.addEventListener("blur", () => { held.length = 0; root.querySelectorAll(".unity-nb-held").forEach(b => b.classList.remove("unity-nb-held")); });
  $(".unity-nb-run").onclick = () => { root.focus(); setRunning(!running); };
  $(".unity-nb-new").onclick = () => { root.focus(); model.send({type: "new"}); };

  for (const name of ["controls", "axes", "realtime", "title"]) model.on(`change:${name}`, build);
  model.on("change:frame", show);
  model.on("change:status", show);
  model.on("change:error", show);
  build();
  show();
  return () => { if (timer) clearInterval(timer); };
}

export default { render };
