#!/usr/bin/env node
// bench hello (Node.js): the cold-start floor of a Node plugin. The same #!
// line as plugin-node-text; prints one line and exits.
process.stdout.write('{"hello":1}\n');
