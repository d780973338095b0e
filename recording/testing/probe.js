// Injected into every page of an end-to-end test (Playwright add_init_script), before the
// page's own scripts run. Defines window.__e2e:
//   events            every SDK event of window.netcall, recorded from the moment the page
//                     assigns window.netcall (a setter catches the assignment)
//   probe(label, stream)   play the stream in a muted, nearly invisible <video> and measure
//                     the mean RGB of a fresh frame and the dominant audio frequency
//   probeRemote(account)   probe(account, netcall.getRemoteStream(account))
//   probeLocal()      probe('__local', netcall.getLocalStream())
// Remote WebRTC audio is silent in WebAudio unless the stream is also played by a media
// element, hence the <video> even for audio.
(() => {
  if (window.__e2e) return;
  const EVENT_NAMES = [
    'joinChannel', 'leaveChannel', 'remoteTrack', 'memberUpdated',
    'connectionState', 'peerState', 'error', 'recordRecovered',
  ];
  const events = [];
  const probes = new Map();
  let audioCtx = null;
  let netcall;

  function record(name, e) {
    const entry = { name, t: Date.now() };
    if (e && typeof e === 'object') {
      for (const k of ['account', 'reason', 'state', 'code', 'message', 'paused']) {
        const v = e[k];
        if (v !== undefined && (v === null || typeof v !== 'object')) entry[k] = v;
      }
      if (e.media && typeof e.media === 'object') {
        try { entry.media = JSON.parse(JSON.stringify(e.media)); } catch (_) { /* ignore */ }
      }
      if (e.track && typeof e.track.kind === 'string') entry.kind = e.track.kind;
    }
    events.push(entry);
  }

  function hook(nc) {
    if (!nc || typeof nc.on !== 'function') return;
    for (const name of EVENT_NAMES) {
      try {
        nc.on(name, (e) => record(name, e));
      } catch (err) {
        events.push({ name: '__hookError', event: name, message: String(err), t: Date.now() });
      }
    }
  }

  Object.defineProperty(window, 'netcall', {
    configurable: true,
    enumerable: true,
    get() { return netcall; },
    set(value) { netcall = value; hook(value); },
  });

  function streamKey(stream) {
    return stream.id + '|' + stream.getTracks().map((t) => t.id).sort().join(',');
  }

  function release(p) {
    p.closed = true;
    try { p.source && p.source.disconnect(); } catch (_) { /* ignore */ }
    p.video.srcObject = null;
    p.video.remove();
  }

  function setup(label, stream) {
    const key = streamKey(stream);
    let p = probes.get(label);
    if (p && p.key === key) return p;
    if (p) release(p);
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.dataset.e2eProbe = label;
    video.style.cssText =
      'position:fixed;left:0;bottom:0;width:32px;height:24px;opacity:0.01;pointer-events:none;';
    video.srcObject = stream;
    (document.body || document.documentElement).appendChild(video);
    video.play().catch(() => { /* autoplay is allowed by a flag; retried below */ });
    p = { key, video, frames: 0, closed: false, source: null, analyser: null };
    const onFrame = () => {
      if (p.closed) return;
      p.frames += 1;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    if (stream.getAudioTracks().length > 0) {
      audioCtx = audioCtx || new AudioContext();
      p.source = audioCtx.createMediaStreamSource(stream);
      p.analyser = audioCtx.createAnalyser();
      p.analyser.fftSize = 8192;
      p.analyser.smoothingTimeConstant = 0;
      p.source.connect(p.analyser);
    }
    probes.set(label, p);
    return p;
  }

  async function probe(label, stream) {
    if (!stream) return { label, stream: false };
    const p = setup(label, stream);
    const v = p.video;
    if (v.paused) await v.play().catch(() => {});
    const out = {
      label,
      stream: true,
      tracks: stream.getTracks().map((t) => ({
        kind: t.kind, readyState: t.readyState, muted: t.muted, enabled: t.enabled,
      })),
      fresh: false,
      frames: p.frames,
      width: v.videoWidth,
      height: v.videoHeight,
      rgb: null,
      freq: null,
      peakDb: null,
      audioState: audioCtx ? audioCtx.state : null,
    };
    // A frame presented while we wait proves video flows now (an ended track keeps its
    // last frame on screen, with the right colour).
    const start = p.frames;
    const deadline = performance.now() + 1500;
    while (p.frames === start && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    out.fresh = p.frames > start;
    out.frames = p.frames;
    out.width = v.videoWidth;
    out.height = v.videoHeight;
    if (v.videoWidth > 0 && v.readyState >= 2) {
      const canvas = document.createElement('canvas');
      canvas.width = 64;
      canvas.height = 48;
      const g = canvas.getContext('2d', { willReadFrequently: true });
      g.drawImage(v, 0, 0, canvas.width, canvas.height);
      const data = g.getImageData(0, 0, canvas.width, canvas.height).data;
      let r = 0, gr = 0, b = 0;
      const n = data.length / 4;
      for (let i = 0; i < data.length; i += 4) {
        r += data[i]; gr += data[i + 1]; b += data[i + 2];
      }
      out.rgb = [r / n, gr / n, b / n];
    }
    if (p.analyser) {
      if (audioCtx.state !== 'running') await audioCtx.resume().catch(() => {});
      out.audioState = audioCtx.state;
      const bins = new Float32Array(p.analyser.frequencyBinCount);
      p.analyser.getFloatFrequencyData(bins);
      let best = 0;
      let bestDb = -Infinity;
      for (let i = 1; i < bins.length; i++) {
        if (bins[i] > bestDb) { bestDb = bins[i]; best = i; }
      }
      if (best > 0 && Number.isFinite(bestDb)) {
        out.freq = (best * audioCtx.sampleRate) / p.analyser.fftSize;
        out.peakDb = bestDb;
      }
    }
    return out;
  }

  window.__e2e = {
    events,
    probe,
    probeRemote(account) {
      const nc = window.netcall;
      return probe(account, nc ? nc.getRemoteStream(account) : null);
    },
    probeLocal() {
      const nc = window.netcall;
      return probe('__local', nc ? nc.getLocalStream() : null);
    },
  };
})();
