// Type-checked by `make lint` (tsc -p tests/js/jsconfig.json), never run: the event map types every
// listener's payload, and a wrong event name or payload field is an error.

import { Netcall, NetcallEvent } from '../../../static/netcall/netcall.js';

const nc = new Netcall({ account: 'alice', token: 'token' });

/** @type {(string | null)[]} */
const targets = [];
nc.on('recordStateChange', (e) => targets.push(e.target));
nc.on(NetcallEvent.RECORD_ENDED, (e) => targets.push(e.result?.fileName ?? e.error?.code ?? null));
nc.once('uploadProgress', (e) => targets.push(`${e.sent} of ${e.size}`));
nc.on('remoteTrack', ({ stream }) => targets.push(stream.id));
nc.on('error', (err) => targets.push(err.code));
nc.off('liveState');

// @ts-expect-error joinChannel carries an account, no target
nc.on('joinChannel', (e) => targets.push(e.target));
// @ts-expect-error no such event
nc.on('recordStateChanged', () => {});
// @ts-expect-error a recordStateChange's target is a string or null, never a number
nc.on('recordStateChange', (/** @type {{target: number}} */ e) => e.target);
