// The streaming SHA-256 (static/netcall/sha256.js) against Node's crypto: random inputs of many sizes
// (every padding case around the 64-byte block and its 56-byte length boundary, and large ones), fed
// whole, a byte at a time and in random pieces.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { Sha256 } from '../../static/netcall/sha256.js';
import { randomBytes, rechunk, seededRandom } from './support/bytes.js';

/** @param {Uint8Array} bytes @returns {string} */
const expected = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** @param {Uint8Array[]} parts @returns {string} */
function ours(parts) {
  const sha = new Sha256();
  for (const part of parts) sha.update(part);
  return sha.hex();
}

const SIZES = [
  ...Array.from({ length: 130 }, (_, i) => i), // 0..129: every block and padding boundary, twice
  183, 184, 191, 192, 255, 256, 1000, 4095, 4096, 4097, 65_535, 65_536, 100_003, (1 << 20) + 13,
];

test('known answers (FIPS 180-4 examples)', () => {
  const text = (/** @type {string} */ s) => new TextEncoder().encode(s);
  assert.equal(ours([]), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(ours([text('abc')]), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(
    ours([text('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')]),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  );
});

test('random inputs of every size near a block boundary and beyond, fed whole', () => {
  const random = seededRandom(1);
  for (const size of SIZES) {
    const bytes = randomBytes(random, size);
    assert.equal(ours([bytes]), expected(bytes), `${size} bytes`);
  }
});

test('the same inputs a byte at a time and in random pieces (empty pieces too)', () => {
  const random = seededRandom(2);
  for (const size of SIZES.filter((s) => s <= 100_003)) {
    const bytes = randomBytes(random, size);
    if (size <= 4097) assert.equal(ours(rechunk(bytes, () => 1)), expected(bytes), `${size} bytes, one at a time`);
    for (const largest of [3, 63, 65, 1000, 70_000]) {
      const parts = rechunk(bytes, () => 1 + random() * largest).flatMap((p) => (random() < 0.1 ? [new Uint8Array(0), p] : [p]));
      assert.equal(ours(parts), expected(bytes), `${size} bytes in pieces of up to ${largest}`);
    }
  }
});

test('a recording-sized input in recorder-sized chunks', () => {
  const random = seededRandom(3);
  const bytes = randomBytes(random, 6 * 1024 * 1024 + 77);
  assert.equal(ours(rechunk(bytes, () => 100_000 + random() * 400_000)), expected(bytes));
});

test('update() takes subarrays that start inside a larger buffer', () => {
  const random = seededRandom(4);
  const buffer = randomBytes(random, 10_000);
  const view = buffer.subarray(17, 9_001);
  assert.equal(ours([view.subarray(0, 100), view.subarray(100)]), expected(view));
});
