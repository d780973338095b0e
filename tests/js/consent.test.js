// The recorder's side of consent (consent.js): a start that waits for the member's answer, a refusal
// that rejects with record_refused, and a mix that leaves out whoever has not accepted.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ConsentBook } from '../../static/netcall/consent.js';
import { Emitter, NetcallEvent } from '../../static/netcall/events.js';

const pending = (id, target, kind = 'mp4') => ({ id, target, kind, state: 'pending' });
const answer = (id, target, state, kind = 'mp4') => ({ id, target, kind, state, record: state === 'accepted' ? { target } : null });

test('a start waits for the answer: accepted carries the notice, refused rejects with record_refused', async () => {
  const events = new Emitter();
  const book = new ConsentBook(events);
  let settled = false;
  const started = book.started(Promise.resolve({ record: null, consent: [pending('r1', 'bob')] }));
  started.then(() => (settled = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, false); // pending until bob answers
  events.emit(NetcallEvent.RECORD_CONSENT, answer('r1', 'bob', 'accepted'));
  assert.deepEqual((await started).record, { target: 'bob' });

  const refused = book.started(Promise.resolve({ record: null, consent: [pending('r2', 'bob')] }));
  events.emit(NetcallEvent.RECORD_CONSENT, answer('r2', 'bob', 'refused'));
  await assert.rejects(refused, (err) => err.code === 'record_refused');
  // no question: the ack as it came
  assert.deepEqual(await book.started(Promise.resolve({ record: { target: 'carol' }, consent: [] })), {
    record: { target: 'carol' },
    consent: [],
  });
});

test('an answer that arrives before anyone waits is kept', async () => {
  const events = new Emitter();
  const book = new ConsentBook(events);
  events.emit(NetcallEvent.RECORD_CONSENT, answer('r3', 'bob', 'refused'));
  await assert.rejects(book.started(Promise.resolve({ consent: [pending('r3', 'bob')] })), { code: 'record_refused' });
});

test('a mix leaves out the members asked until they accept, and a refusal keeps them out', () => {
  const events = new Emitter();
  const book = new ConsentBook(events);
  const accepted = [];
  const mix = book.mix([pending('m1', 'bob', 'aac'), pending('m2', 'carol', 'aac')], (who) => accepted.push(who));
  assert.deepEqual([...mix.excluded].sort(), ['bob', 'carol']);
  events.emit(NetcallEvent.RECORD_CONSENT, answer('m1', 'bob', 'accepted', 'aac'));
  events.emit(NetcallEvent.RECORD_CONSENT, answer('m2', 'carol', 'refused', 'aac'));
  assert.deepEqual([...mix.excluded], ['carol']);
  assert.deepEqual(accepted, ['bob']);
  mix.close();
});

test('a member who leaves before answering ends the wait', async () => {
  const events = new Emitter();
  const book = new ConsentBook(events);
  const started = book.started(Promise.resolve({ consent: [pending('r4', 'bob')] }));
  await new Promise((resolve) => setImmediate(resolve));
  events.emit(NetcallEvent.LEAVE_CHANNEL, { account: 'bob', reason: 'left' });
  await assert.rejects(started, { code: 'no_such_account' });
});

test('a member to be asked who joins while the mix runs is left out until it accepts', () => {
  const events = new Emitter();
  const book = new ConsentBook(events);
  const rewired = [];
  const mix = book.mix([], (who) => rewired.push(who));
  events.emit(NetcallEvent.RECORD_CONSENT, answer('m9', 'dave', 'pending', 'aac'));
  assert.deepEqual([...mix.excluded], ['dave']);
  events.emit(NetcallEvent.RECORD_CONSENT, answer('m9', 'dave', 'accepted', 'aac'));
  assert.deepEqual([...mix.excluded], []);
  assert.deepEqual(rewired, ['dave', 'dave']);
});
