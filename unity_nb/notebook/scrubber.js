// The episode scrubber: one step of a kept episode at a time (its frame, action, reward, value and the
// policy's action distribution), chosen with the slider, the buttons or the arrow keys.
function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function num(v, digits = 3) { return v === null || v === undefined ? "–" : Number(v).toFixed(digits); }

function bars(step) {
  // a discrete branch's probabilities (the action taken in orange), or a continuous action's mean and spread
  if (step.probs) {
    return step.probs.map((branch, b) => `<div class="unity-nb-branch">` + branch.map((p, a) =>
      `<div class="unity-nb-bar${step.action[b] === a ? " unity-nb-taken" : ""}" title="action ${a}: ${num(p)}">` +
      `<div style="height:${Math.max(1, Math.round(p * 40))}px"></div><span>${a}</span></div>`).join("") + `</div>`).join("");
  }
  if (step.mean) {
    const x = v => (Math.max(-1, Math.min(1, v)) + 1) * 50;
    return step.mean.map((m, d) => {
      const lo = x(m - step.std[d]), hi = x(m + step.std[d]);
      return `<div class="unity-nb-track" title="action ${d}: mean ${num(m)}, spread ${num(step.std[d])}, taken ${num(step.action[d])}">` +
        `<div class="unity-nb-spread" style="left:${lo}%;width:${hi - lo}%"></div>` +
        `<div class="unity-nb-mean" style="left:${x(m)}%"></div>` +
        `<div class="unity-nb-tick" style="left:${x(step.action[d])}%"></div></div>`;
    }).join("");
  }
  return "";
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "unity-nb-scrubber";
  root.tabIndex = 0;
  root.innerHTML = `
    <style>
      .unity-nb-scrubber { font: 12px sans-serif; outline: none; max-width: 720px; }
      .unity-nb-scrubber img { image-rendering: pixelated; min-width: 320px; max-width: 100%; border: 1px solid #ccc; }
      .unity-nb-scrubber .unity-nb-controls { display: flex; gap: 6px; align-items: center; margin: 6px 0; }
      .unity-nb-scrubber input[type=range] { flex: 1; }
      .unity-nb-scrubber table { border-collapse: collapse; margin-top: 4px; }
      .unity-nb-scrubber td { padding: 1px 8px 1px 0; vertical-align: top; }
      .unity-nb-branch { display: inline-flex; gap: 2px; align-items: flex-end; margin-right: 10px; }
      .unity-nb-bar { display: flex; flex-direction: column; align-items: center; width: 16px; }
      .unity-nb-bar div { width: 12px; background: #6e96d2; }
      .unity-nb-bar.unity-nb-taken div { background: #fa9f28; }
      .unity-nb-bar span { font-size: 9px; color: #666; }
      .unity-nb-track { position: relative; display: inline-block; width: 120px; height: 16px; margin-right: 10px;
                        border-bottom: 1px solid #999; }
      .unity-nb-spread { position: absolute; top: 4px; height: 8px; background: #a9bddc; }
      .unity-nb-mean, .unity-nb-tick { position: absolute; top: 0; width: 2px; height: 16px; margin-left: -1px; }
      .unity-nb-mean { background: #333; } .unity-nb-tick { background: #fa9f28; }
      .unity-nb-obs { font-family: monospace; font-size: 11px; color: #444; word-break: break-all; }
    </style>
    <div class="unity-nb-title"></div>
    <img class="unity-nb-frame" alt="the step's frame">
    <div class="unity-nb-controls">
      <button class="unity-nb-first" title="first step">|◀</button>
      <button class="unity-nb-prev" title="previous step (←)">◀</button>
      <button class="unity-nb-playpause" title="play / pause (space)">▶</button>
      <button class="unity-nb-next" title="next step (→)">▶|</button>
      <input type="range" class="unity-nb-slider" min="0" value="0">
      <span class="unity-nb-position"></span>
    </div>
    <table class="unity-nb-step"></table>`;
  el.appendChild(root);
  const $ = s => root.querySelector(s);
  let timer = null;

  function show() {
    const steps = model.get("steps"), frames = model.get("frames");
    const n = steps.length, i = Math.max(0, Math.min(model.get("index"), n - 1));
    $(".unity-nb-title").textContent = model.get("title");
    const slider = $(".unity-nb-slider");
    slider.max = Math.max(0, n - 1);
    slider.value = i;
    $(".unity-nb-position").textContent = `step ${i} of ${n}`;
    const img = $(".unity-nb-frame");
    if (frames.length) { img.src = frames[Math.min(i, frames.length - 1)]; img.style.display = ""; }
    else img.style.display = "none";
    const s = steps[i] || {};
    root.dataset.index = i;
    let rows = `<tr><td>action</td><td class="unity-nb-action">${esc(JSON.stringify(s.action))}</td></tr>` +
      `<tr><td>reward it brought</td><td class="unity-nb-reward">${num(s.reward)}</td></tr>` +
      `<tr><td>return after it</td><td class="unity-nb-return">${num(s.ret)}</td></tr>`;
    if (s.value !== undefined && s.value !== null) rows += `<tr><td>value</td><td class="unity-nb-value">${num(s.value)}</td></tr>`;
    if (s.probs || s.mean) rows += `<tr><td>policy</td><td class="unity-nb-policy">${bars(s)}</td></tr>`;
    if (s.obs) rows += `<tr><td>observation</td><td class="unity-nb-obs">${esc(s.obs.map(v => num(v, 2)).join(" "))}` +
      `${s.obs_more ? ` … (+${s.obs_more})` : ""}</td></tr>`;
    $(".unity-nb-step").innerHTML = rows;
  }
  function go(i) {
    const n = model.get("steps").length;
    model.set("index", Math.max(0, Math.min(i, n - 1)));
    model.save_changes();
  }
  function toggle() {
    if (timer) { clearInterval(timer); timer = null; $(".unity-nb-playpause").textContent = "▶"; return; }
    if (model.get("index") >= model.get("steps").length - 1) go(0);
    $(".unity-nb-playpause").textContent = "Pause";
    timer = setInterval(() => {
      const i = model.get("index");
      if (i >= model.get("steps").length - 1) toggle(); else go(i + 1);
    }, 1000 / Math.max(1, model.get("fps")));
  }
  $(".unity-nb-first").onclick = () => go(0);
  $(".unity-nb-prev").onclick = () => go(model.get("index") - 1);
  $(".unity-nb-next").onclick = () => go(model.get("index") + 1);
  $(".unity-nb-playpause").onclick = toggle;
  $(".unity-nb-slider").oninput = e => go(Number(e.target.value));
  root.addEventListener("keydown", e => {
    if (e.key === "ArrowLeft") go(model.get("index") - 1);
    else if (e.key === "ArrowRight") go(model.get("index") + 1);
    else if (e.key === " ") toggle();
    else return;
    e.preventDefault(); e.stopPropagation();  // the notebook's own shortcuts stay out of it
  });
  for (const name of ["index", "steps", "frames", "title"]) model.on(`change:${name}`, show);
  show();
  return () => { if (timer) clearInterval(timer); };
}

export default { render };
