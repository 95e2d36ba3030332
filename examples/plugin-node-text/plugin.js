#!/usr/bin/env node
// plugin-node-text: a plugvisor plugin written in plain Node.js (v18 or later).
//
// It uses no SDK, no npm package and no code from the plugvisor project: it
// was written from docs/protocol.md alone, to show that the document is all a
// plugin author needs. This file holds what the plugin provides (the
// dataProcessor types, §4.2, §11); the wire side (command line, launch
// configuration, lock file and socket, HTTP, authentication, deadlines, idle
// timeout, shutdown, the capabilities document) is protocol.js, shared with
// the mock server's plugin-node-status. The build copies protocol.js to
// .lib/node/protocol.js in the plugin directory, beside this file.
'use strict';

const protocol = require(`${__dirname}/.lib/node/protocol.js`);
const { invalidInput } = protocol;

// ===========================================================================
// What the plugin provides (§4.2, §11)
// ===========================================================================

const PLUGIN = {
  name: 'node-text',
  version: '1.0.0',
  description: 'Text tools written in plain Node.js, without an SDK',
};

// A config type (§5.2): data the host may hand to the plugin at launch. This
// one sets how `slugify` builds slugs. Its name is free-form; prefixing it
// with the plugin's name keeps it from colliding with other plugins'.
const SLUGIFY_CONFIG = 'node-text.slugify';
const SLUGIFY_SCHEMA = {
  type: 'object',
  properties: {
    separator: { type: 'string', enum: ['-', '_', '.'], default: '-' },
    maxLength: { type: 'integer', minimum: 1, maximum: 1000 },
  },
};

// Settings that config types may change (applyConfigTypes, below, fills them in).
const settings = {
  slugify: { separator: '-', maxLength: 0 }, // 0: no limit
};

// processData receives raw octets (§10.2). Our text types want UTF-8, and say
// so with a 400 when they do not get it (§11.2: "a dataProcessor type whose
// input is not acceptable answers 400 invalid_input with a message saying why").
const utf8 = new TextDecoder('utf-8', { fatal: true });
function decodeText(bytes) {
  try {
    return utf8.decode(bytes);
  } catch {
    throw invalidInput('the input is not UTF-8 text; send UTF-8 encoded text');
  }
}

// Letters that Unicode does not decompose into ASCII, for slugify.
const TRANSLITERATE = { ß: 'ss', æ: 'ae', ø: 'o', œ: 'oe', đ: 'd', ð: 'd', ł: 'l', þ: 'th', ı: 'i' };

// "Hello, Wörld!" → "hello-world": lower case ASCII letters and digits, every
// other run of characters replaced by one separator.
function slugify(text, { separator = '-', maxLength = 0 } = {}) {
  const words = text
    .normalize('NFKD') // "ö" → "o" + combining diaeresis
    .replace(/\p{M}+/gu, '') // drop the combining marks
    .toLowerCase()
    .replace(/[ßæøœđðłþı]/g, (c) => TRANSLITERATE[c])
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  let slug = words.join(separator);
  if (maxLength > 0 && slug.length > maxLength) {
    // Keep whole words while they fit; cut a single overlong word.
    let kept = '';
    for (const word of words) {
      const next = kept ? kept + separator + word : word;
      if (next.length > maxLength) break;
      kept = next;
    }
    slug = kept || words[0].slice(0, maxLength);
  }
  return slug;
}

// "a\nb\nc\n" → "c\nb\na\n". Works on bytes: '\n' is one byte in UTF-8 and
// never part of a longer character, so any input is acceptable. 'latin1' maps
// every byte to one character and back, losslessly.
function reverseLines(bytes) {
  if (bytes.length === 0) return bytes;
  const text = bytes.toString('latin1');
  const endsWithNewline = text.endsWith('\n');
  const lines = (endsWithNewline ? text.slice(0, -1) : text).split('\n');
  return Buffer.from(lines.reverse().join('\n') + (endsWithNewline ? '\n' : ''), 'latin1');
}

// The headings of a Markdown document, as a JSON list:
//   [{"level":1,"text":"Title","slug":"title"}, ...]
// ATX headings ("## Text ##") and setext headings ("Text" underlined with
// "===" or "---"); fenced code blocks (``` or ~~~) are skipped.
function markdownHeadings(markdown) {
  const headings = [];
  let fence = null; // the fence that opened the current code block
  let previous = null; // the previous line, if it could be a setext heading's text
  for (const line of markdown.split(/\r?\n/)) {
    const fenceMatch = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (fenceMatch && fenceMatch[1][0] === fence[0] && fenceMatch[1].length >= fence.length) fence = null;
      continue;
    }
    if (fenceMatch) {
      fence = fenceMatch[1];
      previous = null;
      continue;
    }
    const atx = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    const setext = /^ {0,3}(=+|-+)[ \t]*$/.exec(line);
    if (atx) {
      headings.push({ level: atx[1].length, text: (atx[2] || '').trim() });
      previous = null;
    } else if (setext) {
      // An underline makes the line above it a heading; alone, it is not text.
      if (previous !== null) headings.push({ level: setext[1][0] === '=' ? 1 : 2, text: previous.trim() });
      previous = null;
    } else {
      // Blank lines and indented code cannot be a setext heading's text.
      previous = line.trim() === '' || /^( {4}|\t)/.test(line) ? null : line;
    }
  }
  return headings.map((h) => ({ ...h, slug: slugify(h.text) }));
}

// The types of the dataProcessor contract (§11.2). `process` is processData:
// bytes in, bytes out. `formats` is what supportedFormats answers.
const DATA_PROCESSORS = new Map([
  ['slugify', {
    description: 'Turns text into a URL slug ("Hello, World!" -> "hello-world")',
    jsonSchema: SLUGIFY_SCHEMA, // the schema of its configuration (config type node-text.slugify)
    formats: ['text/plain'],
    process(input) {
      const slug = slugify(decodeText(input), settings.slugify);
      if (slug === '') throw invalidInput('the input has no letters or digits to build a slug from');
      return Buffer.from(slug);
    },
  }],
  ['reverse-lines', {
    description: 'Reverses the order of the lines of a text',
    formats: ['text/plain'],
    process: (input) => reverseLines(input),
  }],
  ['markdown-headings', {
    description: 'Lists the headings of a Markdown document as JSON [{level, text, slug}]',
    formats: ['text/markdown', 'text/plain'],
    process: (input) => Buffer.from(JSON.stringify(markdownHeadings(decodeText(input)))),
  }],
]);

// Contracts → types, and contracts → methods with their input and output
// kinds (§10.2, §10.3, §11). A contract includes pluginBase's `ping`.
const TYPES = new Map([['dataProcessor', DATA_PROCESSORS]]);
const METHODS = new Map([
  ['dataProcessor', new Map([
    ['ping', { input: 'none', output: 'none', run: () => ({}) }],
    ['processData', { input: 'bytes', output: 'bytes', run: (impl, body, call) => impl.process(body, call) }],
    ['supportedFormats', { input: 'none', output: 'json', run: (impl) => impl.formats }],
  ])],
]);

// ===========================================================================
// Its config data and its --help; protocol.js does the rest (§5)
// ===========================================================================

// §5.2 configTypes: data for the config types we declared. Data we cannot
// use is a configuration error (§16: "the plugin cannot set itself up from
// its config data" → 2).
function applyConfigTypes(configTypes) {
  for (const { type, data } of configTypes) {
    if (type !== SLUGIFY_CONFIG) {
      protocol.log('warn', `ignoring data for config type '${type}', which this plugin does not use`);
      continue;
    }
    if (data === null) continue;
    if (typeof data !== 'object' || Array.isArray(data)) protocol.die(protocol.EXIT_USAGE, `${SLUGIFY_CONFIG}: the data must be a JSON object`);
    if (data.separator !== undefined) {
      if (!SLUGIFY_SCHEMA.properties.separator.enum.includes(data.separator)) {
        protocol.die(protocol.EXIT_USAGE, `${SLUGIFY_CONFIG}: separator must be one of "-", "_", "."`);
      }
      settings.slugify.separator = data.separator;
    }
    if (data.maxLength !== undefined) {
      if (!Number.isInteger(data.maxLength) || data.maxLength < 1 || data.maxLength > 1000) {
        protocol.die(protocol.EXIT_USAGE, `${SLUGIFY_CONFIG}: maxLength must be an integer from 1 to 1000`);
      }
      settings.slugify.maxLength = data.maxLength;
    }
  }
}

const HELP = `plugin-node-text: a plugvisor plugin (protocol v1) written in plain Node.js.
It provides the dataProcessor types slugify, reverse-lines and markdown-headings.

It is meant to be started by plugvisor. The forms it understands:
  plugin-node-text capabilities        print what it provides (JSON) and exit
  plugin-node-text --config -          read the launch configuration, one JSON
                                       line, from stdin, then serve
  plugin-node-text --config '<json>'   the same, with the configuration inline
  plugin-node-text --help              this text

Try it:  plugvisor list -d DIR
         plugvisor call -d DIR dataProcessor slugify processData --data 'Hello World'
`;

protocol.serve({
  plugin: PLUGIN,
  id: 'plugin-node-text',
  help: HELP,
  types: TYPES,
  methods: METHODS,
  configTypes: [SLUGIFY_CONFIG],
  applyConfigTypes,
});
