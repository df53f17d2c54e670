#!/usr/bin/env node
// The `fulcrum` command. The TypeScript sources are compiled to dist/ by `npm install` (prepare).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== null) process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`fulcrum: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
