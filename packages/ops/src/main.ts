#!/usr/bin/env node
import { runOps } from './cli';

void runOps(process.argv.slice(2), process.env, {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
}).then((code) => process.exit(code));
