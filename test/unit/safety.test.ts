import { test } from 'node:test';
import assert from 'node:assert/strict';
import { automatedReason, priorityOf } from '../../src/providers/mailbox/safety.js';

const person = 'Jane Doe <jane.doe@example.com>';

test('a normal email from a person is not automated', () => {
  assert.equal(automatedReason({ subject: 'Router help', 'content-type': 'text/plain' }, person), null);
  assert.equal(automatedReason({}, 'norman@example.com'), null);
  assert.equal(automatedReason({}, 'reply-guy@example.com'), null);
});

test('Auto-Submitted other than "no" is automated, in any header case', () => {
  assert.match(automatedReason({ 'Auto-Submitted': 'auto-replied' }, person) ?? '', /auto-replied/);
  assert.match(automatedReason({ 'auto-submitted': 'auto-generated' }, person) ?? '', /auto-generated/);
  assert.match(automatedReason({ 'AUTO-SUBMITTED': 'auto-notified; owner-email=x@y.z' }, person) ?? '', /auto-notified/);
  assert.equal(automatedReason({ 'Auto-Submitted': 'no' }, person), null);
  assert.equal(automatedReason({ 'Auto-Submitted': ' No ' }, person), null);
});

test('Precedence bulk, list and junk are automated; other values are not', () => {
  for (const value of ['bulk', 'list', 'junk', 'Bulk']) {
    assert.match(automatedReason({ Precedence: value }, person) ?? '', /precedence/i, value);
  }
  assert.equal(automatedReason({ Precedence: 'first-class' }, person), null);
});

test('List-Id and List-Unsubscribe mark mailing-list mail', () => {
  assert.match(automatedReason({ 'List-Id': 'News <news.example.com>' }, person) ?? '', /list-id/);
  assert.match(automatedReason({ 'list-unsubscribe': '<mailto:u@example.com>' }, person) ?? '', /list-unsubscribe/);
});

test('X-Autoreply and X-Autorespond mark auto-responders', () => {
  assert.match(automatedReason({ 'X-Autoreply': 'yes' }, person) ?? '', /x-autoreply/);
  assert.match(automatedReason({ 'X-Autorespond': 'vacation' }, person) ?? '', /x-autorespond/);
});

test('robot senders are automated, with or without a display name', () => {
  const robots = [
    'MAILER-DAEMON@mx.example.com',
    'Mail Delivery System <mailer-daemon@mx.example.com>',
    'postmaster@example.com',
    'no-reply@example.com',
    'noreply@example.com',
    'No Reply <no_reply@example.com>',
    'do-not-reply@example.com',
    'donotreply@example.com',
    'noreply-billing@example.com',
    'owner-announce@lists.example.com',
    'announce-request@lists.example.com',
  ];
  for (const sender of robots) {
    assert.match(automatedReason({}, sender) ?? '', /automated sender/, sender);
  }
});

test('priority: 10 when header and word agree, 9 header only, 8 word only, 5 otherwise', () => {
  assert.equal(priorityOf('URGENT: internet down', { 'X-Priority': '1 (Highest)' }), 10);
  assert.equal(priorityOf('Invoice question', { 'X-Priority': '2' }), 9);
  assert.equal(priorityOf('Invoice question', { importance: 'High' }), 9);
  assert.equal(priorityOf('Invoice question', { Priority: 'urgent' }), 9);
  assert.equal(priorityOf('Site outage since 6am', {}), 8);
  assert.equal(priorityOf('Please answer ASAP', {}), 8);
  assert.equal(priorityOf('Emergency: no heating', {}), 8);
  assert.equal(priorityOf('critical bug in the app', {}), 8);
  assert.equal(priorityOf('Is the server down?', {}), 8);
  assert.equal(priorityOf('Invoice question', {}), 5);
});

test('priority: urgent words count only as whole words, low priority headers do not count', () => {
  assert.equal(priorityOf('Where do I download the manual?', {}), 5);
  assert.equal(priorityOf('Countdown to the sale', {}), 5);
  assert.equal(priorityOf('Invoice question', { 'X-Priority': '3 (Normal)' }), 5);
  assert.equal(priorityOf('Invoice question', { 'X-Priority': '5' }), 5);
  assert.equal(priorityOf('Invoice question', { Importance: 'low' }), 5);
});
