// Charts drawn by uPlot (served by the api role from node_modules at /vendor/uplot/, no build step, no
// CDN) on a canvas, so the page's CSP holds: no markup strings, no inline script or style. Colours
// come from the stylesheet (each series' legend swatch), so the dark scheme applies. A chart is
// decoration for sighted readers: the same numbers are always in a table next to it, so the chart
// is hidden from screen readers.
import uPlot from './vendor/uplot/uPlot.esm.js';

const HEIGHT = 220;
const DARK = window.matchMedia('(prefers-color-scheme: dark)');

/**
 * Stacked bars, one per category (a day), one segment per series. `series`: [{key, label}];
 * `rows`: [{label, values: {key: number}}]. Returns a figure with the chart and a legend; the chart
 * is drawn once the figure is in the page (it needs a width) and redrawn when the width or the
 * colour scheme changes.
 */
export function stackedBars({ title, series, rows }) {
  const swatches = new Map(series.map(({ key }) => [key, swatch(key)]));
  const canvasHolder = document.createElement('div');
  canvasHolder.className = 'chart';
  canvasHolder.setAttribute('aria-hidden', 'true');
  const element = figure(title, canvasHolder, series, swatches);

  // uPlot does not stack: each series is drawn as the running total up to it, the tallest first, so
  // every later (shorter) bar covers the lower part of the one before. An empty segment is no bar.
  const running = rows.map(() => 0);
  const stacked = series.map(({ key }) =>
    rows.map((row, index) => {
      const value = row.values[key] ?? 0;
      running[index] += value;
      return value > 0 ? running[index] : null;
    }),
  );
  const data = [rows.map((_row, index) => index), ...stacked.reverse()];
  const drawOrder = [...series].reverse();
  const labels = rows.map((row) => row.label);

  let plot = null;
  const draw = (width) => {
    plot?.destroy();
    const style = getComputedStyle(element);
    const muted = style.getPropertyValue('--muted').trim();
    const grid = { stroke: style.getPropertyValue('--border').trim(), width: 1 };
    const axis = { stroke: muted, grid, ticks: { show: false }, font: `11px ${style.fontFamily}` };
    plot = new uPlot(
      {
        width,
        height: HEIGHT,
        legend: { show: false },
        cursor: { show: false, drag: { x: false, y: false } },
        select: { show: false },
        scales: {
          x: { time: false, range: [-0.5, rows.length - 0.5] },
          // A tenth of headroom above the tallest bar.
          y: { range: (_plot, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] },
        },
        axes: [
          // Whole days only, as many labels as fit without overlapping.
          { ...axis, grid: { show: false }, space: 44, incrs: [1, 2, 3, 7, 14, 28], values: (_plot, splits) => splits.map((index) => labels[index] ?? '') },
          { ...axis, size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] },
        ],
        series: [
          {},
          ...drawOrder.map(({ key, label }) => {
            const colour = getComputedStyle(swatches.get(key)).backgroundColor;
            return { label, stroke: colour, fill: colour, width: 0, points: { show: false }, paths: uPlot.paths.bars({ size: [0.7, 48] }) };
          }),
        ],
      },
      data,
      canvasHolder,
    );
  };

  // The first observation comes when the figure enters the page; the last one (width 0) when it leaves.
  let width = 0;
  const resized = new ResizeObserver(([entry]) => {
    if (!element.isConnected) return forget();
    const next = Math.floor(entry.contentRect.width);
    if (next <= 0 || next === width) return;
    if (plot && width) plot.setSize({ width: next, height: HEIGHT });
    else draw(next);
    width = next;
  });
  const schemeChanged = () => (element.isConnected ? draw(width) : forget());
  function forget() {
    resized.disconnect();
    DARK.removeEventListener('change', schemeChanged);
    plot?.destroy();
    plot = null;
  }
  resized.observe(canvasHolder);
  DARK.addEventListener('change', schemeChanged);
  return element;
}

/**
 * A bar for a table cell: `value` of `max` as a filled length, coloured as series `key`. The number
 * is in the cell next to it; the bar only lets the eye compare rows. Its length is set through the
 * CSSOM, which the CSP allows (an inline `style` attribute it would refuse).
 */
export function cellBar(value, max, key) {
  const track = document.createElement('span');
  track.className = 'cell-bar';
  track.setAttribute('aria-hidden', 'true');
  if (value > 0) {
    const bar = document.createElement('span');
    bar.className = `series-${key}`;
    bar.style.width = `${Math.max(1, max > 0 ? (value / max) * 100 : 0)}%`;
    track.append(bar);
  }
  return track;
}

/** An empty box coloured as series `key` by the stylesheet. */
function swatch(key) {
  const element = document.createElement('span');
  element.className = `swatch series-${key}`;
  return element;
}

function figure(title, chart, legendItems, swatches) {
  const element = document.createElement('figure');
  element.className = 'chart-figure';
  const caption = document.createElement('figcaption');
  caption.textContent = title;
  const legend = document.createElement('ul');
  legend.className = 'legend';
  legend.setAttribute('aria-hidden', 'true');
  for (const { key, label } of legendItems) {
    const item = document.createElement('li');
    item.append(swatches.get(key), document.createTextNode(label));
    legend.append(item);
  }
  element.append(caption, chart, legend);
  return element;
}
