#!/usr/bin/env node
// plugin-proxy-maintenance: an httpFilter plugin (generateResponse) for the
// reverse-proxy example, in plain Node.js without any SDK. This file holds
// the filter, written from the httpFilter section of docs/contracts.md
// alone; the wire side (command line, launch configuration, lock file and
// socket, HTTP, authentication, deadlines, idle timeout, shutdown, the
// capabilities document) is examples/plugin-node-text/protocol.js, shared
// with plugin-node-text and the mock server's plugin-node-status, which the
// build copies to .lib/node/protocol.js in the plugin directory, beside this
// file (cmake/PlugvisorNodePlugin.cmake).
//
// While maintenance is on, every request except the allowed paths gets a
// 503 maintenance page with Retry-After, without reaching the upstream.
// Maintenance is on while the flag file exists (touch it, remove it: no
// restart), or always with "enabled": true. Config type proxy.maintenance:
//
//   {"flagFile": "/run/site/maintenance", "enabled": false, "retryAfter": 300,
//    "allow": ["/healthz", "/status/*"], "page": "<h1>Back soon</h1>"}
'use strict';

const fs = require('node:fs');
const protocol = require(`${__dirname}/.lib/node/protocol.js`);
const { invalidInput } = protocol;

// ===========================================================================
// What the plugin provides: httpFilter type "maintenance"
// ===========================================================================

const PLUGIN = {
  name: 'proxy-maintenance',
  version: '1.0.0',
  description: 'Maintenance page for the proxy, in plain Node.js without an SDK',
};

const MAINTENANCE_CONFIG = 'proxy.maintenance';
const MAINTENANCE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    flagFile: { type: 'string' },
    enabled: { type: 'boolean' },
    retryAfter: { type: 'integer', minimum: 0, maximum: 86400 },
    allow: { type: 'array', items: { type: 'string' } },
    page: { type: 'string', maxLength: 65536 },
  },
};

const settings = {
  maintenance: {
    flagFile: '',
    enabled: false,
    retryAfter: 300,
    allow: [],
    page: '<!doctype html><title>Maintenance</title><h1>Down for maintenance</h1><p>We will be back shortly.</p>\n',
  },
};

// The proxy's path pattern rule (docs/contracts.md): '*' any run, '?' one character.
function patternToRegExp(pattern) {
  const escaped = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${escaped.join('')}$`, 's');
}

function maintenanceOn() {
  const m = settings.maintenance;
  if (m.enabled) return true;
  return m.flagFile !== '' && fs.existsSync(m.flagFile);
}

// generateResponse: the filter input is {request: {method, path, headers...}, client, route}.
// The answer is a filter result: {} (no change) or {respond: {status, headers, body}}.
function generateResponse(input) {
  if (input === null || typeof input !== 'object' || typeof input.request !== 'object' || input.request === null ||
      typeof input.request.path !== 'string') {
    throw invalidInput('send a filter input: {"request": {"method": ..., "path": ...}}');
  }
  const m = settings.maintenance;
  if (!maintenanceOn() || m.allowPatterns.some((re) => re.test(input.request.path))) return {};
  return {
    respond: {
      status: 503,
      headers: { 'content-type': 'text/html; charset=utf-8', 'retry-after': String(m.retryAfter), 'cache-control': 'no-store' },
      body: m.page,
    },
  };
}

// batch (docs/contracts.md): run the listed hooks in order. This plugin has one hook.
function batch(input) {
  const hooks = input && Array.isArray(input.hooks) ? input.hooks : null;
  if (!hooks) throw invalidInput('batch needs "hooks": ["generateResponse"]');
  for (const hook of hooks) {
    if (hook !== 'generateResponse') throw invalidInput(`this filter implements generateResponse only, not ${JSON.stringify(hook)}`);
  }
  return hooks.length ? generateResponse(input) : {};
}

const FILTERS = new Map([
  ['maintenance', {
    description: 'a 503 maintenance page while the flag file exists (config type proxy.maintenance)',
    jsonSchema: MAINTENANCE_SCHEMA,
  }],
]);

const TYPES = new Map([['httpFilter', FILTERS]]);
const METHODS = new Map([
  ['httpFilter', new Map([
    ['ping', { input: 'none', output: 'none', run: () => ({}) }],
    ['generateResponse', { input: 'json', output: 'json', run: (impl, input) => generateResponse(input) }],
    ['batch', { input: 'json', output: 'json', run: (impl, input) => batch(input) }],
  ])],
]);

// §4.2: the description of httpFilter, restricted to the hook this plugin
// implements: that is how a filter declares its hooks (docs/contracts.md).
const methods = {};
for (const [name, m] of METHODS.get('httpFilter')) methods[name] = { input: m.input, output: m.output };
const HTTP_FILTER_DESCRIPTION = { version: 1, description: 'Filters HTTP traffic at five hooks, answering modifications', methods };

// ===========================================================================
// Its config data and its --help; protocol.js does the rest (§5)
// ===========================================================================

// §5.2 configTypes: data for the config types we declared. Data we cannot
// use is a configuration error (§16: "the plugin cannot set itself up from
// its config data" → 2).
function applyConfigTypes(configTypes) {
  const m = settings.maintenance;
  for (const { type, data } of configTypes) {
    if (type !== MAINTENANCE_CONFIG) {
      protocol.log('warn', `ignoring data for config type '${type}', which this plugin does not use`);
      continue;
    }
    if (data === null) continue;
    const bad = (msg) => protocol.die(protocol.EXIT_USAGE, `${MAINTENANCE_CONFIG}: ${msg}`);
    if (typeof data !== 'object' || Array.isArray(data)) bad('the data must be a JSON object');
    if (data.flagFile !== undefined) {
      if (typeof data.flagFile !== 'string') bad('flagFile must be a path');
      m.flagFile = data.flagFile;
    }
    if (data.enabled !== undefined) {
      if (typeof data.enabled !== 'boolean') bad('enabled must be true or false');
      m.enabled = data.enabled;
    }
    if (data.retryAfter !== undefined) {
      if (!Number.isInteger(data.retryAfter) || data.retryAfter < 0 || data.retryAfter > 86400) bad('retryAfter must be whole seconds from 0 to 86400');
      m.retryAfter = data.retryAfter;
    }
    if (data.allow !== undefined) {
      if (!Array.isArray(data.allow) || !data.allow.every((p) => typeof p === 'string')) bad('allow must be an array of path patterns');
      m.allow = data.allow;
    }
    if (data.page !== undefined) {
      if (typeof data.page !== 'string' || data.page.length > 65536) bad('page must be a string of at most 65536 characters');
      m.page = data.page;
    }
  }
  m.allowPatterns = m.allow.map(patternToRegExp);
}

const HELP = `plugin-proxy-maintenance: a plugvisor plugin (protocol v1) written in plain Node.js.
It provides the httpFilter type maintenance (hook generateResponse).

It is meant to be started by plugvisor. The forms it understands:
  plugin-proxy-maintenance capabilities        print what it provides (JSON) and exit
  plugin-proxy-maintenance --config -          read the launch configuration, one JSON
                                               line, from stdin, then serve
  plugin-proxy-maintenance --config '<json>'   the same, with the configuration inline
  plugin-proxy-maintenance --help              this text
`;

protocol.serve({
  plugin: PLUGIN,
  id: 'plugin-proxy-maintenance',
  help: HELP,
  types: TYPES,
  methods: METHODS,
  configTypes: [MAINTENANCE_CONFIG],
  configSchemas: { [MAINTENANCE_CONFIG]: MAINTENANCE_SCHEMA },
  contracts: { httpFilter: HTTP_FILTER_DESCRIPTION },
  transports: null, // no `transports` member: it serves both (§4.2)
  applyConfigTypes,
});
