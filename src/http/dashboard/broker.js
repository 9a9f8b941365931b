// Live broker view: depth, rates and consumers of every queue of the vhost, every few seconds,
// and the pipeline's totals (emails by state, manuals by status, replies waiting for review).
import { api } from './api.js';
import { fill, h, keepFocus, table } from './dom.js';
import { poll } from './poll.js';

const EVERY_MS = 3000;

export function createBroker(section, context) {
  const body = section.querySelector('.section-body');
  const updated = h('p', { class: 'summary' });
  const list = h('div');
  const overview = h('div', { class: 'overview' });
  fill(body, updated, list, h('h3', {}, 'Pipeline totals'), overview);
  let stop = () => {};
  let shown = '';

  async function refresh() {
    const [broker, counts] = await Promise.all([
      api('broker').catch((error) => {
        context.fail(error);
        throw error;
      }),
      context.refreshCounts(),
    ]);
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every ${EVERY_MS / 1000} seconds.`;
    // Unchanged numbers are not re-rendered, and a focused table keeps its focus when they change.
    const fingerprint = JSON.stringify([broker, counts]);
    if (fingerprint === shown) return;
    shown = fingerprint;
    keepFocus(list, () =>
      fill(
        list,
        broker.reachable
          ? queuesTable(broker.queues)
          : h('p', { class: 'error-text' }, `The RabbitMQ management API does not answer: ${broker.error ?? 'unknown error'}`),
      ),
    );
    if (counts) {
      fill(
        overview,
        totals('Emails by state', counts.states),
        totals('Manuals by status', counts.documents),
        h('p', {}, `${counts.pending_reviews} ${counts.pending_reviews === 1 ? 'reply waits' : 'replies wait'} for review.`),
      );
    }
  }

  return {
    show() {
      stop();
      shown = '';
      stop = poll(refresh, EVERY_MS);
    },
    hide() {
      stop();
    },
  };
}

function queuesTable(queues) {
  // Numbers read better in columns, scrolled sideways on a phone, than as cards.
  return table(
    'Queues',
    ['Queue', 'Messages', 'Ready', 'Unacked', 'Consumers', 'Publish /s', 'Deliver /s'],
    queues.map((queue) =>
      h(
        'tr',
        { 'data-queue': queue.name, class: queue.name === 'dead_letter_queue' && queue.messages ? 'alert' : null },
        h('td', {}, h('code', {}, queue.name)),
        h('td', { class: 'number' }, queue.messages),
        h('td', { class: 'number' }, queue.messages_ready),
        h('td', { class: 'number' }, queue.messages_unacknowledged),
        h('td', { class: 'number' }, queue.consumers),
        h('td', { class: 'number' }, rate(queue.publish_rate)),
        h('td', { class: 'number' }, rate(queue.deliver_rate)),
      ),
    ),
    { cards: false },
  );
}

function rate(value) {
  return typeof value === 'number' ? value.toFixed(value >= 10 ? 0 : 1) : '0';
}

function totals(title, counts = {}) {
  const entries = Object.entries(counts);
  return h(
    'div',
    {},
    h('h4', {}, title),
    entries.length
      ? h(
          'ul',
          { class: 'totals' },
          entries.map(([name, count]) => h('li', {}, h('span', {}, name.replace(/_/g, ' ')), ' ', h('strong', {}, count))),
        )
      : h('p', { class: 'empty' }, 'None yet.'),
  );
}
