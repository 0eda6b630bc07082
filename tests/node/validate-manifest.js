#!/usr/bin/env node
// Check a Teams app manifest against Microsoft's schema, offline.
//
//   node validate-manifest.js path/to/manifest.json
//
// Uses AppManifestUtils from @microsoft/app-manifest (Microsoft 365 Agents Toolkit's manifest
// library): the manifest is validated with validateAgainstSchema against the schema its
// "$schema" names, and read with the library's typed converter (readTeamsManifest). That schema
// must be one the package bundles: the check never goes to the network (an unknown schema
// URL is an error here, where the library would try to download it). Also checks that the
// icons the manifest names sit beside it, as they must in the app package.
// Prints every problem, one a line; exit 0 when valid, 1 when not, 2 on a usage error.
"use strict";

const fs = require("fs");
const path = require("path");
const { AppManifestUtils } = require("@microsoft/app-manifest");

class Invalid extends Error {
  constructor(lines) {
    super(lines.join("\n"));
    this.lines = lines;
  }
}

function fail(lines) {
  throw new Invalid(lines);
}

// The bundled copy of the schema the manifest names, or undefined.
function bundledSchema(url) {
  const suffix = typeof url === "string" ? AppManifestUtils.getLocalSchemaSuffix(url) : undefined;
  if (!suffix) return undefined;
  const file = path.join(path.dirname(require.resolve("@microsoft/app-manifest/package.json")), "build", suffix);
  return fs.existsSync(file) ? file : undefined;
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length !== 1 || args[0].startsWith("-")) {
    process.stderr.write("usage: node validate-manifest.js path/to/manifest.json\n");
    return 2;
  }
  const file = args[0];
  let raw;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8").replace(/^\uFEFF/, ""));
  } catch (e) {
    fail([`${file}: not readable JSON: ${e.message}`]);
  }
  const schemaFile = bundledSchema(raw.$schema);
  if (!schemaFile) {
    fail([`${file}: $schema ${JSON.stringify(raw.$schema)} is not a Teams schema bundled with @microsoft/app-manifest ` +
          `(${require("@microsoft/app-manifest/package.json").version}); this check runs offline`]);
  }

  // The schema first (its messages name the path and the rule), then the library's typed
  // reading of the file, which must succeed too.
  const problems = (await AppManifestUtils.validateAgainstSchema(raw)).map((e) => `schema: ${e}`);
  try {
    await AppManifestUtils.readTeamsManifest(file);
  } catch (e) {
    problems.push(`typed reading (TeamsManifestConverter): ${e.message}`);
  }
  for (const [kind, name] of Object.entries(raw.icons || {})) {
    if (typeof name === "string" && !/^https?:/.test(name) && !fs.existsSync(path.join(path.dirname(file), name))) {
      problems.push(`icons.${kind}: ${name} is not beside the manifest`);
    }
  }
  const where = `the copy bundled with @microsoft/app-manifest ${require("@microsoft/app-manifest/package.json").version}`;
  if (problems.length) {
    fail([`${file}: INVALID against ${raw.$schema} (${where}):`, ...problems.map((p) => `  - ${p}`)]);
  }
  process.stdout.write(`${file}: valid against ${raw.$schema} (manifestVersion ${raw.manifestVersion}, schema ${where})\n`);
  return 0;
}

// exitCode, not process.exit(): what was written to a pipe must be flushed first.
main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stdout.write(e instanceof Invalid ? `${e.lines.join("\n")}\n` : `validate-manifest: ${e && e.stack ? e.stack : e}\n`);
    process.exitCode = 1;
  }
);
