#!/usr/bin/env node
// plugin-node-status: an httpHandler plugin in plain Node.js (v18 or later),
// without an SDK. This file holds what the plugin provides (§4.2, §11); the
// wire side is examples/plugin-node-text/protocol.js, shared with
// plugin-node-text, which the build copies to .lib/node/protocol.js in the
// plugin directory, beside this file.
'use strict';

const protocol = require(`${__dirname}/.lib/node/protocol.js`);
const { invalidInput } = protocol;

// ===========================================================================
// What the plugin provides (§4.2, §11)
// ===========================================================================

const PLUGIN = {
  name: 'node-status',
  version: '1.0.0',
  description: 'An httpHandler in plain Node.js, without an SDK: /status/CODE and /echo',
};

// The httpHandler contract (docs/contracts.md, "Contract packages"): `handle`
// takes a request {method, path, query, headers, body} as JSON and answers a
// response {status, headers, body}, or null when the request is not its own.
// Its description, as plugvisor's C++ header declares it, is published in
// capabilities under `contracts` (§4.2) so that the host can check it.
const HTTP_HANDLER_DESCRIPTION = {"description": "Handles HTTP requests; null means not mine", "methods": {"handle": {"description": "answers a request with a response, or null when the request is not its own", "input": "json", "inputSchema": {"not": {"required": ["body", "bodyBase64"]}, "properties": {"body": {"type": "string"}, "bodyBase64": {"type": "string"}, "headers": {"additionalProperties": {"anyOf": [{"type": "string"}, {"items": {"type": "string"}, "type": "array"}]}, "type": "object"}, "method": {"pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", "type": "string"}, "path": {"pattern": "^/", "type": "string"}, "query": {"additionalProperties": {"anyOf": [{"type": "string"}, {"items": {"type": "string"}, "type": "array"}]}, "type": "object"}}, "required": ["method", "path"], "type": "object"}, "output": "json", "outputSchema": {"anyOf": [{"not": {"required": ["body", "bodyBase64"]}, "properties": {"body": {"type": "string"}, "bodyBase64": {"type": "string"}, "headers": {"additionalProperties": {"anyOf": [{"type": "string"}, {"items": {"type": "string"}, "type": "array"}]}, "type": "object"}, "status": {"maximum": 599, "minimum": 100, "type": "integer"}}, "required": ["status"], "type": "object"}, {"type": "null"}]}}, "ping": {"input": "none", "output": "none"}}, "version": 1};

// GET /status/CODE answers CODE (100-599, "mock any status"); ANY /echo
// answers the request back as JSON. Everything else: null (not mine).
function handle(request) {
  if (request === null || typeof request !== 'object' || typeof request.path !== 'string') {
    throw invalidInput('send a request: {"method": "GET", "path": "/...", "headers": {}, "query": {}}');
  }
  const status = /^\/status\/([0-9]{3})$/.exec(request.path);
  if (status && request.method === 'GET') {
    const code = Number(status[1]);
    if (code < 100 || code > 599) return null;
    return { status: code, headers: { 'content-type': 'text/plain' }, body: `status ${code}\n` };
  }
  if (request.path === '/echo') {
    const echoed = { method: request.method, path: request.path, query: request.query || {}, headers: request.headers || {} };
    if (typeof request.body === 'string') echoed.body = request.body;
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(echoed, null, 2) + '\n' };
  }
  return null;
}

const HANDLERS = new Map([
  ['status', { description: 'GET /status/CODE answers CODE; /echo answers the request as JSON' }],
]);

// Contracts → types, and contracts → methods with their input and output
// kinds (§10.2, §10.3, §11). A contract includes pluginBase's `ping`.
const TYPES = new Map([['httpHandler', HANDLERS]]);
const METHODS = new Map([
  ['httpHandler', new Map([
    ['ping', { input: 'none', output: 'none', run: () => ({}) }],
    ['handle', { input: 'json', output: 'json', run: (impl, input) => handle(input) }],
  ])],
]);

const HELP = `plugin-node-status: a plugvisor plugin (protocol v1) written in plain Node.js.
It provides the httpHandler type status (/status/CODE, /echo).

It is meant to be started by plugvisor. The forms it understands:
  plugin-node-status capabilities        print what it provides (JSON) and exit
  plugin-node-status --config -          read the launch configuration, one JSON
                                       line, from stdin, then serve
  plugin-node-status --config '<json>'   the same, with the configuration inline
  plugin-node-status --help              this text

Try it:  plugvisor list -d DIR
         plugvisor call -d DIR httpHandler status handle --data '{"method":"GET","path":"/status/418"}'
`;

// No config types: protocol.js warns about data it is sent for any.
protocol.serve({
  plugin: PLUGIN,
  id: 'plugin-node-status',
  help: HELP,
  types: TYPES,
  methods: METHODS,
  contracts: { httpHandler: HTTP_HANDLER_DESCRIPTION },
});
