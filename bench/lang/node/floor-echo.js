#!/usr/bin/env node
// bench floor-echo (Node.js): the least a Node plugin's call can cost. The
// wire of bench-floor-server (bench/floor_wire.hpp): a 4-byte little-endian
// length and that many bytes, echoed back in one write. Usage:
// floor-echo unix PATH; prints PATH, serves until stdin reaches end of file.
'use strict';
const fs = require('fs');
const net = require('net');

if (process.argv.length !== 4 || process.argv[2] !== 'unix') {
  process.stderr.write('usage: floor-echo unix PATH\n');
  process.exit(2);
}
const path = process.argv[3];
try { fs.unlinkSync(path); } catch (e) { if (e.code !== 'ENOENT') throw e; }

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let chunks = [];
  let have = 0;
  socket.on('data', (chunk) => {
    chunks.push(chunk);
    have += chunk.length;
    while (have >= 4) {
      const head = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      chunks = [head];
      const want = 4 + head.readUInt32LE(0);
      if (have < want) return;
      socket.write(head.subarray(0, want));
      const rest = head.subarray(want);
      chunks = rest.length ? [rest] : [];
      have = rest.length;
    }
  });
  socket.on('error', () => socket.destroy());
});
server.listen(path, () => process.stdout.write(path + '\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
