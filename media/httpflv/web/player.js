// camnode's local player. It reads the HTTP-FLV stream with fetch(), splits it into FLV
// tags, and plays it one of two ways:
//  - WebCodecs (a secure context: https or localhost): VideoDecoder draws each picture to a
//    canvas as soon as it is decoded, AudioDecoder feeds an AudioContext. The lowest latency.
//  - Media Source Extensions (plain http from another machine, where WebCodecs does not
//    exist): the page remuxes the FLV into fragmented MP4 (one SourceBuffer for the
//    H.264, one for the AAC) and plays it in a <video>, kept at the live edge.
// Either way it shows the chat that camnode carries in SEI user_data_unregistered messages
// as Bilibili-style danmaku over the picture, each with the picture that carried it.
// No framework and no build step: this file is served as it is.
//
// For tests and curious users the page keeps its counters on window.camnode and on the
// DOM: #frames[data-count] (pictures shown), body[data-path] (webcodecs or mse), and each
// danmaku on screen is a .dm element of #danmaku with data-text, data-mode, data-id,
// data-frame-ts and data-shown-at. ?mse=1 in the URL plays through MSE where WebCodecs exists.
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
    path: '', // 'webcodecs' or 'mse'
    width: 0, height: 0, // of the picture
    fps: 0, // pictures shown in the last second
    delay: 0, // ms from a picture's bytes read to it shown, the latest
    buffered: 0, // MSE: seconds of picture buffered ahead of the one shown
    jumps: 0, // MSE: jumps to the live edge
    audioFrames: 0, // AAC frames decoded (WebCodecs) or appended (MSE)
    burntIn: false, // the chat is burnt into the picture: SEI danmaku are not drawn
    notDrawn: 0, // SEI danmaku not drawn because they are burnt in
    // onPicture(source, timestampUs), when set, is called as each picture is shown, with
    // the canvas or video element that shows it (for measurements of latency).
    onPicture: null,
    // MSE: the last initialisation segment of each track ({video, audio}), and tap(kind,
    // bytes, key), when set, gets each media segment as it is appended (for tests).
    mp4Init: {},
    tap: null,
    // Streams started again: after 10 s without bytes, or at once when a frozen or hidden
    // tab comes back to a response that stopped.
    restarts: { stalled: 0, resumed: 0 },
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
      this.flags = 0; // the FLV header's: 4 audio, 1 video
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
        this.flags = b[4];
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
    if (state.burntIn) {
      // camnode burns the chat into the picture already: drawing it again would show it twice.
      state.notDrawn++;
      return null;
    }
    if (layer.hidden) return null; // danmaku off (d)
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
      arrivedAt: d.arrivedAt, pictureAt: d.since, shownAt: t, drawnAt: 0, shownWith: state.frameTs };
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

  // queue shows the chat a picture carried (or would have, had it been shown).
  function queue(msgs, frameTs, arrivedAt) {
    for (const m of msgs) {
      const d = show(m, frameTs, arrivedAt);
      if (d) waiting.push(d);
    }
    startWaiting();
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

  // ---------------------------------------------------------------- pictures and chat
  // The chat each picture carried, by its presentation timestamp (µs), until that picture
  // is shown: {msgs, at (ms since 1970: its bytes read)}.
  const carried = new Map();
  // When each picture's bytes were read, by presentation timestamp (µs), for state.delay.
  const arrivals = new Map();
  let fpsCount = 0;

  function carry(ts, chat, at) {
    arrivals.set(ts, at);
    if (arrivals.size > 300) arrivals.delete(arrivals.keys().next().value);
    if (chat.length === 0) return;
    const c = carried.get(ts) || { msgs: [], at };
    c.msgs.push(...chat);
    carried.set(ts, c);
    // Pictures that are never shown must not keep their chat forever.
    if (carried.size > 300) carried.delete(carried.keys().next().value);
  }

  // pictureShown is called as the picture of timestamp ts (µs) is shown by source (the
  // canvas, or the video element): its chat, and that of any picture before it that was
  // not shown, goes on screen now.
  function pictureShown(ts, source) {
    state.frames++;
    fpsCount++;
    state.frameTs = ts;
    const frames = $('frames');
    frames.dataset.count = state.frames;
    frames.textContent = state.frames;
    if (state.state !== 'live') setState('live', '');
    const at = arrivals.get(ts);
    if (at !== undefined) state.delay = now() - at;
    for (const [t, c] of carried) {
      if (t > ts) continue; // with B-frames, a later picture
      carried.delete(t);
      queue(c.msgs, t, c.at);
    }
    for (const t of arrivals.keys()) {
      if (t > ts) break;
      arrivals.delete(t);
    }
    if (state.onPicture) {
      try {
        state.onPicture(source, ts);
      } catch (err) {
        noteError('onPicture', err);
      }
    }
  }

  function resetPictures() {
    carried.clear();
    arrivals.clear();
  }

  // The stage takes the picture's aspect, so that a portrait stream stands upright.
  function setSize(w, h) {
    if (!(w > 0 && h > 0) || (w === state.width && h === state.height)) return;
    state.width = w;
    state.height = h;
    $('stage').style.setProperty('--ar', (w / h).toFixed(4));
    lanes = []; // the lanes follow the new height
  }

  // ---------------------------------------------------------------- H.264 parameters
  // A reader of the bits of an RBSP, with Exp-Golomb codes (H.264 9.1).
  class Bits {
    constructor(b) {
      this.b = b;
      this.p = 0;
    }
    u(n) {
      let v = 0;
      for (let i = 0; i < n; i++) {
        if (this.p >> 3 >= this.b.length) throw new Error('SPS too short');
        v = v * 2 + ((this.b[this.p >> 3] >> (7 - (this.p & 7))) & 1);
        this.p++;
      }
      return v;
    }
    ue() {
      let zeros = 0;
      while (this.u(1) === 0) if (++zeros > 31) throw new Error('SPS: bad Exp-Golomb code');
      return 2 ** zeros - 1 + this.u(zeros);
    }
    se() {
      const k = this.ue();
      return k & 1 ? (k + 1) / 2 : -k / 2;
    }
  }

  // spsSize returns the picture size an SPS NAL unit (header byte first) states, cropped.
  function spsSize(nal) {
    const r = new Bits(removeEmulationPrevention(nal.subarray(1)));
    const profile = r.u(8);
    r.u(16);
    r.ue();
    let chroma = 1;
    let separate = 0;
    if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
      chroma = r.ue();
      if (chroma === 3) separate = r.u(1);
      r.ue();
      r.ue();
      r.u(1);
      if (r.u(1)) {
        for (let i = 0; i < (chroma !== 3 ? 8 : 12); i++) {
          if (!r.u(1)) continue;
          let last = 8;
          let next = 8;
          for (let j = 0; j < (i < 6 ? 16 : 64); j++) {
            if (next !== 0) next = (last + r.se() + 256) % 256;
            if (next !== 0) last = next;
          }
        }
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const poc = r.ue();
    if (poc === 0) r.ue();
    else if (poc === 1) {
      r.u(1);
      r.se();
      r.se();
      for (let n = r.ue(); n > 0; n--) r.se();
    }
    r.ue(); // max_num_ref_frames
    r.u(1);
    const wMbs = r.ue() + 1;
    const hUnits = r.ue() + 1;
    const frameMbsOnly = r.u(1);
    if (!frameMbsOnly) r.u(1);
    r.u(1);
    let [left, right, top, bottom] = [0, 0, 0, 0];
    if (r.u(1)) [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
    const mono = chroma === 0 || separate;
    const cropX = mono ? 1 : chroma === 3 ? 1 : 2;
    const cropY = (mono ? 1 : chroma === 1 ? 2 : 1) * (2 - frameMbsOnly);
    const width = wMbs * 16 - (left + right) * cropX;
    const height = (2 - frameMbsOnly) * hUnits * 16 - (top + bottom) * cropY;
    if (!(width > 0 && height > 0 && width <= 16384 && height <= 16384)) throw new Error('SPS: picture size ' + width + 'x' + height);
    return { width, height };
  }

  // avcInfo reads an AVCDecoderConfigurationRecord: the codec string, NAL length size and
  // the picture size of its first SPS.
  function avcInfo(rec) {
    if (rec.length < 7 || rec[0] !== 1) throw new Error('bad AVCDecoderConfigurationRecord');
    const hex2 = (v) => v.toString(16).padStart(2, '0');
    const info = { codec: 'avc1.' + hex2(rec[1]) + hex2(rec[2]) + hex2(rec[3]), lengthSize: (rec[4] & 3) + 1, width: 0, height: 0 };
    if ((rec[5] & 0x1f) > 0 && rec.length >= 8) {
      const n = (rec[6] << 8) | rec[7];
      if (8 + n <= rec.length && n > 0) {
        try {
          Object.assign(info, spsSize(rec.subarray(8, 8 + n)));
        } catch (err) {
          noteError('SPS', err);
        }
      }
    }
    return info;
  }

  // ascInfo reads an AAC AudioSpecificConfig: object type, sample rate and channels.
  function ascInfo(asc) {
    if (asc.length < 2) throw new Error('bad AudioSpecificConfig');
    const RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
    const type = asc[0] >> 3;
    const index = ((asc[0] & 7) << 1) | (asc[1] >> 7);
    const channels = (asc[1] >> 3) & 15;
    const rate = RATES[index];
    if (type === 0 || type === 31 || !rate || channels === 0 || channels > 2) throw new Error('AudioSpecificConfig not played: type ' + type + ', rate index ' + index + ', channels ' + channels);
    return { codec: 'mp4a.40.' + type, rate, channels };
  }

  function sameBytes(a, b) {
    return a && b && a.length === b.length && a.every((v, i) => v === b[i]);
  }

  // ---------------------------------------------------------------- fragmented MP4
  // The boxes of ISO/IEC 14496-12 that MSE needs: an initialisation segment per track
  // (ftyp, moov with one trak and mvex) and a media segment per group of samples (moof
  // with one traf, mdat).
  const MP4 = (() => {
    const fourcc = (s) => [s.charCodeAt(0), s.charCodeAt(1), s.charCodeAt(2), s.charCodeAt(3)];
    const u16 = (v) => [(v >> 8) & 255, v & 255];
    const u32 = (v) => [(v >>> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255];
    const u64 = (v) => [...u32(Math.floor(v / 2 ** 32)), ...u32(v % 2 ** 32)];
    const zeros = (n) => new Array(n).fill(0);
    function box(type, ...parts) {
      let size = 8;
      for (const p of parts) size += p.length;
      const out = new Uint8Array(size);
      out.set(u32(size), 0);
      out.set(fourcc(type), 4);
      let off = 8;
      for (const p of parts) {
        out.set(p, off);
        off += p.length;
      }
      return out;
    }
    const full = (type, version, flags, ...parts) => box(type, [version, ...u32(flags).slice(1)], ...parts);
    const MATRIX = [...u32(0x10000), ...zeros(12), ...u32(0x10000), ...zeros(12), ...u32(0x40000000)];

    // init returns the initialisation segment of one track: t = {id, kind: 'video'|'audio',
    // timescale, width, height, record} or {..., rate, channels, asc}.
    function init(t) {
      const video = t.kind === 'video';
      let entry;
      if (video) {
        entry = box('avc1', zeros(6), u16(1), zeros(16), u16(t.width), u16(t.height), u32(0x480000), u32(0x480000),
          zeros(4), u16(1), zeros(32), u16(0x18), u16(0xffff), box('avcC', t.record));
      } else {
        const dsi = [5, t.asc.length, ...t.asc];
        const dcd = [4, 13 + dsi.length, 0x40, 0x15, ...zeros(3), ...zeros(4), ...zeros(4), ...dsi];
        const es = [3, 3 + dcd.length + 3, ...u16(t.id), 0, ...dcd, 6, 1, 2];
        entry = box('mp4a', zeros(6), u16(1), zeros(8), u16(t.channels), u16(16), zeros(4), u32(t.rate * 65536),
          full('esds', 0, 0, es));
      }
      const stbl = box('stbl', full('stsd', 0, 0, u32(1), entry), full('stts', 0, 0, u32(0)), full('stsc', 0, 0, u32(0)),
        full('stsz', 0, 0, u32(0), u32(0)), full('stco', 0, 0, u32(0)));
      const minf = box('minf', video ? full('vmhd', 0, 1, zeros(8)) : full('smhd', 0, 0, zeros(4)),
        box('dinf', full('dref', 0, 0, u32(1), full('url ', 0, 1))), stbl);
      const mdia = box('mdia', full('mdhd', 0, 0, zeros(8), u32(t.timescale), u32(0), u16(0x55c4), u16(0)),
        full('hdlr', 0, 0, u32(0), fourcc(video ? 'vide' : 'soun'), zeros(12), [...fourcc('camn'), 0]), minf);
      const tkhd = full('tkhd', 0, 7, zeros(8), u32(t.id), zeros(4), u32(0), zeros(8), u16(0), u16(0), u16(video ? 0 : 0x100), u16(0),
        MATRIX, u32((t.width || 0) * 65536), u32((t.height || 0) * 65536));
      const mvhd = full('mvhd', 0, 0, zeros(8), u32(1000), u32(0), u32(0x10000), u16(0x100), zeros(10), MATRIX, zeros(24), u32(0xffffffff));
      const mvex = box('mvex', full('trex', 0, 0, u32(t.id), u32(1), u32(0), u32(0), u32(0)));
      return concat([box('ftyp', fourcc('isom'), u32(0x200), fourcc('isom'), fourcc('iso6'), fourcc(video ? 'avc1' : 'mp41')),
        box('moov', mvhd, box('trak', tkhd, mdia), mvex)]);
    }

    // fragment returns a moof and mdat of samples = [{data, duration, cts, key}] of track
    // id, the first decoded at dts (in the track's timescale).
    function fragment(id, seq, dts, samples) {
      const trunSize = 12 + 8 + 16 * samples.length;
      const moofSize = 8 + 16 + 8 + 16 + 20 + trunSize;
      const entries = [];
      let dataSize = 0;
      for (const s of samples) {
        entries.push(...u32(s.duration), ...u32(s.data.length), ...u32(s.key ? 0x02000000 : 0x01010000), ...u32(s.cts | 0));
        dataSize += s.data.length;
      }
      const moof = box('moof', full('mfhd', 0, 0, u32(seq)),
        box('traf', full('tfhd', 0, 0x020000, u32(id)), full('tfdt', 1, 0, u64(dts)),
          full('trun', 1, 0xf01, u32(samples.length), u32(moofSize + 8), entries)));
      if (moof.length !== moofSize) throw new Error('moof size');
      const out = new Uint8Array(moofSize + 8 + dataSize);
      out.set(moof, 0);
      out.set(u32(8 + dataSize), moofSize);
      out.set(fourcc('mdat'), moofSize + 4);
      let off = moofSize + 8;
      for (const s of samples) {
        out.set(s.data, off);
        off += s.data.length;
      }
      return out;
    }
    return { init, fragment };
  })();

  function concat(parts) {
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  state.parsers.spsSize = spsSize;
  state.parsers.avcInfo = avcInfo;
  state.parsers.ascInfo = ascInfo;
  state.parsers.MP4 = MP4;

  // ---------------------------------------------------------------- sound
  // The sound starts muted, as autoplay rules demand; the Unmute button (or m) turns it on
  // within the user's gesture. Both paths end in an AnalyserNode, whose level the page
  // reports (state.audioLevel()).
  const sound = {
    on: false,
    ctx: null, // AudioContext, made at the first unmute
    analyser: null,
    out: null, // where the WebCodecs path's buffers go (the analyser, then the speakers)
    elementSource: null,
    playhead: 0,

    context() {
      if (!this.ctx) {
        const AC = window.AudioContext || window.webkitAudioContext;
        if (!AC) return null;
        this.ctx = new AC({ latencyHint: 'interactive' });
        this.analyser = this.ctx.createAnalyser();
        this.analyser.fftSize = 2048;
        this.analyser.connect(this.ctx.destination);
        this.out = this.analyser;
      }
      return this.ctx;
    },

    set(on) {
      this.on = on;
      const btn = $('sound');
      btn.setAttribute('aria-pressed', String(on));
      btn.textContent = on ? 'Mute' : 'Unmute';
      const video = $('mse');
      if (on) {
        const ctx = this.context();
        if (ctx && ctx.state !== 'running') ctx.resume().catch((err) => noteError('audio', err));
        if (ctx && state.path === 'mse' && !this.elementSource) {
          try {
            this.elementSource = ctx.createMediaElementSource(video);
            this.elementSource.connect(this.analyser);
          } catch (err) {
            noteError('audio', err);
          }
        }
      }
      video.muted = !on;
      if (on && video.src && video.paused) video.play().catch(() => {});
      try {
        localStorage.setItem('camnode.sound', on ? '1' : '0');
      } catch (err) {
        // storage may be off
      }
    },

    // play schedules one decoded AudioData (WebCodecs path) just ahead of the context's
    // clock: late audio is played at once, and audio that runs more than 250 ms ahead
    // starts over, so that the sound stays with the picture.
    play(data) {
      const ctx = this.ctx;
      if (!this.on || !ctx || ctx.state !== 'running') return;
      const buf = ctx.createBuffer(data.numberOfChannels, data.numberOfFrames, data.sampleRate);
      const plane = new Float32Array(data.numberOfFrames);
      for (let c = 0; c < data.numberOfChannels; c++) {
        data.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
        buf.copyToChannel(plane, c);
      }
      const src = ctx.createBufferSource();
      src.buffer = buf;
      src.connect(this.out);
      const t = ctx.currentTime;
      if (this.playhead < t + 0.01 || this.playhead > t + 0.25) this.playhead = t + 0.03;
      src.start(this.playhead);
      this.playhead += buf.duration;
    },

    // level is the RMS of the last 2048 samples that went to the speakers, 0 when muted.
    level() {
      if (!this.analyser) return 0;
      const d = new Float32Array(this.analyser.fftSize);
      this.analyser.getFloatTimeDomainData(d);
      let sum = 0;
      for (const v of d) sum += v * v;
      return Math.sqrt(sum / d.length);
    },
  };
  state.audioLevel = () => sound.level();

  // ---------------------------------------------------------------- WebCodecs path
  // Each picture is decoded and drawn on the canvas as soon as its bytes are read.
  class WebCodecsSink {
    constructor() {
      this.decoder = null;
      this.info = null;
      this.record = null;
      this.waitKey = true;
      this.audio = null;
      this.asc = null;
      this.error = null;
    }

    videoConfig(rec) {
      if (sameBytes(this.record, rec)) return;
      const info = avcInfo(rec);
      this.record = rec.slice();
      this.info = info;
      if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
      this.decoder = new VideoDecoder({ output: (f) => this.draw(f), error: (err) => noteError('decoder', err) });
      this.decoder.configure({ codec: info.codec, description: this.record, optimizeForLatency: true });
      state.codec = info.codec;
      this.waitKey = true;
    }

    draw(frame) {
      try {
        if (canvas.width !== frame.displayWidth || canvas.height !== frame.displayHeight) {
          canvas.width = frame.displayWidth;
          canvas.height = frame.displayHeight;
        }
        setSize(frame.displayWidth, frame.displayHeight);
        picture.drawImage(frame, 0, 0);
        pictureShown(frame.timestamp, canvas);
      } finally {
        frame.close();
      }
    }

    video(ts, cts, key, data, chat, at) {
      const d = this.decoder;
      if (!d || d.state !== 'configured') return;
      const timestamp = (ts + cts) * 1000;
      // A browser that cannot keep up skips to the next keyframe rather than lag.
      if (d.decodeQueueSize > 30) this.waitKey = true;
      if (this.waitKey && !key) {
        // The picture is not shown; its chat is, now, rather than a GOP later.
        queue(chat, timestamp, at);
        return;
      }
      carry(timestamp, chat, at);
      this.waitKey = false;
      d.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp, data }));
    }

    audioConfig(asc) {
      if (sameBytes(this.asc, asc) || typeof AudioDecoder === 'undefined') return;
      const info = ascInfo(asc);
      this.asc = asc.slice();
      if (this.audio && this.audio.state !== 'closed') this.audio.close();
      this.audio = new AudioDecoder({
        output: (data) => {
          state.audioFrames++;
          try {
            sound.play(data);
          } finally {
            data.close();
          }
        },
        error: (err) => noteError('audio decoder', err),
      });
      this.audio.configure({ codec: info.codec, sampleRate: info.rate, numberOfChannels: info.channels, description: this.asc });
      state.audioCodec = info.codec;
    }

    audioFrame(ts, data) {
      const d = this.audio;
      if (!d || d.state !== 'configured' || d.decodeQueueSize > 20) return;
      d.decode(new EncodedAudioChunk({ type: 'key', timestamp: ts * 1000, data }));
    }

    close() {
      for (const d of [this.decoder, this.audio]) if (d && d.state !== 'closed') d.close();
      this.decoder = this.audio = null;
    }
  }

  // ---------------------------------------------------------------- MSE path
  // The FLV is remuxed into fragmented MP4: one fragment per picture (held until the next
  // comes, which gives its exact duration: a gap between pictures would make MSE drop
  // everything up to the next keyframe), one per few AAC frames. The <video> is kept at
  // the live edge by its playback rate, or a jump when too far behind.
  const VIDEO_SCALE = 90000;
  const LIVE = { target: 0.08, fast: 0.25, jump: 1.0 }; // seconds behind the buffered end

  class MSESink {
    constructor(hasAudio) {
      this.el = $('mse');
      this.hasAudio = hasAudio;
      this.ms = null;
      this.tracks = {}; // video, audio: {sb, queue: [], init}
      this.vinfo = null;
      this.record = null;
      this.asc = null;
      this.ainfo = null;
      this.held = null; // the last picture, until the next gives its duration
      this.seq = 1;
      this.early = []; // pictures before the MediaSource opened
      this.error = null;
      this.started = 0; // when the first picture came (ms since 1970)
      this.audioNext = -1; // the next AAC frame's decode time (samples)
      this.audioBatch = [];
      this.lastProgress = { time: -1, at: 0 };
      this.timer = setInterval(() => this.chase(), 200);
      this.onVisible = () => {
        if (document.visibilityState === 'visible') this.chase(true);
      };
      document.addEventListener('visibilitychange', this.onVisible);
      this.frameCallback = (nowTs, meta) => {
        if (this.closed) return;
        pictureShown(Math.round(meta.mediaTime * 1e6), this.el);
        this.el.requestVideoFrameCallback(this.frameCallback);
      };
      this.onError = () => this.fail(new Error('video element: ' + (this.el.error ? this.el.error.message || this.el.error.code : 'error')));
      this.el.addEventListener('error', this.onError);
      this.onResize = () => setSize(this.el.videoWidth, this.el.videoHeight);
      this.el.addEventListener('resize', this.onResize);
    }

    fail(err) {
      if (!this.error) this.error = err;
    }

    videoConfig(rec) {
      if (sameBytes(this.record, rec)) return;
      const info = avcInfo(rec);
      this.record = rec.slice();
      this.vinfo = info;
      state.codec = info.codec;
      setSize(info.width, info.height);
      const init = MP4.init({ id: 1, kind: 'video', timescale: VIDEO_SCALE, width: info.width, height: info.height, record: this.record });
      state.mp4Init.video = init;
      const t = this.tracks.video;
      if (t) {
        // New parameters in mid-stream: a new initialisation segment, at a keyframe.
        this.flushHeld();
        if (t.sb && t.codec !== info.codec && t.sb.changeType) t.sb.changeType('video/mp4; codecs="' + info.codec + '"');
        t.codec = info.codec;
        this.append('video', init);
      } else {
        this.videoInit = init;
      }
    }

    audioConfig(asc) {
      if (sameBytes(this.asc, asc)) return;
      const info = ascInfo(asc);
      this.asc = asc.slice();
      this.ainfo = info;
      state.audioCodec = info.codec;
      const init = MP4.init({ id: 2, kind: 'audio', timescale: info.rate, rate: info.rate, channels: info.channels, asc: this.asc });
      state.mp4Init.audio = init;
      if (this.tracks.audio) {
        this.flushAudio();
        this.audioNext = -1;
        this.append('audio', init);
      } else {
        this.audioInit = init;
      }
    }

    // open makes the MediaSource once the tracks are known: the video's configuration and
    // a keyframe, and the audio's when the FLV header announces audio (for up to a second
    // of pictures: a stream that announces audio and sends none still plays).
    maybeOpen() {
      if (this.ms || !this.videoInit || this.early.length === 0) return;
      if (this.hasAudio && !this.audioInit && now() - this.started < 1000) return;
      if (!this.audioInit) this.hasAudio = false;
      const ms = new MediaSourceType();
      this.ms = ms;
      if (!window.MediaSource) this.el.disableRemotePlayback = true;
      this.url = URL.createObjectURL(ms);
      ms.addEventListener('sourceopen', () => {
        try {
          ms.duration = Infinity;
          const add = (kind, codec, init) => {
            const sb = ms.addSourceBuffer((kind === 'video' ? 'video' : 'audio') + '/mp4; codecs="' + codec + '"');
            const t = { sb, queue: [init], codec };
            this.tracks[kind] = t;
            sb.addEventListener('updateend', () => this.pump(kind));
            sb.addEventListener('error', () => this.fail(new Error(kind + ' SourceBuffer error')));
          };
          add('video', this.vinfo.codec, this.videoInit);
          if (this.hasAudio) add('audio', this.ainfo.codec, this.audioInit);
          const early = this.early;
          this.early = [];
          for (const p of early) this.picture(p);
          this.pump('video');
          if (this.hasAudio) this.pump('audio');
        } catch (err) {
          this.fail(err);
        }
      }, { once: true });
      this.el.src = this.url;
      this.el.muted = !sound.on;
      if (this.el.requestVideoFrameCallback) {
        this.el.requestVideoFrameCallback(this.frameCallback);
      } else {
        // Without requestVideoFrameCallback: the picture shown is the one at currentTime,
        // looked at every animation frame.
        let last = -1;
        const look = () => {
          if (this.closed) return;
          const t = this.el.currentTime;
          if (t !== last && this.el.readyState >= 2) {
            last = t;
            pictureShown(Math.round(t * 1e6), this.el);
          }
          requestAnimationFrame(look);
        };
        requestAnimationFrame(look);
      }
      this.el.play().catch(() => {}); // plays once data comes
    }

    video(ts, cts, key, data, chat, at) {
      if (!this.vinfo) return;
      const pts = (ts + cts) * 1000;
      if (!this.started) {
        if (!key) {
          queue(chat, pts, at);
          return;
        }
        this.started = now();
      }
      carry(pts, chat, at);
      const p = { ts, cts, key, data: data.slice() };
      if (!this.ms || this.early.length > 0) {
        this.early.push(p);
        if (this.early.length > 300) this.fail(new Error('MediaSource did not open'));
        this.maybeOpen();
        return;
      }
      this.picture(p);
    }

    // picture appends the held picture, with the time to p as its duration, and holds p.
    picture(p) {
      const h = this.held;
      this.held = p;
      if (!h) return;
      let duration = Math.round((p.ts - h.ts) * VIDEO_SCALE / 1000);
      if (duration <= 0 || duration > VIDEO_SCALE) duration = Math.round(VIDEO_SCALE / 30);
      this.appendPicture(h, duration);
    }

    appendPicture(h, duration) {
      const frag = MP4.fragment(1, this.seq++, Math.round(h.ts * VIDEO_SCALE / 1000),
        [{ data: h.data, duration, cts: Math.round(h.cts * VIDEO_SCALE / 1000), key: h.key }]);
      if (state.tap) state.tap('video', frag, h.key);
      this.append('video', frag);
    }

    flushHeld() {
      if (this.held) this.appendPicture(this.held, Math.round(VIDEO_SCALE / 30));
      this.held = null;
    }

    audioFrame(ts, data) {
      if (!this.hasAudio || !this.ainfo) return;
      const rate = this.ainfo.rate;
      if (!this.tracks.audio) return; // before the MediaSource opened: no picture yet either
      const at = Math.round(ts * rate / 1000);
      // Counted in samples, resynced when the stream's time runs off by more than 100 ms.
      if (this.audioNext < 0 || Math.abs(at - this.audioNext) > rate / 10) {
        this.flushAudio();
        this.audioNext = at;
        this.audioStart = at;
      }
      this.audioBatch.push({ data: data.slice(), duration: 1024, cts: 0, key: true });
      this.audioNext += 1024;
      state.audioFrames++;
      // AAC frames come every 21 ms: two per fragment halves the appends and adds 21 ms.
      if (this.audioBatch.length >= 2) this.flushAudio();
    }

    flushAudio() {
      if (this.audioBatch.length === 0) return;
      const frag = MP4.fragment(2, this.seq++, this.audioStart, this.audioBatch);
      if (state.tap) state.tap('audio', frag, true);
      this.append('audio', frag);
      this.audioStart += 1024 * this.audioBatch.length;
      this.audioBatch = [];
    }

    append(kind, bytes) {
      const t = this.tracks[kind];
      if (!t) return;
      t.queue.push(bytes);
      this.pump(kind);
    }

    pump(kind) {
      const t = this.tracks[kind];
      if (!t || t.sb.updating || t.queue.length === 0 || !this.ms || this.ms.readyState !== 'open') return;
      const bytes = t.queue.length === 1 ? t.queue[0] : concat(t.queue);
      t.queue = [];
      try {
        t.sb.appendBuffer(bytes);
      } catch (err) {
        if (err.name === 'QuotaExceededError') {
          this.trim(true);
          t.queue.unshift(bytes);
        } else {
          this.fail(err);
        }
      }
      if (kind === 'video') this.chase();
    }

    // trim removes what lies more than 10 s behind the picture shown (all of it but the
    // last 2 s when the browser's quota is reached).
    trim(hard) {
      const keep = hard ? 2 : 10;
      const cut = this.el.currentTime - keep;
      for (const t of Object.values(this.tracks)) {
        const b = t.sb.buffered;
        if (t.sb.updating || b.length === 0 || b.start(0) > cut - (hard ? 0 : 5)) continue;
        try {
          t.sb.remove(0, cut);
        } catch (err) {
          noteError('trim', err);
        }
      }
    }

    // chase keeps the picture shown LIVE.target behind the newest: faster playback while
    // up to LIVE.jump behind, a jump beyond, or after a stall or a hidden tab.
    chase(jumpNow) {
      const el = this.el;
      const b = el.buffered;
      if (!this.ms || b.length === 0) return;
      const end = b.end(b.length - 1);
      const start = b.start(b.length - 1);
      const lag = end - el.currentTime;
      state.buffered = lag;
      const t = now();
      if (el.currentTime !== this.lastProgress.time) this.lastProgress = { time: el.currentTime, at: t };
      const stalled = t - this.lastProgress.at > 1500 && lag > LIVE.fast;
      if (jumpNow || stalled || lag > LIVE.jump || el.currentTime < start) {
        if (lag > LIVE.target) {
          el.currentTime = Math.max(start, end - LIVE.target);
          state.jumps++;
          this.lastProgress = { time: el.currentTime, at: t };
        }
        el.playbackRate = 1;
      } else if (lag > LIVE.fast) {
        el.playbackRate = 1.25;
      } else if (lag > LIVE.target + 0.05) {
        el.playbackRate = 1.1;
      } else {
        el.playbackRate = 1;
      }
      if (el.paused && !el.ended) el.play().catch(() => {});
      if (t - (this.trimmed || 0) > 5000) {
        this.trimmed = t;
        this.trim(false);
      }
    }

    close() {
      this.closed = true;
      clearInterval(this.timer);
      document.removeEventListener('visibilitychange', this.onVisible);
      this.el.removeEventListener('error', this.onError);
      this.el.removeEventListener('resize', this.onResize);
      if (this.ms && this.ms.readyState === 'open') {
        try {
          this.ms.endOfStream();
        } catch (err) {
          // already ended
        }
      }
      this.el.removeAttribute('src');
      this.el.load();
      if (this.url) URL.revokeObjectURL(this.url);
    }
  }

  // ---------------------------------------------------------------- the stream
  const forceMSE = new URLSearchParams(location.search).get('mse') === '1';
  const webcodecs = typeof VideoDecoder !== 'undefined' && !forceMSE;
  // An iPhone has no MediaSource, only ManagedMediaSource (Safari 17.1+), which wants
  // remote playback off or an AirPlay alternative (not tested here: no Safari).
  const MediaSourceType = window.MediaSource || window.ManagedMediaSource;
  const mse = !!MediaSourceType && MediaSourceType.isTypeSupported('video/mp4; codecs="avc1.42e01e"');
  state.path = webcodecs ? 'webcodecs' : mse ? 'mse' : '';
  document.body.dataset.path = state.path;
  state.secure = window.isSecureContext;

  // onTag hands one FLV tag to sink: video (9) as the decoder configuration or a picture
  // (frame type, AVC, packet type, composition time s24 in ms, data), audio (8) as the
  // AudioSpecificConfig or an AAC frame (sound format 10, packet type, data). Script data
  // (18: onMetaData, onTextData) is not needed: the chat comes in the pictures.
  function onTag(sink, type, ts, body) {
    if (type === 9) {
      if (body.length < 5 || (body[0] & 0x0f) !== 7) return;
      const key = body[0] >> 4 === 1;
      const cts = ((body[2] << 24) | (body[3] << 16) | (body[4] << 8)) >> 8;
      const data = body.subarray(5);
      if (body[1] === 0) {
        sink.videoConfig(data);
        lengthSize = avcInfo(data).lengthSize;
      } else if (body[1] === 1) {
        sink.video(ts, cts, key, data, avccChat(data, lengthSize), now());
      }
    } else if (type === 8) {
      if (body.length < 3 || body[0] >> 4 !== 10) return;
      if (body[1] === 0) sink.audioConfig(body.subarray(2));
      else if (body[1] === 1) sink.audioFrame(ts, body.subarray(2));
    }
  }
  let lengthSize = 4;

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // play reads one HTTP-FLV response until it ends, stalls for 10 s, or the sink fails.
  async function play() {
    const abort = new AbortController();
    const resp = await fetch('live.flv' + query, { cache: 'no-store', signal: abort.signal });
    if (!resp.ok) throw new Error('live.flv: HTTP ' + resp.status);
    const reader = resp.body.getReader();
    let sink = null;
    const demuxer = new FLVDemuxer((type, ts, body) => {
      if (!sink) sink = webcodecs ? new WebCodecsSink() : new MSESink((demuxer.flags & 4) !== 0);
      try {
        onTag(sink, type, ts, body);
      } catch (err) {
        if (sink instanceof MSESink) sink.fail(err);
        else noteError('stream', err);
      }
    });
    const stalled = () => {
      state.restarts.stalled++;
      abort.abort();
    };
    let watchdog = setTimeout(stalled, 10000);
    // A tab that was frozen or hidden (a phone's browser in the background) may come back
    // to a response that no longer flows: start again at once rather than after the 10 s.
    let lastRead = now();
    const stale = () => {
      if (now() - lastRead <= 2000) return;
      state.restarts.resumed++;
      abort.abort();
    };
    const visible = () => {
      if (document.visibilityState === 'visible') stale();
    };
    document.addEventListener('resume', stale);
    document.addEventListener('visibilitychange', visible);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        lastRead = now();
        clearTimeout(watchdog);
        watchdog = setTimeout(stalled, 10000);
        demuxer.push(value);
        if (sink && sink.error) throw sink.error;
      }
    } finally {
      clearTimeout(watchdog);
      document.removeEventListener('resume', stale);
      document.removeEventListener('visibilitychange', visible);
      abort.abort();
      if (sink) sink.close();
    }
  }

  // live asks the server whether the stream is live, and whether the chat is burnt in.
  async function live() {
    try {
      const resp = await fetch('status' + query, { cache: 'no-store' });
      if (resp.status === 401) {
        setState('unauthorized', 'This player needs its token: open it as /?token=…');
        return false;
      }
      if (!resp.ok) return false;
      const st = await resp.json();
      state.burntIn = st.chatBurntIn === true;
      return st.live === true;
    } catch (err) {
      return false;
    }
  }

  async function run() {
    if (!state.path) {
      setState('unsupported', 'This browser can play neither through WebCodecs nor through Media Source Extensions with H.264.');
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
        if (err.name !== 'AbortError') noteError('stream', err);
      }
      resetPictures();
      clearDanmaku();
      setState('offline', 'The stream is not live. Retrying…');
      await sleep(500);
    }
  }

  // ---------------------------------------------------------------- controls
  const stage = $('stage');
  let hideTimer = 0;
  function showControls() {
    document.body.dataset.controls = 'shown';
    clearTimeout(hideTimer);
    hideTimer = setTimeout(() => {
      document.body.dataset.controls = 'hidden';
    }, 3000);
  }
  showControls();
  stage.addEventListener('pointermove', showControls);
  stage.addEventListener('pointerdown', showControls);
  $('controls').addEventListener('focusin', showControls);

  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else if (stage.requestFullscreen) stage.requestFullscreen().catch((err) => noteError('full screen', err));
    else if ($('mse').webkitEnterFullscreen && state.path === 'mse') $('mse').webkitEnterFullscreen(); // iPhone
  }

  function setDanmaku(on) {
    layer.hidden = !on;
    $('dm').setAttribute('aria-pressed', String(on));
    try {
      localStorage.setItem('camnode.danmaku', on ? '1' : '0');
    } catch (err) {
      // storage may be off
    }
  }

  function setOpacity(v) {
    const o = Math.min(1, Math.max(0.1, Number(v) || 1));
    layer.style.opacity = String(o);
    $('opacity').value = String(o);
    try {
      localStorage.setItem('camnode.opacity', String(o));
    } catch (err) {
      // storage may be off
    }
  }

  $('sound').addEventListener('click', () => sound.set(!sound.on));
  $('dm').addEventListener('click', () => setDanmaku(layer.hidden));
  $('opacity').addEventListener('input', (e) => setOpacity(e.target.value));
  $('full').addEventListener('click', toggleFullscreen);
  stage.addEventListener('dblclick', (e) => {
    if (!$('controls').contains(e.target)) toggleFullscreen();
  });
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || (e.target && e.target.tagName === 'INPUT' && e.target.type !== 'range')) return;
    const k = e.key.toLowerCase();
    if (k === 'f') toggleFullscreen();
    else if (k === 'm') sound.set(!sound.on);
    else if (k === 'd') setDanmaku(layer.hidden);
    else return;
    showControls();
  });
  try {
    if (localStorage.getItem('camnode.danmaku') === '0') setDanmaku(false);
    const o = localStorage.getItem('camnode.opacity');
    if (o) setOpacity(o);
  } catch (err) {
    // storage may be off
  }

  // The status line, once a second: live or not, size, pictures per second, and the delay
  // in the page (bytes read to picture shown; with MSE, plus the buffer at the live edge).
  setInterval(() => {
    state.fps = fpsCount;
    fpsCount = 0;
    let line;
    if (state.state === 'live') {
      line = 'live · ' + state.width + '×' + state.height + ' · ' + state.fps + ' fps · ' + Math.round(state.delay) + ' ms';
      if (state.path === 'mse') line += ' (buffer ' + Math.round(state.buffered * 1000) + ' ms)';
      line += ' · ' + (state.path === 'mse' ? 'MSE' : 'WebCodecs');
      if (state.burntIn) line += ' · chat in the picture';
    } else if (state.state === 'offline' || state.state === 'connecting') {
      line = state.frames > 0 ? 'reconnecting…' : state.state === 'offline' ? 'not live' : 'connecting…';
    } else {
      line = state.state;
    }
    $('line').textContent = line;
    state.line = line;
  }, 1000);

  run();
})();
