// Charts (uPlot, vendored under vendor/uplot with its licence, loaded by index.html as the
// global `uPlot`) and the weights heatmap. Every chart comes with its data as a table, for
// screen readers and for anyone who wants the numbers.

import { el, table } from './ui.mjs';

const WHOLE = Array.from({ length: 19 }, (_, i) => [1, 2, 5][i % 3] * 10 ** Math.floor(i / 3));
const COLORS = ['#0b57d0', '#b3261e', '#1b6e37', '#8e4ec6', '#c26401', '#00796b', '#5f6368', '#ad1457'];

/** Base units as ALX, as a number for plotting (precision beyond 2^53 units is not visible). */
export const toAlx = (units) => Number(BigInt(units)) / 1e9;

/**
 * A line chart: `x` values, and `series` of `{ label, values }` (one value per x). Returns a
 * figure with the chart, its caption, and the data as a table in a disclosure.
 */
export function lineChart({ id, caption, xLabel, yLabel, x, series, stepped = false }) {
  const holder = el('div', { class: 'chart', role: 'img', 'aria-label': `${caption} (the data follows as a table)` });
  const figure = el('figure', { id },
    holder,
    el('figcaption', {}, caption),
    el('details', {}, el('summary', {}, 'Data as a table'),
      table(caption, [xLabel, ...series.map((s) => s.label)], x.map((v, i) => [v, ...series.map((s) => s.values[i])]))));
  if (typeof uPlot !== 'function' || x.length === 0) return figure;
  // Drawn once the figure is in the page, at the page's width (a page is often built before
  // it is shown).
  let frames = 0;
  const draw = () => {
    if (!holder.isConnected) {
      if (frames++ < 600) requestAnimationFrame(draw);
      return;
    }
    const width = Math.max(280, Math.min(holder.clientWidth || 640, 1060));
    const paths = stepped ? uPlot.paths.stepped({ align: 1 }) : undefined;
    new uPlot({
      width,
      height: 240,
      scales: { x: { time: false } },
      // x is always a count (blocks, epochs): whole-number ticks only; y keeps three
      // significant digits, however small the amounts.
      axes: [{ label: xLabel, incrs: WHOLE },
        { label: yLabel, size: 80, values: (_, ticks) => ticks.map((v) => +v.toPrecision(3)) }],
      series: [{ label: xLabel }, ...series.map((s, i) => ({
        label: s.label, stroke: COLORS[i % COLORS.length], width: 2, paths,
      }))],
    }, [x, ...series.map((s) => s.values)], holder);
  };
  requestAnimationFrame(draw);
  return figure;
}

/**
 * The weights each validator set, as a grid: one row per validator, one column per uid, the
 * cell's darkness its share of the row (the value also written in the cell, and in its title).
 */
export function heatmap(rows, uids) {
  if (rows.length === 0) return el('p', { class: 'empty' }, 'Weights: none set yet.');
  const cell = (value, total) => {
    const share = total > 0 ? value / total : 0;
    const percent = (share * 100).toFixed(1);
    const light = Math.round(97 - share * 62);
    const td = el('td', { class: light < 45 ? 'heat dark' : 'heat', title: `${value} of ${total}: ${percent}% of the row` },
      value > 0 ? `${percent}%` : '·');
    // CSSOM, not a style attribute: the page's policy allows no inline styles in markup.
    td.style.backgroundColor = `hsl(217 80% ${light}%)`;
    return td;
  };
  return el('div', { class: 'table' }, el('table', { id: 'weights', class: 'heatmap' },
    el('caption', {}, 'Weights set by each validator (rows) on each uid (columns), as a share of the row'),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'validator uid'), uids.map((u) => el('th', { scope: 'col' }, u)))),
    el('tbody', {}, rows.map(({ uid, weights }) => {
      const byUid = new Map(weights.map(([dest, value]) => [dest, value]));
      const total = weights.reduce((n, [, v]) => n + v, 0);
      return el('tr', {}, el('th', { scope: 'row' }, uid), uids.map((u) => cell(byUid.get(u) ?? 0, total)));
    }))));
}
