// The recorder's wall-clock audio timeline (audio-timeline.js): one output sample per sample period,
// inputs placed by their timestamps, lost audio turned into silence of the same length, late audio
// dropped without shifting what follows, inputs mixed.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AudioTimeline, JUMP_US, downmix, resample } from '../../static/netcall/audio-timeline.js';

const RATE = 48_000;
/** @param {number} n @param {number} value @returns {Float32Array} */
const chunk = (n, value) => new Float32Array(n).fill(value);
/** @param {number} samples @returns {number} µs */
const us = (samples) => (samples * 1e6) / RATE;

test('a steady input comes out sample for sample, whatever its timestamps jitter', () => {
  const timeline = new AudioTimeline(RATE, 1_000_000);
  for (let i = 0; i < 100; i++) {
    const jitter = (i % 3) * 3000 - 3000; // ±3 ms, far below a jump
    timeline.place('a', 1_000_000 + us(480 * i) + jitter, chunk(480, 1 + i), RATE);
  }
  const out = timeline.take(1_000_000 + us(480 * 100), 480);
  assert.equal(out.length, 48_000);
  for (let i = 0; i < 100; i++) assert.equal(out[480 * i + 100], 1 + i, `chunk ${i}`);
});

test('audio the browser lost becomes silence of the same length, and what follows stays in place', () => {
  const timeline = new AudioTimeline(RATE, 0);
  timeline.place('a', 0, chunk(4800, 1), RATE); // 0-100 ms
  timeline.place('a', us(4800) + 300_000, chunk(4800, 2), RATE); // 300 ms missing
  const out = timeline.take(us(4800) * 2 + 300_000);
  assert.equal(out.length, 4800 * 2 + 14_400);
  assert.equal(out[100], 1);
  assert.equal(out[4800 + 7000], 0);
  assert.equal(out[4800 + 14_400 + 10], 2);
});

test('a chunk that comes after its time was taken is dropped, without moving the next one', () => {
  const timeline = new AudioTimeline(RATE, 0);
  timeline.place('a', 0, chunk(480, 1), RATE);
  assert.equal(timeline.take(us(960)).length, 960); // the second 10 ms were due: silence
  timeline.place('a', us(480), chunk(480, 2), RATE); // too late
  timeline.place('a', us(960), chunk(480, 3), RATE);
  const out = timeline.take(us(1440));
  assert.equal(out.length, 480);
  assert.equal(out[0], 3);
  assert.equal(timeline.late, 480);
});

test('a jump back (a replaced track, a clock step) starts at its own timestamp', () => {
  const timeline = new AudioTimeline(RATE, 0);
  timeline.place('a', 0, chunk(9600, 1), RATE);
  timeline.place('a', us(9600) - JUMP_US * 2, chunk(480, 5), RATE); // overlaps by 80 ms: mixed in there
  const out = timeline.take(us(9600));
  assert.equal(out[9600 - 3840 + 10], 6);
  assert.equal(out[100], 1);
});

test('inputs are mixed; an input that is forgotten starts afresh at its next timestamp', () => {
  const timeline = new AudioTimeline(RATE, 0);
  timeline.place('a', 0, chunk(480, 0.25), RATE);
  timeline.place('b', 0, chunk(480, 0.5), RATE);
  assert.equal(timeline.take(us(480))[10], 0.75);
  timeline.forget('a');
  timeline.place('a', us(480) + 5000, chunk(480, 1), RATE); // within a jump, but forgotten: at its time
  const out = timeline.take(us(1440));
  assert.equal(out[0], 0);
  assert.equal(out[240 + 10], 1);
});

test('memory is bounded: samples more than 10 s ahead are not kept', () => {
  const timeline = new AudioTimeline(RATE, 0);
  timeline.place('a', 60_000_000, chunk(480, 1), RATE);
  assert.equal(timeline.take(us(480)).length, 480);
  assert.ok(timeline.take(61_000_000).every((v) => v === 0));
});

test('take hands out whole multiples and keeps the rest', () => {
  const timeline = new AudioTimeline(RATE, 0);
  timeline.place('a', 0, chunk(1000, 1), RATE);
  assert.equal(timeline.take(us(1000), 480).length, 960);
  assert.equal(timeline.position, us(960));
  assert.equal(timeline.take(us(1440), 480)[39], 1);
});

test('resample and downmix', () => {
  assert.equal(resample(chunk(441, 1), 44_100, 48_000).length, 480);
  assert.deepEqual([...downmix([chunk(2, 1), chunk(2, 0)])], [0.5, 0.5]);
});

test('reached() says how far an input has handed in audio (what a stalled page waits for)', () => {
  const timeline = new AudioTimeline(RATE, 1_000_000);
  assert.equal(timeline.reached('a'), null);
  timeline.place('a', 1_000_000, chunk(480, 1), RATE);
  timeline.place('a', 1_000_000 + us(480), chunk(480, 1), RATE);
  assert.equal(timeline.reached('a'), 1_000_000 + us(960));
  timeline.forget('a');
  assert.equal(timeline.reached('a'), null);
});
