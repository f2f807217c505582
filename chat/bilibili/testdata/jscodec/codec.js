// The packet codec of bilibili-live-ws, for chat/bilibili's tests.
//   node codec.js encode < frames.json   prints one base64 WebSocket message a line
//   node codec.js decode BASE64          prints the packets as JSON
// encode reads [{"wrap": "none"|"zlib"|"brotli", "packets": [{"op": 5, "body": "..."}]}]:
// each packet is built by the library's encoder (header, JSON body), its operation set to
// op; "zlib" and "brotli" compress the packets into one of protocol 2 or 3, as Bilibili's
// server sends them. A body given as "int32:N" is N as 4 big-endian bytes, protocol 1.
'use strict'
const zlib = require('zlib')
const { promisify } = require('util')
const { encoder, makeDecoder } = require('bilibili-live-ws/src/buffer')

function packet (op, body) {
  let buf
  if (typeof body === 'string' && body.startsWith('int32:')) {
    const n = Buffer.alloc(4)
    n.writeInt32BE(Number(body.slice(6)))
    buf = Buffer.concat([encoder('raw', { Buffer }), n])
    buf.writeInt32BE(buf.length, 0)
  } else {
    buf = encoder('raw', { Buffer }, body)
    buf.writeInt16BE(0, 6) // JSON
  }
  buf.writeInt32BE(op, 8)
  return buf
}

function frame ({ wrap, packets }) {
  const inner = Buffer.concat(packets.map(p => packet(p.op, p.body)))
  if (wrap === 'none') return inner
  const body = wrap === 'zlib' ? zlib.deflateSync(inner) : zlib.brotliCompressSync(inner)
  const outer = Buffer.concat([encoder('raw', { Buffer }), body])
  outer.writeInt32BE(outer.length, 0)
  outer.writeInt16BE(wrap === 'zlib' ? 2 : 3, 6)
  outer.writeInt32BE(5, 8)
  return outer
}

async function main () {
  const [mode, arg] = process.argv.slice(2)
  if (mode === 'encode') {
    const frames = JSON.parse(require('fs').readFileSync(0, 'utf8'))
    for (const f of frames) console.log(frame(f).toString('base64'))
    return
  }
  if (mode === 'decode') {
    const decode = makeDecoder({ inflateAsync: promisify(zlib.inflate), brotliDecompressAsync: promisify(zlib.brotliDecompress) })
    const packs = await decode(Buffer.from(arg, 'base64'))
    console.log(JSON.stringify(packs.map(({ buf, type, protocol, data }) => ({
      length: buf.readInt32BE(0),
      headerLength: buf.readInt16BE(4),
      protocol,
      op: buf.readInt32BE(8),
      seq: buf.readInt32BE(12),
      type,
      body: buf.slice(16).toString('utf8'),
      data: data === undefined ? null : data
    }))))
    return
  }
  throw new Error('usage: codec.js encode|decode')
}
main().catch(e => { console.error(e); process.exit(1) })
