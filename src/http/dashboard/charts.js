// Small SVG charts drawn with DOM calls (no markup strings, no inline style: the page's CSP allows
// neither), coloured by CSS classes so the dark scheme applies. Each chart is decoration for sighted
// readers: the same numbers are always in a table next to it, so the SVG is hidden from screen readers.

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) if (value !== undefined && value !== null) element.setAttribute(name, String(value));
  for (const child of children.flat()) if (child) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return element;
}

/** A round step for an axis reaching `max`: 1, 2 or 5 times a power of ten. */
function niceMax(max) {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  const step = [1, 2, 5, 10].find((factor) => factor * power >= max);
  return step * power;
}

/**
 * Stacked bars, one per category (a day), one segment per series. `series`: [{key, label}];
 * `rows`: [{label, values: {key: number}}]. Returns a figure with the SVG and a legend.
 */
export function stackedBars({ title, series, rows }) {
  const width = 640;
  const left = 36;
  const top = 10;
  const plotHeight = 180;
  const height = top + plotHeight + 28;
  const slot = (width - left) / Math.max(1, rows.length);
  const barWidth = Math.min(48, slot * 0.7);
  const totals = rows.map((row) => series.reduce((sum, { key }) => sum + (row.values[key] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const y = (value) => top + plotHeight - (value / max) * plotHeight;
  const grid = [0, max / 2, max].map((tick) => [
    svg('line', { x1: left, x2: width, y1: y(tick), y2: y(tick), class: 'grid-line' }),
    svg('text', { x: left - 6, y: y(tick) + 4, class: 'axis-label', 'text-anchor': 'end' }, Number.isInteger(tick) ? tick : tick.toFixed(1)),
  ]);
  // Every label when they fit, else every n-th so they do not overlap.
  const labelEvery = Math.max(1, Math.ceil(40 / slot));
  const bars = rows.map((row, index) => {
    const x = left + index * slot + (slot - barWidth) / 2;
    let base = 0;
    const segments = series.map(({ key }) => {
      const value = row.values[key] ?? 0;
      if (!value) return null;
      const rect = svg('rect', { x, y: y(base + value), width: barWidth, height: y(base) - y(base + value), class: `series-${key}` });
      base += value;
      return rect;
    });
    const label =
      index % labelEvery === 0 ? svg('text', { x: x + barWidth / 2, y: top + plotHeight + 16, class: 'axis-label', 'text-anchor': 'middle' }, row.label) : null;
    return svg('g', {}, segments, label);
  });
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', 'aria-hidden': 'true', focusable: 'false' }, grid, bars);
  return figure(title, chart, series);
}

/**
 * A bar for a table cell: `value` of `max` as a filled length, class `series-<key>`. The number is
 * in the cell next to it; the bar only lets the eye compare rows.
 */
export function cellBar(value, max, key) {
  const length = max > 0 ? (value / max) * 100 : 0;
  return svg(
    'svg',
    { viewBox: '0 0 100 10', preserveAspectRatio: 'none', class: 'cell-bar', 'aria-hidden': 'true', focusable: 'false' },
    svg('rect', { x: 0, y: 0, width: 100, height: 10, class: 'cell-bar-track' }),
    value > 0 ? svg('rect', { x: 0, y: 0, width: Math.max(1, length), height: 10, class: `series-${key}` }) : null,
  );
}

function figure(title, chart, legendItems) {
  const element = document.createElement('figure');
  element.className = 'chart-figure';
  const caption = document.createElement('figcaption');
  caption.textContent = title;
  const legend = document.createElement('ul');
  legend.className = 'legend';
  legend.setAttribute('aria-hidden', 'true');
  for (const { key, label } of legendItems) {
    const item = document.createElement('li');
    const swatch = svg('svg', { viewBox: '0 0 10 10', class: 'swatch' }, svg('rect', { width: 10, height: 10, class: `series-${key}` }));
    item.append(swatch, document.createTextNode(label));
    legend.append(item);
  }
  element.append(caption, chart, legend);
  return element;
}
