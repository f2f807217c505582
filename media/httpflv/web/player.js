// camnode's local player. It reads the HTTP-FLV stream with fetch(), splits it into FLV
// tags, decodes the H.264 with WebCodecs (VideoDecoder), draws each picture to a canvas,
// and shows the chat that camnode carries in SEI user_data_unregistered messages as
// Bilibili-style danmaku over the picture, each with the frame that carried it.
// No framework and no build step: this file is served as it is.
//
// For tests and curious users the page keeps its counters on window.camnode and on the
// DOM: #frames[data-count] (pictures drawn), and each danmaku on screen is a .dm element
// of #danmaku with data-text, data-mode, data-id, data-frame-ts and data-shown-at.
'use strict';
(() => {
  const token = new URLSearchParams(location.search).get('token');
  const query = token ? '?token=' + encodeURIComponent(token) : '';

  // 05254fc5-2ab8-4b62-b88b-cb5b7d5ef5ed: camnode's chat in user_data_unregistered
  // (media/danmaku/sei.CamnodeUUID); the payload after it is the message as JSON.
  const CAMNODE_UUID = [0x05, 0x25, 0x4f, 0xc5, 0x2a, 0xb8, 0x4b, 0x62, 0xb8, 0x8b, 0xcb, 0x5b, 0x7d, 0x5e, 0xf5, 0xed];

  const $ = (id) => document.getElementById(id);
  const canvas = $('video');
  const picture = canvas.getContext('2d');
  const layer = $('danmaku');
  const utf8 = new TextDecoder('utf-8', { fatal: true });

  const state = {
    state: 'connecting',
    frames: 0, // pictures drawn
    frameTs: -1, // timestamp (µs) of the picture on the canvas
    // The last danmaku shown: {text, id, mode, color, lane, frameTs (µs, of the picture that
    // carried it), then in ms since 1970: arrivedAt (that picture's bytes read),
    // pictureAt (that picture drawn, or skipped), shownAt (put in a lane: later when it
    // waited for one), drawnAt (the animation frame after)}.
    shown: [],
    dropped: 0, // danmaku that found no free lane in time
    errors: [], // the last errors, newest last
  };
  window.camnode = state;

  const now = () => performance.timeOrigin + performance.now(); // ms since 1970, sub-ms

  function setState(s, text) {
    state.state = s;
    document.body.dataset.state = s;
    $('status').textContent = text;
  }

  function noteError(what, err) {
    state.errors.push(what + ': ' + (err && err.message ? err.message : String(err)));
    if (state.errors.length > 20) state.errors.shift();
    console.warn('camnode player:', what, err);
  }

  // ---------------------------------------------------------------- FLV demuxer
  // An FLV file: 'F' 'L' 'V' version flags dataOffset(u32) | PreviousTagSize0(u32) |
  // tags, each: type(u8, low 5 bits) size(u24) timestamp(u24) timestampExt(u8)
  // streamID(u24) | body | PreviousTagSize(u32) = 11 + size.
  class FLVDemuxer {
    constructor(onTag) {
      this.onTag = onTag;
      this.buf = new Uint8Array(1 << 16);
      this.len = 0;
      this.headerDone = false;
    }

    push(chunk) {
      if (this.len + chunk.length > this.buf.length) {
        let size = this.buf.length;
        while (size < this.len + chunk.length) size *= 2;
        const grown = new Uint8Array(size);
        grown.set(this.buf.subarray(0, this.len));
        this.buf = grown;
      }
      this.buf.set(chunk, this.len);
      this.len += chunk.length;
      const used = this.parse();
      this.buf.copyWithin(0, used, this.len);
      this.len -= used;
    }

    // parse hands out every complete tag and returns the bytes consumed.
    parse() {
      const b = this.buf;
      let off = 0;
      if (!this.headerDone) {
        if (this.len < 9) return 0;
        if (b[0] !== 0x46 || b[1] !== 0x4c || b[2] !== 0x56) throw new Error('not an FLV stream');
        const dataOffset = ((b[5] << 24) | (b[6] << 16) | (b[7] << 8) | b[8]) >>> 0;
        if (dataOffset < 9 || dataOffset > 1 << 20) throw new Error('FLV data offset ' + dataOffset);
        if (this.len < dataOffset + 4) return 0;
        off = dataOffset + 4;
        this.headerDone = true;
      }
      for (;;) {
        if (this.len - off < 11) return off;
        const type = b[off] & 0x1f;
        const size = (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
        const ts = ((b[off + 7] << 24) | (b[off + 4] << 16) | (b[off + 5] << 8) | b[off + 6]) >>> 0;
        if (this.len - off < 11 + size + 4) return off;
        const end = off + 11 + size;
        const prev = ((b[end] << 24) | (b[end + 1] << 16) | (b[end + 2] << 8) | b[end + 3]) >>> 0;
        if (prev !== 11 + size) throw new Error('FLV PreviousTagSize ' + prev + ', want ' + (11 + size));
        this.onTag(type, ts, b.subarray(off + 11, end));
        off = end + 4;
      }
    }
  }

  // ---------------------------------------------------------------- H.264
  // removeEmulationPrevention drops each 0x03 that follows two zero bytes (H.264 7.4.1).
  function removeEmulationPrevention(src) {
    const out = new Uint8Array(src.length);
    let n = 0;
    let zeros = 0;
    for (let i = 0; i < src.length; i++) {
      const c = src[i];
      if (zeros >= 2 && c === 3) {
        zeros = 0;
        continue;
      }
      zeros = c === 0 ? zeros + 1 : 0;
      out[n++] = c;
    }
    return out.subarray(0, n);
  }

  // seiChat returns the chat messages of camnode's user_data_unregistered payloads in one
  // SEI NAL unit (header byte first): sei_message = payloadType and payloadSize, each as
  // 0xFF bytes plus a last byte, then the payload; rbsp_trailing_bits (0x80) end the unit.
  function seiChat(nal) {
    const rbsp = removeEmulationPrevention(nal.subarray(1));
    const out = [];
    let off = 0;
    const readFF = () => {
      let v = 0;
      for (;;) {
        if (off >= rbsp.length) return -1;
        const c = rbsp[off++];
        v += c;
        if (c !== 0xff) return v;
      }
    };
    while (off < rbsp.length && !(off === rbsp.length - 1 && rbsp[off] === 0x80)) {
      const type = readFF();
      const size = readFF();
      if (type < 0 || size < 0 || off + size > rbsp.length) break;
      const payload = rbsp.subarray(off, off + size);
      off += size;
      if (type !== 5 || size < 16 || !CAMNODE_UUID.every((v, i) => payload[i] === v)) continue;
      try {
        const msg = JSON.parse(utf8.decode(payload.subarray(16)));
        if (msg && typeof msg.text === 'string' && msg.text !== '') out.push(msg);
      } catch (err) {
        noteError('chat message', err);
      }
    }
    return out;
  }

  // avccChat returns the chat in the SEI NAL units of AVCC data: NAL units, each after
  // its length in lengthSize bytes, big-endian.
  function avccChat(data, lengthSize) {
    const chat = [];
    for (let off = 0; off + lengthSize <= data.length;) {
      let n = 0;
      for (let i = 0; i < lengthSize; i++) n = n * 256 + data[off + i];
      off += lengthSize;
      if (off + n > data.length) break;
      if (n > 0 && (data[off] & 0x1f) === 6) chat.push(...seiChat(data.subarray(off, off + n)));
      off += n;
    }
    return chat;
  }

  // The parsers, for tests that feed them damaged streams.
  state.parsers = { FLVDemuxer, seiChat, avccChat };

  // ---------------------------------------------------------------- danmaku
  const FIXED_MS = 4000; // a top or bottom comment stays this long
  const CROSS_MS = 6000; // a scrolling comment crosses the picture's width in this time
  const WAIT_MS = 5000; // a comment waits at most this long for a free lane
  const GAP = 0.5; // space kept behind a scrolling comment, in font sizes
  let lanes = [];
  let waiting = [];

  function geometry() {
    const w = layer.clientWidth || 1;
    const h = layer.clientHeight || 1;
    const font = Math.max(12, Math.round(h / 20)); // about Bilibili's 25 px on a 540p player
    const laneH = Math.round(font * 1.25);
    const count = Math.max(1, Math.floor(h / laneH));
    if (lanes.length !== count) {
      lanes = Array.from({ length: count }, () => ({ enterFree: 0, clearAt: 0, fixedUntil: 0 }));
    }
    return { w, h, font, laneH, speed: w / CROSS_MS };
  }

  // place finds a lane for a comment of width w shown at time t, so that it crosses no
  // other: a scrolling comment enters a lane once the last one there is fully in and no
  // fixed comment shows there (all scroll at one speed, so none catches up); a fixed one
  // takes a lane that no moving comment crosses; reverse ones need a lane of their own.
  function place(mode, w, t, g) {
    const order = mode === 'bottom' ? [...lanes.keys()].reverse() : [...lanes.keys()];
    for (const i of order) {
      const l = lanes[i];
      if (l.fixedUntil > t) continue;
      if (mode === 'top' || mode === 'bottom') {
        if (l.clearAt > t) continue;
        l.fixedUntil = t + FIXED_MS;
        return i;
      }
      const cross = (g.w + w) / g.speed;
      if (mode === 'reverse') {
        if (l.clearAt > t) continue;
        l.clearAt = l.enterFree = t + cross;
        return i;
      }
      if (l.enterFree > t) continue;
      l.enterFree = t + (w + GAP * g.font) / g.speed;
      l.clearAt = Math.max(l.clearAt, t + cross);
      return i;
    }
    return -1;
  }

  const MODES = new Set(['scroll', 'top', 'bottom', 'reverse']);

  function show(msg, frameTs, arrivedAt) {
    const g = geometry();
    const mode = MODES.has(msg.mode) ? msg.mode : 'scroll';
    const color = /^#[0-9a-fA-F]{6}$/.test(msg.color) ? msg.color : '#ffffff';
    const el = document.createElement('div');
    el.className = 'dm';
    el.textContent = msg.text; // text, never markup: chat comes from anyone
    el.style.color = color;
    el.style.fontSize = g.font + 'px';
    el.style.visibility = 'hidden';
    el.dataset.text = msg.text;
    el.dataset.mode = mode;
    el.dataset.color = color.toLowerCase();
    if (typeof msg.id === 'string') el.dataset.id = msg.id;
    if (typeof msg.user === 'string') el.dataset.user = msg.user;
    layer.appendChild(el);
    const w = el.offsetWidth;
    return { el, msg, mode, color, w, frameTs, arrivedAt, since: now() };
  }

  // start puts a measured comment into a lane; false when none is free now.
  function start(d) {
    const g = geometry();
    const t = now();
    const lane = place(d.mode, d.w, t, g);
    if (lane < 0) return false;
    const el = d.el;
    el.style.top = lane * g.laneH + 'px';
    el.dataset.lane = lane;
    el.dataset.frameTs = d.frameTs;
    el.dataset.shownAt = t.toFixed(1);
    if (d.mode === 'top' || d.mode === 'bottom') {
      el.style.transform = 'translateX(' + Math.round((g.w - d.w) / 2) + 'px)';
      setTimeout(() => el.remove(), FIXED_MS);
    } else {
      const from = d.mode === 'reverse' ? -d.w : g.w;
      const to = d.mode === 'reverse' ? g.w : -d.w;
      el.style.transform = 'translateX(' + from + 'px)';
      el.animate([{ transform: 'translateX(' + from + 'px)' }, { transform: 'translateX(' + to + 'px)' }],
        { duration: (g.w + d.w) / g.speed, easing: 'linear' }).onfinish = () => el.remove();
    }
    el.style.visibility = 'visible';
    const entry = { text: d.msg.text, id: d.msg.id, mode: d.mode, color: d.color, lane, frameTs: d.frameTs,
      arrivedAt: d.arrivedAt, pictureAt: d.since, shownAt: t, drawnAt: 0 };
    requestAnimationFrame(() => {
      entry.drawnAt = now();
      el.dataset.drawnAt = entry.drawnAt.toFixed(1);
    });
    state.shown.push(entry);
    if (state.shown.length > 1000) state.shown.shift();
    const shown = $('shown');
    shown.dataset.count = state.shown.length;
    shown.textContent = state.shown.length;
    return true;
  }

  function startWaiting() {
    const t = now();
    waiting = waiting.filter((d) => {
      if (start(d)) return false;
      if (t - d.since < WAIT_MS) return true;
      d.el.remove();
      state.dropped++;
      return false;
    });
  }

  function clearDanmaku() {
    waiting = [];
    lanes = [];
    layer.replaceChildren();
  }

  // ---------------------------------------------------------------- playback
  let decoder = null;
  let record = null; // the AVCDecoderConfigurationRecord the decoder has
  let lengthSize = 4;
  let waitKey = true;
  const carried = new Map(); // chunk timestamp (µs) -> {msgs, at}: chat it carried, when read

  function hex2(v) {
    return v.toString(16).padStart(2, '0');
  }

  function configure(rec) {
    if (rec.length < 7 || rec[0] !== 1) throw new Error('bad AVCDecoderConfigurationRecord');
    if (record && record.length === rec.length && record.every((v, i) => v === rec[i])) return;
    record = rec.slice();
    lengthSize = (rec[4] & 3) + 1;
    // avc1.PPCCLL: profile_idc, the constraint flags and level_idc of the SPS.
    const codec = 'avc1.' + hex2(rec[1]) + hex2(rec[2]) + hex2(rec[3]);
    if (decoder && decoder.state !== 'closed') decoder.close();
    decoder = new VideoDecoder({ output: drawFrame, error: (err) => noteError('decoder', err) });
    decoder.configure({ codec, description: record, optimizeForLatency: true });
    state.codec = codec;
    waitKey = true;
  }

  function drawFrame(frame) {
    try {
      if (canvas.width !== frame.displayWidth || canvas.height !== frame.displayHeight) {
        canvas.width = frame.displayWidth;
        canvas.height = frame.displayHeight;
      }
      picture.drawImage(frame, 0, 0);
      state.frames++;
      state.frameTs = frame.timestamp;
      const frames = $('frames');
      frames.dataset.count = state.frames;
      frames.textContent = state.frames;
      if (state.state !== 'live') setState('live', '');
      // The chat this picture (or a picture before it that was not drawn) carried.
      for (const [ts, c] of carried) {
        if (ts > frame.timestamp) continue; // with B-frames, a later picture
        carried.delete(ts);
        for (const m of c.msgs) waiting.push(show(m, ts, c.at));
      }
      startWaiting();
    } finally {
      frame.close();
    }
  }

  // onVideo handles one FLV video tag body: 0x17|0x27 (frame type, AVC), packet type,
  // composition time (s24, ms), then the decoder configuration or AVCC NAL units.
  function onVideo(ts, body) {
    if (body.length < 5 || (body[0] & 0x0f) !== 7) return;
    const key = body[0] >> 4 === 1;
    const packetType = body[1];
    const cts = ((body[2] << 24) | (body[3] << 16) | (body[4] << 8)) >> 8;
    const data = body.subarray(5);
    if (packetType === 0) {
      configure(data);
      return;
    }
    if (packetType !== 1 || !decoder || decoder.state !== 'configured') return;
    const timestamp = (ts + cts) * 1000;
    const chat = avccChat(data, lengthSize);
    // A browser that cannot keep up skips to the next keyframe rather than lag.
    if (decoder.decodeQueueSize > 30) waitKey = true;
    if (waitKey && !key) {
      // The picture is not shown; its chat is, now, rather than a GOP later.
      const at = now();
      for (const m of chat) waiting.push(show(m, timestamp, at));
      startWaiting();
      return;
    }
    if (chat.length > 0) {
      const c = carried.get(timestamp) || { msgs: [], at: now() };
      c.msgs.push(...chat);
      carried.set(timestamp, c);
      // Pictures that never come out of the decoder must not keep their chat forever.
      if (carried.size > 300) carried.delete(carried.keys().next().value);
    }
    waitKey = false;
    decoder.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp, data }));
  }

  function onTag(type, ts, body) {
    if (type === 9) onVideo(ts, body);
    // Audio (8) and script data (18: onMetaData, onTextData) are not needed here: the
    // chat comes in the pictures.
  }

  function stopDecoder() {
    if (decoder && decoder.state !== 'closed') decoder.close();
    decoder = null;
    record = null;
    carried.clear();
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // play reads one HTTP-FLV response until it ends, or stalls for 10 s.
  async function play() {
    const abort = new AbortController();
    const resp = await fetch('live.flv' + query, { cache: 'no-store', signal: abort.signal });
    if (!resp.ok) throw new Error('live.flv: HTTP ' + resp.status);
    const reader = resp.body.getReader();
    const demuxer = new FLVDemuxer(onTag);
    let watchdog = setTimeout(() => abort.abort(), 10000);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => abort.abort(), 10000);
        demuxer.push(value);
      }
    } finally {
      clearTimeout(watchdog);
    }
  }

  // status asks the server whether the stream is live.
  async function live() {
    try {
      const resp = await fetch('status' + query, { cache: 'no-store' });
      if (resp.status === 401) {
        setState('unauthorized', 'This player needs its token: open it as /?token=…');
        return false;
      }
      return resp.ok && (await resp.json()).live === true;
    } catch (err) {
      return false;
    }
  }

  async function run() {
    if (typeof VideoDecoder === 'undefined') {
      setState('unsupported', 'This browser has no WebCodecs (VideoDecoder): use a recent Chromium, Chrome, Edge, Firefox or Safari.');
      return;
    }
    for (;;) {
      if (!(await live())) {
        if (state.state !== 'unauthorized') setState('offline', 'The stream is not live. Retrying…');
        await sleep(1000);
        continue;
      }
      if (state.state !== 'live') setState('connecting', 'Connecting…');
      try {
        await play();
      } catch (err) {
        noteError('stream', err);
      }
      stopDecoder();
      clearDanmaku();
      setState('offline', 'The stream is not live. Retrying…');
      await sleep(500);
    }
  }

  run();
})();
