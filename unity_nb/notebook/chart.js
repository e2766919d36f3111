const W = 390, H = 190, M = {l: 46, r: 40, t: 20, b: 28};

function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function finite(v) { return v !== null && v !== undefined && Number.isFinite(v); }
function fmt(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}
function range(values) {
  const f = values.filter(finite);
  if (!f.length) return null;
  let lo = Math.min(...f), hi = Math.max(...f);
  if (lo === hi) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}
function path(xs, ys, sx, sy) {
  let d = "", pen = false;
  for (let i = 0; i < xs.length; i++) {
    if (!finite(ys[i]) || !finite(xs[i])) { pen = false; continue; }
    d += (pen ? "L" : "M") + sx(xs[i]).toFixed(1) + "," + sy(ys[i]).toFixed(1);
    pen = true;
  }
  return d;
}
function panel(spec, series, markers, lessons, ox, oy) {
  const xs = series.x || [];
  const left = spec.lines.filter(l => l.axis !== "right"), right = spec.lines.filter(l => l.axis === "right");
  const leftValues = left.flatMap(l => series[l.key] || []);
  if (spec.band) leftValues.push(...(series[spec.band[0]] || []), ...(series[spec.band[1]] || []));
  if (finite(spec.hline)) leftValues.push(spec.hline);
  if (spec.markers) leftValues.push(...(markers.y || []));
  const ly = range(leftValues), ry = range(right.flatMap(l => series[l.key] || [])), xr = range(xs);
  let out = `<g transform="translate(${ox},${oy})" class="unity-nb-panel" data-title="${esc(spec.title)}">`;
  out += `<text x="${M.l}" y="12" font-size="11" fill="#333">${esc(spec.title)}</text>`;
  out += `<rect x="${M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#ccc"/>`;
  if (!ly || !xr) {
    return out + `<text x="${W / 2}" y="${H / 2}" font-size="11" fill="#999" text-anchor="middle">no data yet</text></g>`;
  }
  const sx = x => M.l + (x - xr[0]) / (xr[1] - xr[0]) * (W - M.l - M.r);
  const scaleY = r => y => H - M.b - (y - r[0]) / (r[1] - r[0]) * (H - M.t - M.b);
  const sy = scaleY(ly);
  for (let k = 0; k <= 3; k++) {
    const v = ly[0] + (ly[1] - ly[0]) * k / 3, y = sy(v);
    out += `<line x1="${M.l}" x2="${W - M.r}" y1="${y}" y2="${y}" stroke="#eee"/>`;
    out += `<text x="${M.l - 4}" y="${y + 3}" font-size="9" fill="#666" text-anchor="end">${fmt(v)}</text>`;
  }
  for (let k = 0; k <= 3; k++) {
    const v = xr[0] + (xr[1] - xr[0]) * k / 3;
    out += `<text x="${sx(v)}" y="${H - M.b + 12}" font-size="9" fill="#666" text-anchor="middle">${fmt(v)}</text>`;
  }
  out += `<text x="${(W + M.l - M.r) / 2}" y="${H - 3}" font-size="9" fill="#666" text-anchor="middle">agent steps</text>`;
  if (spec.band) {
    const lo = series[spec.band[0]] || [], hi = series[spec.band[1]] || [];
    const idx = xs.map((_, i) => i).filter(i => finite(lo[i]) && finite(hi[i]));
    if (idx.length > 1) {
      const top = idx.map(i => sx(xs[i]).toFixed(1) + "," + sy(hi[i]).toFixed(1));
      const bottom = idx.slice().reverse().map(i => sx(xs[i]).toFixed(1) + "," + sy(lo[i]).toFixed(1));
      out += `<polygon class="unity-nb-band" points="${top.concat(bottom).join(" ")}" fill="${spec.band[2]}" fill-opacity="0.15"/>`;
    }
  }
  if (finite(spec.hline)) {
    out += `<line x1="${M.l}" x2="${W - M.r}" y1="${sy(spec.hline)}" y2="${sy(spec.hline)}" stroke="#188038" stroke-dasharray="5,3"/>`;
  }
  const ryScale = ry ? scaleY(ry) : null;
  let legend = 0;
  for (const line of spec.lines) {
    const scale = line.axis === "right" ? ryScale : sy;
    if (!scale) continue;
    const ys = series[line.key] || [];
    if (line.dots) {
      for (let i = 0; i < xs.length; i++) {
        if (finite(ys[i])) out += `<circle cx="${sx(xs[i]).toFixed(1)}" cy="${scale(ys[i]).toFixed(1)}" r="1.6" fill="${line.color}" fill-opacity="0.5"/>`;
      }
    } else {
      const faint = line.faint ? ` stroke-opacity="0.3"` : "";  // a fork's parents' part of the curve
      out += `<path class="unity-nb-line" data-key="${esc(line.key)}" d="${path(xs, ys, sx, scale)}" fill="none" stroke="${line.color}" stroke-width="1.5"${faint}/>`;
    }
    if (line.label) {
      out += `<text x="${W - M.r - 4}" y="${M.t + 11 + 11 * legend++}" font-size="9" fill="${line.color}" text-anchor="end">${esc(line.label)}</text>`;
    }
  }
  if (ry) {
    for (let k = 0; k <= 3; k++) {
      const v = ry[0] + (ry[1] - ry[0]) * k / 3;
      out += `<text x="${W - M.r + 4}" y="${ryScale(v) + 3}" font-size="9" fill="#e37400">${fmt(v)}</text>`;
    }
  }
  if (spec.lessons && lessons.x) {  // a curriculum's lesson changes: a dashed vertical line, labelled
    lessons.x.forEach((x, i) => {
      if (!finite(x) || x < xr[0] || x > xr[1]) return;
      const lx = sx(x).toFixed(1);
      out += `<line class="unity-nb-lesson" x1="${lx}" x2="${lx}" y1="${M.t}" y2="${H - M.b}" stroke="#b06000" stroke-dasharray="3,3"/>`;
      out += `<text x="${(+lx + 2).toFixed(1)}" y="${H - M.b - 3}" font-size="8" fill="#b06000">${esc(lessons.label[i])}</text>`;
    });
  }
  if (spec.markers && markers.x) {
    markers.x.forEach((x, i) => {
      const cx = sx(x), cy = sy(markers.y[i]);
      out += `<path class="unity-nb-check" d="M${cx},${cy - 5}L${cx + 5},${cy}L${cx},${cy + 5}L${cx - 5},${cy}Z" fill="#188038"/>`;
    });
  }
  return out + "</g>";
}
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "unity-nb-chart";
  el.appendChild(root);
  const draw = () => {
    const panels = model.get("panels"), series = model.get("series"), markers = model.get("markers");
    const lessons = model.get("lessons") || {};
    const cols = 2, rows = Math.ceil(panels.length / cols);
    let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W * cols}" height="${H * rows}" font-family="sans-serif">`;
    panels.forEach((p, i) => { svg += panel(p, series, markers, lessons, (i % cols) * W, Math.floor(i / cols) * H); });
    root.innerHTML = svg + "</svg>";
    root.dataset.points = String((series.x || []).length);
  };
  model.on("change:series", draw);
  model.on("change:markers", draw);
  model.on("change:lessons", draw);
  model.on("change:panels", draw);
  draw();
}
export default { render };
