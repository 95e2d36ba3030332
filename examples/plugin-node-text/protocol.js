// protocol.js: the wire side of a plugvisor plugin in plain Node.js (v18 or
// later), shared by the Node example plugins: plugin-node-text
// (examples/plugin-node-text/plugin.js), the mock server's
// plugin-node-status and the proxy's plugin-proxy-maintenance. Like them it uses no SDK, no npm package and no code
// from the plugvisor project: it was written from docs/protocol.md alone, to
// show that the document is all a plugin author needs. Read it top to bottom
// as a walkthrough; every part names the section of docs/protocol.md ("§")
// that it implements.
//
//   Part 1  what a plugin hands over: serve() and its options     §4.2, §11
//   Part 2  small helpers: output, logging, exit codes, durations §6, §7, §16, §5.3
//   Part 3  the command line and the launch configuration        §5
//   Part 4  the lock file and the listener                       §15, §6
//   Part 5  HTTP: health, authentication, calls                  §8-§12
//   Part 6  shutdown and the idle timeout                        §13, §14
//
// A plugin file holds only its types and methods, and ends with
//   require(`${__dirname}/.lib/node/protocol.js`).serve({...});
// The build copies this file to DIR/.lib/node/protocol.js in every plugin
// directory DIR it assembles a Node plugin into (discovery skips names that
// start with '.', so .lib is never taken for a plugin).
//
// Node runs JavaScript on one thread, so the "one lock" of §14.2 is free: a
// handler or a timer callback runs to completion before anything else runs,
// which makes every check-then-set below atomic.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');

// ===========================================================================
// Part 1. What a plugin hands over (§4.2, §11)
// ===========================================================================

// serve(options) runs the plugin. The options:
//   plugin       {name, version, description}: the top of the capabilities document (§4.2)
//   id           the plugin id for log lines until the configuration names one (§5.2)
//   help         the --help text (§5.1)
//   types        Map contract -> Map type -> {description, jsonSchema?, ...} (§11)
//   methods      Map contract -> Map method -> {input, output, run(impl, input, {deadline})};
//                input and output are 'none', 'bytes' or 'json' (§10.2, §10.3); a
//                contract includes pluginBase's `ping`
//   configTypes  the config types it declares (§5.2); default: none
//   configSchemas  config type -> JSON Schema of its data, to publish (§4.2); default: none
//   contracts    contract descriptions to publish (§4.2); default: none
//   transports   the `transports` member (§4.2): default ['unix', 'tcp']; null
//                leaves it out, which means the same (both). It serves both
//                whatever this says.
//   applyConfigTypes(configTypes)  gets the launch configuration's [{type, data}];
//                call die(EXIT_USAGE, why) on data it cannot use (§16). Default:
//                a warning for each, as data for a type it does not use.
let options = null;

function serve(pluginOptions) {
  options = pluginOptions;
  pluginId = options.id;
  main(process.argv.slice(2));
}

// §10.6: every error answer carries a code and an HTTP status (the table there).
class CallError extends Error {
  constructor(status, code, message, { close = false } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.close = close; // answer with `Connection: close` (e.g. a 413, §10.5)
  }
}
const invalidInput = (message) => new CallError(400, 'invalid_input', message);

// §4.2: the capabilities document, built from the plugin's tables.
function capabilities() {
  const types = {};
  for (const [contract, impls] of options.types) {
    types[contract] = [...impls].map(([type, impl]) => ({
      type,
      description: impl.description,
      ...(impl.jsonSchema ? { jsonSchema: impl.jsonSchema } : {}),
    }));
  }
  return {
    protocolVersion: 1,
    ...options.plugin,
    types,
    ...(options.configTypes && options.configTypes.length > 0 ? { configTypes: options.configTypes } : {}),
    ...(options.configSchemas ? { configSchemas: options.configSchemas } : {}),
    ...(options.contracts ? { contracts: options.contracts } : {}),
    // It serves both transports (section 5.2): a Unix socket and loopback TCP.
    ...(options.transports === null ? {} : { transports: options.transports || ['unix', 'tcp'] }),
  };
}


// ===========================================================================
// Part 2. Helpers: output, logging, exiting, durations (§6, §7, §16, §5.3)
// ===========================================================================

// Write to a file descriptor synchronously, all of it. We never touch
// process.stdout / process.stderr: for pipes Node turns them into
// asynchronous streams, and a line still sitting in a buffer when the
// process exits would be lost. fs.writeSync is a plain write(2): nothing to
// flush afterwards (§6: "the plugin MUST flush stdout after the line").
function writeAll(fd, text) {
  const bytes = Buffer.from(text);
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += fs.writeSync(fd, bytes, offset);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err; // a non-blocking pipe that is full: retry
    }
  }
}

let pluginId = 'plugin'; // serve() sets the plugin's own; the configured id replaces it (§5.2: "use it in log messages")

// §7: logs go to stderr, one JSON object per line with `level` and `msg`.
// The manager forwards them into its own log at that level, tagged with the
// plugin id; it drops other members, so `plugin` is only for by-hand runs.
function log(level, msg) {
  try {
    writeAll(2, JSON.stringify({ level, msg, plugin: pluginId }) + '\n');
  } catch {
    // stderr is gone (the manager died): nothing useful to do.
  }
}

// §16: 2 = usage or configuration, 3 = cannot bind. Codes 2 and 3 are only
// used before the handshake, and never with anything on stdout.
const EXIT_OK = 0;
const EXIT_ABANDONED = 1;
const EXIT_USAGE = 2;
const EXIT_BIND = 3;
const EXIT_CRASH = 70;

function die(code, msg) {
  log(code === EXIT_USAGE || code === EXIT_BIND ? 'error' : 'critical', msg);
  process.exit(code);
}

// §5.3: duration = "0" / 1*DIGIT unit, unit = ms / s / m / h, number <= 2^40.
// Returns milliseconds, or null when the text is not a duration.
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
function parseDuration(text) {
  const m = /^([0-9]+)(ms|s|m|h)?$/.exec(text);
  if (!m) return null; // fractions, signs, spaces, compound forms ("1m30s")
  if (m[2] === undefined && text !== '0') return null; // a bare number other than "0"
  const n = BigInt(m[1]);
  if (n > 2n ** 40n) return null;
  return Number(n) * UNIT_MS[m[2] || 'ms']; // 2^40 h is past 2^53 ms: precise enough for a timer
}

// A monotonic clock in milliseconds (§14.2 asks for one).
const now = () => performance.now();

// ===========================================================================
// Part 3. Command line and configuration (§5)
// ===========================================================================

function main(args) {
  // §4.1: exactly one argument, `capabilities`. No config, no socket, no stdin.
  if (args.length === 1 && args[0] === 'capabilities') {
    writeAll(1, JSON.stringify(capabilities()) + '\n');
    return; // nothing else is running: Node exits with 0
  }
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
    writeAll(2, options.help);
    return; // §5.1: --help MAY exit 0
  }
  if (args.length === 2 && args[0] === '--config') {
    if (args[1] === '-') readConfigLine(start);
    else start(args[1]); // inline: stdin is still watched for end of file (Part 6)
    return;
  }
  if (args.length === 0 && !process.env.PLUGVISOR_PROTOCOL) {
    // §5.1: someone ran us by hand. Help, exit 2, and never wait for input.
    writeAll(2, options.help);
    process.exit(EXIT_USAGE);
  }
  // Anything else, including no arguments when PLUGVISOR_PROTOCOL is set.
  die(EXIT_USAGE, args.length === 0
    ? 'no arguments: expected capabilities, --config - or --config \'<json>\' (see --help)'
    : `unexpected arguments ${JSON.stringify(args)}; run with --help for the forms this plugin accepts`);
}

// §5.1 `--config -`: the configuration is the first line on stdin. Start as
// soon as the '\n' arrives; do not wait for end of file (the manager keeps
// stdin open: its end means "shut down", Part 6).
function readConfigLine(onLine) {
  const chunks = [];
  let received = 0;
  const onData = (chunk) => {
    const nl = chunk.indexOf(0x0a);
    if (nl < 0) {
      chunks.push(chunk);
      received += chunk.length;
      return;
    }
    chunks.push(chunk.subarray(0, nl)); // bytes after the line are ignored (§13.1)
    process.stdin.off('data', onData);
    process.stdin.off('end', onEnd);
    process.stdin.pause(); // Part 6 resumes it to watch for end of file
    onLine(Buffer.concat(chunks).toString('utf8').replace(/\r$/, ''));
  };
  const onEnd = () =>
    die(EXIT_USAGE, received === 0
      ? 'stdin was closed before the configuration line arrived (expected one JSON line on stdin)'
      : 'stdin ended in the middle of the configuration line (expected a line ending with \\n)');
  process.stdin.on('data', onData);
  process.stdin.on('end', onEnd);
  process.stdin.on('error', (err) => die(EXIT_USAGE, `cannot read the configuration from stdin: ${err.message}`));
}

// §5.2: check every member. Anything wrong: a message on stderr, exit 2,
// nothing on stdout. Unknown members are ignored.
function parseConfig(text) {
  let cfg;
  try {
    cfg = JSON.parse(text);
  } catch (err) {
    die(EXIT_USAGE, `the configuration is not JSON: ${err.message}`);
  }
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) die(EXIT_USAGE, 'the configuration is not a JSON object');
  const bad = (msg) => die(EXIT_USAGE, `invalid configuration: ${msg}`);
  const has = (key) => Object.hasOwn(cfg, key);

  // JSON.parse cannot tell 1 from 1.0; Number.isInteger is as close as we get.
  if (!has('protocolVersion')) bad('protocolVersion is missing');
  if (cfg.protocolVersion !== 1) bad(`protocolVersion ${JSON.stringify(cfg.protocolVersion)} is not supported (this plugin speaks 1)`);
  if (typeof cfg.id !== 'string') bad('id is missing or not a string');
  if (cfg.type !== 'unix' && cfg.type !== 'tcp') bad(`type ${JSON.stringify(cfg.type)} is neither "unix" nor "tcp"`);
  if (typeof cfg.address !== 'string' || cfg.address === '') bad('address is missing, empty or not a string');
  if (typeof cfg.token !== 'string' || cfg.token === '') bad('token is missing, empty or not a string');

  let idleMs = 0; // §5.2: an absent idleTimeout means "0", never idle out
  if (has('idleTimeout')) {
    if (typeof cfg.idleTimeout !== 'string') bad('idleTimeout is not a string');
    idleMs = parseDuration(cfg.idleTimeout);
    if (idleMs === null) bad(`idleTimeout ${JSON.stringify(cfg.idleTimeout)} is not a duration such as "250ms", "10s", "5m" or "0"`);
  }
  let maxBodyBytes = 64 * 1024 * 1024; // §5.2 default: 64 MiB
  if (has('maxBodyBytes')) {
    if (!Number.isInteger(cfg.maxBodyBytes) || cfg.maxBodyBytes <= 0) bad('maxBodyBytes is not an integer > 0');
    maxBodyBytes = cfg.maxBodyBytes;
  }
  let configTypes = [];
  if (has('configTypes')) {
    if (!Array.isArray(cfg.configTypes)) bad('configTypes is not an array');
    for (const entry of cfg.configTypes) {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || typeof entry.type !== 'string') {
        bad('every configTypes entry must be an object {"type": string, "data": any}');
      }
    }
    configTypes = cfg.configTypes.map((e) => ({ type: e.type, data: Object.hasOwn(e, 'data') ? e.data : null }));
  }

  let host = null;
  let port = null;
  if (cfg.type === 'tcp') {
    // §15: "127.0.0.1:PORT"; port 0 means "any free port". Nothing else.
    const m = /^(.*):([0-9]{1,5})$/.exec(cfg.address);
    if (!m || Number(m[2]) > 65535) bad(`tcp address ${JSON.stringify(cfg.address)} is not 127.0.0.1:PORT`);
    if (m[1] !== '127.0.0.1') bad(`tcp address ${JSON.stringify(cfg.address)}: only 127.0.0.1 (loopback) may be bound`);
    host = m[1];
    port = Number(m[2]);
  } else if (Buffer.byteLength(cfg.address) > 107) {
    // §15: sun_path holds 107 bytes and a terminator. Refuse before creating any file.
    bad(`socket path is ${Buffer.byteLength(cfg.address)} bytes long; a Unix socket path holds at most 107`);
  }
  return { id: cfg.id, type: cfg.type, address: cfg.address, host, port, token: cfg.token, idleMs, maxBodyBytes, configTypes };
}

// §5.2 configTypes: data for the config types the plugin declared, handed to
// the plugin. Data it cannot use is a configuration error (§16: "the plugin
// cannot set itself up from its config data" → 2): it calls die(EXIT_USAGE, ...).
function applyConfigTypes(configTypes) {
  if (options.applyConfigTypes) return options.applyConfigTypes(configTypes);
  for (const { type } of configTypes) {
    log('warn', `ignoring data for config type '${type}', which this plugin does not use`);
  }
}

// ===========================================================================
// Part 4. Lock file, listener, handshake (§15, §6)
// ===========================================================================

let config = null;
let server = null;
let lockPath = null; // set once the lock file is ours: only then do we remove it
let socketPath = null; // set once we bound the socket: only then do we remove it

function start(configText) {
  config = parseConfig(configText);
  pluginId = config.id;
  applyConfigTypes(config.configTypes);

  server = createHttpServer(); // Part 5

  if (config.type === 'unix') {
    claimLock(config.address + '.lock');
    removeStaleSocket(config.address);
    // §9: the socket file must be 0600. umask 0177 while binding means it
    // is never, not even for a moment, accessible to others; chmod after.
    // (server.listen binds a Unix socket synchronously, so the umask is
    // back before any other code runs.)
    const previousUmask = process.umask(0o177);
    try {
      server.listen({ path: config.address, backlog: 511 }); // §12: backlog >= 64
    } finally {
      process.umask(previousUmask);
    }
  } else {
    server.listen({ host: config.host, port: config.port, backlog: 511 });
  }

  server.once('error', (err) => die(EXIT_BIND, `cannot listen on ${config.address}: ${err.message}`));
  server.once('listening', () => {
    let address = config.address;
    if (config.type === 'unix') {
      socketPath = config.address;
      fs.chmodSync(socketPath, 0o600);
    } else {
      address = `127.0.0.1:${server.address().port}`; // §6: the bound port, never :0
    }
    // Part 6 first: the SIGTERM handler must be in place before the manager
    // learns our pid from the handshake, or a SIGTERM sent at once kills the
    // process with Node's default action and leaves the files behind (§13.1).
    startLifecycle();
    // §6: bound and listening, so now the handshake: the first line on
    // stdout, compact JSON, and (writeAll being a plain write) flushed.
    writeAll(1, JSON.stringify({ protocolVersion: 1, type: config.type, address, pid: process.pid }) + '\n');
    log('info', `serving on ${config.type}:${address} (idle timeout ${config.idleMs ? config.idleMs + ' ms' : 'none'})`);
  });
}

// §15: claim `<address>.lock` before binding.
function claimLock(path) {
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      createLockFile(path);
      lockPath = path;
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') die(EXIT_BIND, `cannot create the lock file ${path}: ${err.message}`);
    }
    const holder = readLockPid(path);
    if (holder !== null && holder !== process.pid && isAlive(holder)) {
      // Another copy serves this socket. Touch neither file.
      die(EXIT_BIND, `${path} is held by process ${holder}, which is alive; is the plugin already running?`);
    }
    if (attempt === 1) {
      // Dead process, or an empty or unreadable pid: left by a crash.
      // Only the lock: the socket path is checked once the lock is ours, and
      // only a socket there is removed (removeStaleSocket, §15 step 5).
      log('warn', `removing a stale lock file (pid ${holder === null ? 'unreadable' : holder})`);
      fs.rmSync(path, { force: true });
    }
  }
  die(EXIT_BIND, `cannot claim the lock file ${path}, even after removing a stale one`);
}

// Create the lock file exclusively, mode 0600, holding "<pid>\n". The
// protocol asks for O_CREAT|O_EXCL and then a write; we write the pid to a
// private file first and link(2) it into place, which is just as exclusive
// (link fails with EEXIST) and means no one can ever see the lock empty.
function createLockFile(path) {
  const tmp = `${path}.${process.pid}.tmp`;
  fs.rmSync(tmp, { force: true });
  fs.writeFileSync(tmp, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(tmp, path);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function readLockPid(path) {
  let text;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const m = /^\s*([0-9]{1,10})\s*$/.exec(text);
  const pid = m ? Number(m[1]) : 0;
  return pid > 0 ? pid : null;
}

// kill(pid, 0): success or EPERM means the process exists.
function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

// §15 step 4: with the lock held, a socket file at the address is stale.
function removeStaleSocket(path) {
  let st;
  try {
    st = fs.lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (st.isSocket()) fs.rmSync(path, { force: true });
  // Anything else (a regular file...) is left alone; the bind then fails: exit 3.
}

// On every exit, graceful or not, remove what is ours: the socket, then the
// lock file last (§15). A plugin that exits 3 because another one is alive
// never owned them, and touches neither.
function removeFiles() {
  for (const path of [socketPath, lockPath]) {
    try {
      if (path) fs.rmSync(path, { force: true });
    } catch (err) {
      log('warn', `cannot remove ${path}: ${err.message}`);
    }
  }
  socketPath = lockPath = null;
}

// ===========================================================================
// Part 5. HTTP (§8 health, §9 authentication, §10 calls, §12 connections)
// ===========================================================================

function createHttpServer() {
  const srv = http.createServer({
    noDelay: true, // §12: TCP_NODELAY on accepted TCP connections (no-op on Unix sockets)
  });
  // §12: keep connections open, with no limit on requests per connection,
  // and do not close an idle one before 5 s (the manager stops reusing a
  // connection after 2 s idle, so a close at 10 s never crosses a request).
  srv.keepAliveTimeout = 10_000;
  srv.maxRequestsPerSocket = 0; // 0 = unlimited (Node's default, stated here on purpose)
  srv.headersTimeout = 60_000;

  srv.on('request', handleRequest);
  // §10.5: with `Expect: 100-continue` Node would say "100 Continue" before
  // we look at the request. Handling it ourselves lets a 401/404/413 go out
  // before the client sends a large body; handleCall sends the 100 itself.
  srv.on('checkContinue', handleRequest);
  return srv;
}

function handleRequest(req, res) {
  res.on('error', () => {}); // the client went away mid-answer: nothing to do (§12, N4)
  const path = req.url.split('?')[0]; // §10.1: a query string may be ignored

  // §10.7 step 1: framing and size, from the headers alone.
  if (req.method === 'POST') {
    // Neither Content-Length nor Transfer-Encoding: an empty body (RFC 9112
    // §6.3), which is what Node's parser reads; curl -X POST sends that.
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > config.maxBodyBytes) {
      return sendError(res, new CallError(413, 'too_large',
        `the body is ${length} bytes; this plugin accepts at most ${config.maxBodyBytes}`, { close: true }));
    }
  }

  // Step 2: is this an endpoint at all?
  if (req.method === 'GET' && path === '/healthz') {
    // §8: no token, not activity, answered as long as we can serve.
    return sendJson(res, 200, { status: 'ok' });
  }
  const call = /^\/v1\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(path);
  const isShutdown = req.method === 'POST' && path === '/shutdown';
  if (!isShutdown && !(req.method === 'POST' && call)) {
    return sendError(res, new CallError(404, 'not_found',
      `no endpoint ${req.method} ${path}; calls are POST /v1/{contract}/{type}/{method}`));
  }

  // Step 3: the token (§9).
  if (!authorized(req.headers.authorization)) {
    return sendError(res, new CallError(401, 'unauthorized', 'missing or wrong token: send Authorization: Bearer <token>'));
  }

  if (isShutdown) {
    // §13.1: no call is admitted once the 202 is on its way (not even one
    // pipelined behind this request), so refuse calls first; the rest of the
    // shutdown starts once the answer is written, so that it cannot close
    // this connection under its own 202.
    lifecycle.draining = true;
    sendJson(res, 202, { status: 'shutting down' });
    return onResponseDone(res, () => beginShutdown('POST /shutdown'));
  }

  // Step 4: admission (§14.2). Refused calls are not run and not activity.
  if (lifecycle.draining) {
    return sendError(res, new CallError(503, 'unavailable', 'the plugin is shutting down; the call was not run', { close: true }));
  }
  callStarted();
  // The call stays in flight until its answer is written ('finish') or the
  // connection is gone ('close'), not merely until the method returns (§13.2).
  onResponseDone(res, callEnded);

  handleCall(req, res, call.slice(1)).catch((err) => {
    if (res.destroyed) {
      // The client closed the connection (its deadline passed?): no one to answer (§12).
      return log('warn', `${path}: the client went away before the answer was sent`);
    }
    if (!(err instanceof CallError)) {
      // §10.6: a failing method is a 500; never a 503, and we keep serving.
      log('error', `${path}: ${err && err.stack ? err.stack : err}`);
      err = new CallError(500, 'internal', `the method failed: ${err && err.message ? err.message : err}`);
    }
    sendError(res, err);
  });
}

// Steps 5 to 8 of §10.7, for an admitted call.
async function handleCall(req, res, [contract, type, method]) {
  // Step 5: unknown contract or type.
  const impls = options.types.get(contract);
  if (!impls) throw new CallError(404, 'not_found', `this plugin provides no contract '${contract}' (it provides ${[...options.types.keys()].join(', ')})`);
  const impl = impls.get(type);
  if (!impl) throw new CallError(404, 'not_found', `this plugin provides no ${contract} type '${type}'`);

  // Step 6: the deadline (§10.4): optional; when present, whole milliseconds.
  const deadlineHeader = req.headers['x-plugvisor-deadline-ms'];
  let deadline = null;
  if (deadlineHeader !== undefined) {
    // 1 to 19 digits (§10.4): the length is checked before the conversion. A
    // double holds every value up to 2^53 exactly and rounds the rest, far
    // beyond any clock, so the deadline then simply never comes.
    if (!/^[0-9]{1,19}$/.test(deadlineHeader)) {
      throw invalidInput(`X-Plugvisor-Deadline-Ms '${deadlineHeader}' is not a whole number of milliseconds (1 to 19 digits)`);
    }
    deadline = now() + Number(deadlineHeader); // our methods are quick, so they do not look at it
  }

  // Step 7: unknown method, then the input.
  const m = options.methods.get(contract).get(method);
  if (!m) {
    throw new CallError(404, 'not_found',
      `${contract} has no method '${method}' (methods: ${[...options.methods.get(contract).keys()].join(', ')})`);
  }
  if (/^100-continue$/i.test(req.headers.expect || '')) res.writeContinue();
  const body = await readBody(req, config.maxBodyBytes);
  // §10.2: decode by the method's input kind, whatever the Content-Type says.
  // `none` ignores the body (even an empty one); `bytes` takes it as is;
  // `json` parses it (a body that is not JSON: 400 invalid_input).
  let input;
  if (m.input === 'bytes') input = body;
  else if (m.input === 'json') {
    // Nested at most 128 levels, checked before parsing, as the SDKs refuse
    // a deeper request body (docs/contracts.md, max_json_depth).
    const text = body.toString('utf-8');
    if (jsonDepth(text) > MAX_JSON_DEPTH) throw invalidInput(`the JSON input nests deeper than ${MAX_JSON_DEPTH} levels`);
    try {
      input = JSON.parse(text);
    } catch (err) {
      throw invalidInput(`the request body is not JSON: ${err.message}`);
    }
  }

  // Step 8: run, and answer by the output kind (§10.3).
  const result = await m.run(impl, input, { deadline });
  if (m.output === 'bytes') send(res, 200, 'application/octet-stream', result);
  else if (m.output === 'json') sendJson(res, 200, result);
  else sendJson(res, 200, {});
}

// How deep `text` nests arrays and objects (brackets inside strings skipped).
const MAX_JSON_DEPTH = 128;
function jsonDepth(text) {
  let depth = 0, max = 0, inString = false, escaped = false;
  for (const c of text) {
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return max;
}

// Read the whole request body, at most `limit` bytes (a chunked body has no
// Content-Length to check in advance: §10.5).
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let settled = false;
    const settle = (fn, value) => {
      if (!settled) {
        settled = true;
        fn(value);
      }
    };
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) settle(reject, new CallError(413, 'too_large', `the body exceeds ${limit} bytes`, { close: true }));
      else chunks.push(chunk);
    });
    req.on('end', () => settle(resolve, Buffer.concat(chunks, size)));
    req.on('error', (err) => settle(reject, err));
    req.on('close', () => settle(reject, new Error('the client closed the connection before sending the whole body')));
  });
}

// §9: compare the whole header with "Bearer <token>" in constant time.
// crypto.timingSafeEqual needs equal lengths, and comparing lengths first
// would leak the token's length, so compare SHA-256 digests of both.
let expectedDigest = null;
function authorized(header) {
  if (typeof header !== 'string') return false;
  expectedDigest ??= crypto.createHash('sha256').update(`Bearer ${config.token}`).digest();
  const given = crypto.createHash('sha256').update(header).digest();
  return crypto.timingSafeEqual(given, expectedDigest);
}

// Every answer goes through send(): during a shutdown it adds
// `Connection: close`, so that no connection is kept for a plugin that is
// about to exit.
function send(res, status, contentType, body, { close = false } = {}) {
  if (res.headersSent || res.destroyed) return; // the connection is gone
  const headers = { 'Content-Type': contentType };
  // A 204 or 304 has no body and carries no Content-Length (RFC 9110 §8.6).
  if (status !== 204 && status !== 304) headers['Content-Length'] = Buffer.byteLength(body);
  if (close || lifecycle.draining) headers.Connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

function sendJson(res, status, value, options) {
  send(res, status, 'application/json', JSON.stringify(value), options);
}

// §10.6: {"error":{"code":..., "message":...}} with the status of the table.
function sendError(res, err) {
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, { close: err.close });
}

// Run `fn` once, when the answer has been handed to the OS or the connection closed.
function onResponseDone(res, fn) {
  let done = false;
  const once = () => {
    if (!done) {
      done = true;
      fn();
    }
  };
  res.once('finish', once);
  res.once('close', once);
}

// ===========================================================================
// Part 6. Lifecycle: stdin, signals, idle timeout, shutdown (§13, §14)
// ===========================================================================

// The state of §14.2. No lock: see the note at the top of the file.
const lifecycle = {
  draining: false, // calls get 503 (set by beginShutdown, or by /shutdown before its 202)
  shuttingDown: false, // beginShutdown has run
  inFlight: 0,
  lastActivity: 0,
  ticker: null,
  exiting: false,
};
const SHUTDOWN_GRACE_MS = 5000; // §13.2

function startLifecycle() {
  lifecycle.lastActivity = now(); // §14.1: the clock starts at start-up

  // §13.1: end of file (or an error) on stdin means "shut down": the
  // manager closed it or died. Works for both --config forms; with
  // `--config -` the configuration line has already been taken off.
  process.stdin.on('data', () => {}); // later bytes are ignored
  process.stdin.on('end', () => beginShutdown('end of file on stdin'));
  process.stdin.on('error', (err) => beginShutdown(`stdin: ${err.message}`));
  process.stdin.resume();

  process.on('SIGTERM', () => beginShutdown('SIGTERM'));
  process.on('SIGINT', () => beginShutdown('SIGINT'));
  // SIGPIPE: Node ignores it already; a write to a closed connection is an
  // EPIPE error on that socket, which Node handles (§12).

  // §14.2: a ticker, not a timer per request. T/10, between 10 ms and 1 s.
  if (config.idleMs > 0) {
    const tick = Math.min(1000, Math.max(10, Math.floor(config.idleMs / 10)));
    lifecycle.ticker = setInterval(() => {
      // The check and the decision happen in one synchronous step: a call
      // is either admitted before it (and keeps us up), or sees draining.
      if (!lifecycle.draining && lifecycle.inFlight === 0 && now() - lifecycle.lastActivity >= config.idleMs) {
        beginShutdown(`idle for ${config.idleMs} ms`);
      }
    }, tick);
  }
}

function callStarted() {
  lifecycle.inFlight += 1;
  lifecycle.lastActivity = now();
}

function callEnded() {
  lifecycle.inFlight -= 1;
  lifecycle.lastActivity = now();
  if (lifecycle.shuttingDown && lifecycle.inFlight === 0) finishShutdown(EXIT_OK);
}

// §13.2. A second trigger changes nothing.
function beginShutdown(reason) {
  if (lifecycle.shuttingDown) return;
  lifecycle.shuttingDown = true;
  lifecycle.draining = true; // 1. from now on calls get 503
  log('info', `shutting down (${reason}); ${lifecycle.inFlight} call(s) in flight`);
  clearInterval(lifecycle.ticker);

  // 2. Unlink the socket at once: a connect now fails with ENOENT, which
  // the manager reads as "never delivered" and retries elsewhere.
  if (socketPath) {
    fs.rmSync(socketPath, { force: true });
    socketPath = null;
  }
  // Stop accepting (over TCP, connects are now refused). Careful: since Node
  // 19, http.Server#close() also closes idle keep-alive connections at once,
  // and a close that crosses the manager's next request loses that call
  // (§12). So close only the listener, with net.Server's close; a request on
  // an open connection still gets its 503, and step 4 closes everything.
  net.Server.prototype.close.call(server);

  // 3. Let calls in flight finish, for up to the grace. 4. happens in finishShutdown.
  if (lifecycle.inFlight === 0) return finishShutdown(EXIT_OK);
  setTimeout(() => {
    log('error', `${lifecycle.inFlight} call(s) still running after ${SHUTDOWN_GRACE_MS} ms: abandoned`);
    finishShutdown(EXIT_ABANDONED); // exit 1: the manager must not think they were never run
  }, SHUTDOWN_GRACE_MS);
}

// 4. Close everything, remove the lock file (removeFiles runs on exit), exit.
function finishShutdown(code) {
  if (lifecycle.exiting) return;
  lifecycle.exiting = true;
  server.closeAllConnections();
  removeFiles();
  if (code === EXIT_OK) log('info', 'stopped');
  process.exit(code);
}

// removeFiles (Part 4) runs on every exit, graceful or not.
process.on('exit', removeFiles);

// A bug outside any call: say so and exit non-zero (§14.3: a failure must
// never look like a clean exit).
process.on('uncaughtException', (err) => {
  log('critical', `crashed: ${err && err.stack ? err.stack : err}`);
  process.exit(EXIT_CRASH);
});

module.exports = { serve, CallError, invalidInput, log, die, EXIT_USAGE };
