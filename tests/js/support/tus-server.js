// A tus 1.0.0 server in this process, for the upload client's tests (static/netcall/upload.js). It
// speaks what the netcall server speaks (recording/uploads/): creation with a deferred length, HEAD,
// PATCH with an sha1 Upload-Checksum, DELETE, the Netcall-* headers, and errors as
// `{"error": {"code", "message"}}`. Faults are queued per method and served in order: each request
// of that method takes the next one (or none).

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

/**
 * What the next request of a method meets:
 * - 'drop': the connection is cut before anything is read or answered
 * - 'drop-after-write': the bytes are stored, then the connection is cut (the client never hears)
 * - 'keep-half-then-drop': half the body is stored, then the connection is cut (a server that keeps
 *   what arrived of a body that ended early)
 * - 409: offset mismatch, whatever the offset (as after a write the client did not hear of)
 * - 423: locked (another request writes)
 * - 500: a server error
 * - 404: the upload is gone
 * - 'hold': the request is read and never answered, until dropHeld() cuts it (the network went away)
 * @typedef {'drop' | 'drop-after-write' | 'keep-half-then-drop' | 'hold' | 409 | 423 | 500 | 404} Fault
 */

/**
 * @typedef {object} StoredUpload
 * @property {string} id
 * @property {Buffer[]} parts the bytes received, in order
 * @property {number} offset
 * @property {number | null} length
 * @property {boolean} partial the client said the recording never stopped (Netcall-Partial)
 * @property {Record<string, string>} metadata decoded Upload-Metadata
 * @property {string} token the bearer token it was created with
 */

export class FakeTusServer {
  /** @type {Map<string, StoredUpload>} */
  uploads = new Map();
  /** @type {{method: string, offset: number | null, status: number | 'dropped', length: number}[]} every request, in order */
  log = [];
  /** @type {Record<string, Fault[]>} by method */
  #faults = { POST: [], HEAD: [], PATCH: [], DELETE: [] };
  #nextId = 1;
  /** @type {import('node:http').IncomingMessage[]} requests held unanswered ('hold') */
  #held = [];
  #server = createServer((request, response) => void this.#handle(request, response));

  /** @returns {Promise<FakeTusServer>} listening on a free loopback port */
  async start() {
    await new Promise((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve(undefined)));
    return this;
  }

  /** @returns {string} the creation endpoint */
  get endpoint() {
    const address = /** @type {import('node:net').AddressInfo} */ (this.#server.address());
    return `http://127.0.0.1:${address.port}/api/uploads/`;
  }

  /**
   * Queue faults for the next requests of `method`.
   * @param {'POST' | 'HEAD' | 'PATCH' | 'DELETE'} method
   * @param {...Fault} faults
   */
  fail(method, ...faults) {
    this.#faults[method].push(...faults);
  }

  /** @returns {number} requests held unanswered */
  get holding() {
    return this.#held.length;
  }

  /** Cut every held request's connection. */
  dropHeld() {
    for (const request of this.#held.splice(0)) request.socket.destroy();
  }

  /** @returns {number} faults queued and not yet met */
  get faultsLeft() {
    return Object.values(this.#faults).reduce((n, list) => n + list.length, 0);
  }

  /** @param {string} url @returns {Buffer} what the server holds of an upload */
  bytes(url) {
    return Buffer.concat(this.#upload(url).parts);
  }

  /** @param {string} url @returns {StoredUpload} */
  #upload(url) {
    const upload = this.uploads.get(new URL(url).pathname.split('/').filter(Boolean).pop() ?? '');
    if (!upload) throw new Error(`no upload at ${url}`);
    return upload;
  }

  async stop() {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(() => resolve(undefined)));
  }

  /**
   * @param {import('node:http').IncomingMessage} request
   * @param {import('node:http').ServerResponse} response
   */
  async #handle(request, response) {
    const method = request.method ?? '';
    const offsetHeader = request.headers['upload-offset'];
    const entry = { method, offset: offsetHeader === undefined ? null : Number(offsetHeader), status: /** @type {number | 'dropped'} */ (0), length: 0 };
    this.log.push(entry);
    const fault = this.#faults[method]?.shift();
    /** @param {number} status @param {Record<string, string>} [headers] @param {{code: string, message: string}} [error] */
    const answer = (status, headers = {}, error = undefined) => {
      entry.status = status;
      const body = error ? JSON.stringify({ error }) : '';
      response.writeHead(status, { 'Tus-Resumable': '1.0.0', ...headers, ...(error ? { 'Content-Type': 'application/json' } : {}) });
      response.end(method === 'HEAD' ? undefined : body);
    };
    const drop = () => {
      entry.status = 'dropped';
      request.socket.destroy();
    };
    if (fault === 'drop') return drop();
    if (request.headers['tus-resumable'] !== '1.0.0') return answer(412, {}, { code: 'tus_version', message: 'Tus-Resumable 1.0.0 is required' });
    const body = await readBody(request);
    entry.length = body.length;
    if (fault === 'hold') {
      entry.status = 'dropped';
      this.#held.push(request);
      return;
    }
    if (typeof fault === 'number') {
      const errors = {
        409: { code: 'offset_mismatch', message: 'the upload is at another offset' },
        423: { code: 'locked', message: 'another request is writing to this upload; retry after it ends' },
        500: { code: 'server_error', message: 'something broke' },
        404: { code: 'not_found', message: 'no such upload' },
      };
      return answer(fault, {}, errors[fault]);
    }
    if (method === 'POST') return this.#create(request, answer);
    const upload = this.uploads.get(request.url?.split('/').filter(Boolean).pop() ?? '');
    if (!upload) return answer(404, {}, { code: 'not_found', message: 'no such upload' });
    if (method === 'HEAD') return answer(200, this.#state(upload));
    if (method === 'DELETE') {
      this.uploads.delete(upload.id);
      return answer(204);
    }
    if (method !== 'PATCH') return answer(405, {}, { code: 'method_not_allowed', message: 'use HEAD, PATCH or DELETE' });
    const offset = Number(offsetHeader);
    if (offset !== upload.offset) {
      return answer(409, this.#state(upload), { code: 'offset_mismatch', message: `the upload is at offset ${upload.offset}, not ${offset}` });
    }
    const checksum = request.headers['upload-checksum'];
    if (checksum !== undefined && checksum !== `sha1 ${createHash('sha1').update(body).digest('base64')}`) {
      return answer(460, {}, { code: 'checksum_mismatch', message: "the chunk's sha1 does not match" });
    }
    const kept = fault === 'keep-half-then-drop' ? body.subarray(0, Math.floor(body.length / 2)) : body;
    upload.parts.push(kept);
    upload.offset += kept.length;
    if (fault === 'keep-half-then-drop') return drop();
    const declared = request.headers['upload-length'];
    if (declared !== undefined) upload.length = Number(declared);
    if (request.headers['netcall-partial'] === '1') upload.partial = true;
    if (fault === 'drop-after-write') return drop();
    return answer(204, this.#state(upload));
  }

  /**
   * @param {import('node:http').IncomingMessage} request
   * @param {(status: number, headers?: Record<string, string>, error?: {code: string, message: string}) => void} answer
   */
  #create(request, answer) {
    if (request.headers['upload-defer-length'] !== '1') {
      return answer(400, {}, { code: 'bad_header', message: "send 'Upload-Defer-Length: 1'" });
    }
    const metadata = Object.fromEntries(
      String(request.headers['upload-metadata'] ?? '')
        .split(',')
        .filter(Boolean)
        .map((pair) => {
          const [key, value] = pair.split(' ');
          return [key, Buffer.from(value ?? '', 'base64').toString('utf8')];
        }),
    );
    const id = `u${this.#nextId++}`;
    const token = String(request.headers.authorization ?? '').replace(/^Bearer /u, '');
    this.uploads.set(id, { id, parts: [], offset: 0, length: null, partial: false, metadata, token });
    return answer(201, { Location: `/api/uploads/${id}`, ...this.#state(/** @type {StoredUpload} */ (this.uploads.get(id))) });
  }

  /** @param {StoredUpload} upload @returns {Record<string, string>} the Upload-* and Netcall-* headers */
  #state(upload) {
    /** @type {Record<string, string>} */
    const headers = { 'Upload-Offset': String(upload.offset), 'Netcall-Recording-Id': `rec-${upload.id}` };
    if (upload.length === null) headers['Upload-Defer-Length'] = '1';
    else headers['Upload-Length'] = String(upload.length);
    headers['Netcall-Recording-Status'] = upload.length !== null && upload.offset === upload.length ? 'complete' : 'recording';
    if (upload.length !== null && upload.offset === upload.length) {
      headers['Netcall-Recording-Sha256'] = createHash('sha256').update(Buffer.concat(upload.parts)).digest('hex');
      headers['Netcall-Recording-Url'] = `http://127.0.0.1/recordings/rec-${upload.id}/file`;
    }
    return headers;
  }
}

/** @param {import('node:http').IncomingMessage} request @returns {Promise<Buffer>} */
async function readBody(request) {
  const parts = [];
  for await (const part of request) parts.push(part);
  return Buffer.concat(parts);
}
