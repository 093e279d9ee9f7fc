// A heatmap of a sweep's results over two of its parameters (the sweep view's, #/sweeps/<id>): one cell per pair of
// values, coloured by the objective (the best value among the sets that share the pair, since the other parameters
// vary too), worst red through amber to best green, grey where no set has a defined value. A click on a cell picks
// its best set. Drawn on a canvas; every cell also has a text form (title) and the picked cell is outlined.

import { fmtNum, h } from './format.js';

/** Cells of `rows` over params x and y: {xs, ys, cells: Map('i,j' -> {value, row})}, best by `objective`. */
export function cellsOf(rows, x, y, objective) {
  const stat = objective.stat;
  const better = objective.direction === 'min' ? (a, b) => a < b : (a, b) => a > b;
  const sortValues = (values) => [...values].sort((a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : 1));
  const xs = sortValues(new Set(rows.map((r) => r.params[x])));
  const ys = sortValues(new Set(rows.map((r) => r.params[y])));
  const cells = new Map();
  for (const row of rows) {
    const key = `${xs.indexOf(row.params[x])},${ys.indexOf(row.params[y])}`;
    const value = row.stats[stat];
    const old = cells.get(key);
    const defined = typeof value === 'number' && Number.isFinite(value) && row.feasible !== false;
    if (!old) cells.set(key, { value: defined ? value : null, row });
    else if (defined && (old.value === null || better(value, old.value))) cells.set(key, { value, row });
  }
  return { xs, ys, cells };
}

/** worst (0) .. best (1) as a colour: red, amber, green. */
export function colourOf(t) {
  const hue = Math.round(120 * Math.max(0, Math.min(1, t)));
  return `hsl(${hue} 65% 45%)`;
}

/** The heatmap card: axis pickers, the canvas, the legend. `onPick(row)` is told when a cell is clicked. */
export function heatmap(rows, params, objective, onPick) {
  const choose = (label, name, initial) => h('label', {}, `${label} `,
    h('select', { name, dataset: { axis: name } }, params.map((p) => h('option', { value: p, selected: p === initial }, p))));
  const xPick = choose('Across', 'x', params[0]);
  const yPick = choose('Down', 'y', params[1] ?? params[0]);
  const canvas = h('canvas.heatmap', { role: 'img', width: 640, height: 360 });
  const legend = h('p.legend.muted', {});
  const info = h('p.heatmap-cell', { 'aria-live': 'polite' });
  let grid = null;
  let picked = null;
  const margin = { left: 64, top: 8, right: 8, bottom: 40 };

  const draw = () => {
    const x = xPick.querySelector('select').value;
    const y = yPick.querySelector('select').value;
    grid = cellsOf(rows, x, y, objective);
    const ctx = canvas.getContext('2d');
    const w = canvas.width - margin.left - margin.right;
    const hgt = canvas.height - margin.top - margin.bottom;
    const cw = w / Math.max(1, grid.xs.length);
    const ch = hgt / Math.max(1, grid.ys.length);
    const values = [...grid.cells.values()].map((c) => c.value).filter((v) => v !== null);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const span = hi - lo || 1;
    const css = getComputedStyle(canvas);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.font = '11px sans-serif';
    ctx.fillStyle = css.color || '#333';
    for (const [key, cell] of grid.cells) {
      const [i, j] = key.split(',').map(Number);
      const t = cell.value === null ? null : (cell.value - lo) / span;
      ctx.fillStyle = t === null ? '#9aa0a6' : colourOf(objective.direction === 'min' ? 1 - t : t);
      ctx.fillRect(margin.left + i * cw, margin.top + (grid.ys.length - 1 - j) * ch, Math.ceil(cw), Math.ceil(ch));
    }
    if (picked && picked.x === x && picked.y === y) {
      ctx.strokeStyle = '#111';
      ctx.lineWidth = 2;
      ctx.strokeRect(margin.left + picked.i * cw + 1, margin.top + (grid.ys.length - 1 - picked.j) * ch + 1, cw - 2, ch - 2);
    }
    ctx.fillStyle = css.color || '#333';
    const every = (n, room) => Math.max(1, Math.ceil(n / Math.max(1, Math.floor(room))));
    const xStep = every(grid.xs.length, w / 36);
    grid.xs.forEach((v, i) => { if (i % xStep === 0) ctx.fillText(String(v), margin.left + i * cw + 2, margin.top + hgt + 14); });
    const yStep = every(grid.ys.length, hgt / 14);
    grid.ys.forEach((v, j) => { if (j % yStep === 0) ctx.fillText(String(v), 4, margin.top + (grid.ys.length - 1 - j) * ch + ch / 2 + 4); });
    ctx.fillText(x, margin.left + w / 2, canvas.height - 6);
    canvas.setAttribute('aria-label', `Heatmap of ${objective.stat} over ${x} (across) and ${y} (down): ${grid.cells.size} cells`);
    canvas.dataset.cells = String(grid.cells.size);
    legend.replaceChildren(`${objective.stat} (${objective.direction === 'min' ? 'lower' : 'higher'} is better), best over the other parameters: `,
      h('span.swatch', { style: `background:${colourOf(0)}` }), ` ${values.length ? fmtNum(objective.direction === 'min' ? hi : lo) : '—'}  `,
      h('span.swatch', { style: `background:${colourOf(1)}` }), ` ${values.length ? fmtNum(objective.direction === 'min' ? lo : hi) : '—'}`);
  };

  canvas.addEventListener('click', (ev) => {
    if (!grid) return;
    const rect = canvas.getBoundingClientRect();
    const px = ((ev.clientX - rect.left) * canvas.width) / rect.width - margin.left;
    const py = ((ev.clientY - rect.top) * canvas.height) / rect.height - margin.top;
    const w = canvas.width - margin.left - margin.right;
    const hgt = canvas.height - margin.top - margin.bottom;
    const i = Math.floor(px / (w / grid.xs.length));
    const j = grid.ys.length - 1 - Math.floor(py / (hgt / grid.ys.length));
    const cell = grid.cells.get(`${i},${j}`);
    if (!cell) return;
    picked = { i, j, x: xPick.querySelector('select').value, y: yPick.querySelector('select').value };
    info.textContent = `${picked.x} ${grid.xs[i]}, ${picked.y} ${grid.ys[j]}: ${objective.stat} ${cell.value === null ? '—' : fmtNum(cell.value)} (set #${cell.row.index})`;
    draw();
    onPick(cell.row);
  });
  xPick.addEventListener('change', draw);
  yPick.addEventListener('change', draw);
  const card = h('section.card.sweep-heatmap', {}, h('h2', {}, 'Heatmap'),
    h('div.heatmap-axes', {}, xPick, ' ', yPick), h('div.heatmap-wrap', {}, canvas), legend, info);
  requestAnimationFrame(draw);
  return card;
}
