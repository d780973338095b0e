// The SDK's layers: the core modules never touch the DOM or browser storage themselves (what they
// need of it comes through the Platform netcall.js hands them, platform.js), so each loads in Node,
// where there is no DOM at all.

import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';

import { ROOT } from './support/media.js';

const SDK = join(ROOT, 'static/netcall');
/** The modules that may reach the browser's DOM and storage: page helpers, the platform, the entry point, the host helper. */
const EDGE = new Set(['dom.js', 'platform.js', 'netcall.js', 'embed.js']);
/** What a core module must not name: the DOM, browser storage, locks, downloads. */
const FORBIDDEN = [
  /\bdocument\b/u,
  /\bwindow\b/u,
  /\bindexedDB\b/u,
  /\bIDBKeyRange\b/u,
  /\bnavigator\.locks\b/u,
  /\blocalStorage\b/u,
  /\bsessionStorage\b/u,
  /\bcreateObjectURL\b/u,
  /from '\.\/dom\.js'/u,
];

/** @param {string} source @returns {string} the code without comments (JSDoc types included) */
function code(source) {
  return source.replace(/\/\*[\s\S]*?\*\//gu, '').replace(/(^|[^:'"`\\])\/\/.*$/gmu, '$1');
}

/** @returns {Promise<string[]>} */
async function modules() {
  return (await readdir(SDK)).filter((name) => name.endsWith('.js')).sort();
}

test('core modules name neither the DOM nor browser storage: the Platform brings what they need', async () => {
  const core = (await modules()).filter((name) => !EDGE.has(name));
  assert.ok(core.includes('sinks.js') && core.includes('record-sources.js') && core.includes('journal.js'));
  for (const name of core) {
    const text = code(await readFile(join(SDK, name), 'utf8'));
    for (const pattern of FORBIDDEN) assert.doesNotMatch(text, pattern, `${name} names ${pattern}`);
  }
});

test('every SDK module loads in Node, where there is no DOM', async () => {
  assert.equal(typeof globalThis.document, 'undefined');
  for (const name of await modules()) {
    const loaded = await import(pathToFileURL(join(SDK, name)).href);
    assert.ok(Object.keys(loaded).length > 0, `${name} exports nothing`);
  }
});

test('the browser platform reads the globals only when asked', async () => {
  const { browserPlatform } = await import(pathToFileURL(join(SDK, 'platform.js')).href);
  assert.equal(browserPlatform.locks, globalThis.navigator?.locks ?? null);
  assert.equal(browserPlatform.indexedDB, globalThis.indexedDB ?? null);
  assert.equal(typeof browserPlatform.download, 'function');
});
