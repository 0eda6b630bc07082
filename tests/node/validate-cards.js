#!/usr/bin/env node
// Check Adaptive Cards with Microsoft's own parser (the `adaptivecards` package), as Teams
// renders them: Adaptive Cards 1.5.
//
//   node validate-cards.js DIR_OR_FILE... [--json] [--max-bytes N]
//
// Every *.json card is parsed with a SerializationContext targeting 1.5 and fails on:
//   - any parse event the library logs (unknown element or action type, a property or value
//     newer than 1.5, an invalid value, a missing required property, ...);
//   - any failure from card.validateProperties() (duplicate input ids, too many actions, ...);
//   - a card version above 1.5;
//   - any property of the input that the re-serialisation card.toJSON(context) lost: the
//     parser drops unknown property names silently (a misspelt "wrap", "isRequierd" ...), so
//     the card is compared with what the library understood. A property the library knows
//     that was left out only because it holds the default value (or "", which the library
//     reads as not set, or an empty collection) is fine; `fallback` (never re-serialised) is
//     parsed and compared on its own; the single Teams extension allowed beside the
//     library's schema is `msteams` on the card itself;
//   - a value the re-serialisation changed (other than the letter case of an enum value);
//   - a card whose JSON is larger than --max-bytes (default 40 KB; Teams refuses messages
//     over about 100 KB, and a card shares that with the rest of the activity).
// Prints a readable report (or JSON with --json); exit 0 when every card passes, 1 when any
// has a problem, 2 on a usage error.
"use strict";

const fs = require("fs");
const path = require("path");
// The library's browser bundle. Parsing, validating and re-serialising touch no DOM (only
// rendering does), so it runs in Node as it is: no fake document or window is needed.
const AC = require("adaptivecards/dist/adaptivecards.js");

const TARGET = AC.Versions.v1_5;
const DEFAULT_MAX_BYTES = 40 * 1024;

// Teams' documented extension of the card root (learn.microsoft.com, "Format cards in
// Microsoft Teams": full-width cards {"width": "Full"}, mentions {"entities": [...]}). The
// adaptivecards library has no such property and drops it; it is allowed on the top-level
// card only, as an object holding only those two (width "Full", entities a list), and
// nothing else is.
const TEAMS_ROOT_EXTENSION = "msteams";
const TEAMS_ROOT_EXTENSION_CHECKS = {
  width: (v) => v === "Full",
  entities: (v) => Array.isArray(v),
};

// Collections the library reads in its own parsing code rather than as schema properties
// (a container's items, a card's body and actions, ...). It writes them back only when they
// have items, so an empty one may vanish; a non-empty one must come back.
const COLLECTIONS = new Set(["body", "actions", "items", "columns", "facts", "images", "choices", "rows", "cells", "inlines"]);

// Which source object each parsed card object (element, action, choice, fact, ...) was read
// from, so a property lost in the re-serialisation can be told apart: known to that object's
// schema (left out as a default) or unknown (dropped silently).
const parsedFrom = new Map();
const originalInternalParse = AC.SerializableObject.prototype.internalParse;
AC.SerializableObject.prototype.internalParse = function (source, context) {
  if (source && typeof source === "object" && !Array.isArray(source) && !parsedFrom.has(source)) {
    parsedFrom.set(source, this);
  }
  return originalInternalParse.call(this, source, context);
};

class UsageError extends Error {}

function usage(message) {
  throw new UsageError(message);
}

function parseArgs(argv) {
  const opts = { json: false, maxBytes: DEFAULT_MAX_BYTES, inputs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") opts.json = true;
    else if (a === "--max-bytes") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n <= 0) usage("--max-bytes needs a positive whole number");
      opts.maxBytes = n;
    } else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else opts.inputs.push(a);
  }
  if (opts.inputs.length === 0) usage("give a folder of card JSON files (or card files)");
  return opts;
}

function cardFiles(inputs) {
  const files = [];
  for (const input of inputs) {
    let stat;
    try {
      stat = fs.statSync(input);
    } catch {
      usage(`${input}: no such file or folder`);
    }
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(input).sort()) {
        if (name.endsWith(".json")) files.push(path.join(input, name));
      }
    } else {
      files.push(input);
    }
  }
  if (files.length === 0) usage(`no *.json card files in ${inputs.join(", ")}`);
  return files;
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const show = (v) => {
  const s = JSON.stringify(v);
  return s !== undefined && s.length > 60 ? `${s.slice(0, 57)}...` : s;
};
const step = (p, key) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${p}.${key}` : `${p}[${JSON.stringify(key)}]`);

function typeName(obj) {
  if (typeof obj.getJsonTypeName === "function") {
    const t = obj.getJsonTypeName();
    if (t) return t;
  }
  return obj.constructor && obj.constructor.name ? obj.constructor.name : "object";
}

function propertyOf(obj, key) {
  const schema = obj.getSchema();
  for (let i = 0; i < schema.getCount(); i++) {
    const prop = schema.getItemAt(i);
    if (prop.name === key && prop.isSerializationEnabled) return prop;
  }
  return undefined;
}

function sameValue(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// A property the object's schema knows but the re-serialisation left out: fine when the input
// holds the default value (the library omits defaults), otherwise a reason why it was lost.
function whyKnownPropertyLost(obj, prop, value) {
  const scalar =
    prop instanceof AC.StringProperty ? "string"
      : prop instanceof AC.BoolProperty ? "boolean"
        : prop instanceof AC.NumProperty ? "number"
          : prop instanceof AC.EnumProperty || prop instanceof AC.ValueSetProperty ? "string"
            : undefined;
  if (scalar === undefined) {
    // objects and collections: only an empty one may vanish
    const empty = value === null || (Array.isArray(value) && value.length === 0) || (isObject(value) && Object.keys(value).length === 0);
    return empty ? null : `${typeName(obj)}.${prop.name}: ${show(value)} was dropped by the parser`;
  }
  if (prop instanceof AC.StringProperty && prop.treatEmptyAsUndefined && value === "") {
    return null; // the library reads "" as not set: the same as leaving the property out
  }
  if (typeof value !== scalar) {
    return `${typeName(obj)}.${prop.name} must be a ${scalar}, found ${show(value)} (dropped by the parser)`;
  }
  const scratch = new AC.SerializationContext(TARGET);
  const parsed = prop.parse(obj, { [prop.name]: value }, scratch);
  if (scratch.eventCount > 0) return scratch.getEventAt(0).message;
  const initial = prop.onGetInitialValue ? prop.onGetInitialValue(obj) : prop.defaultValue;
  if (sameValue(parsed, initial) || sameValue(parsed, prop.defaultValue)) return null;
  return `${typeName(obj)}.${prop.name}: ${show(value)} was dropped by the parser`;
}

// Every property of `input` missing from or changed in `output` (the re-serialisation).
function compare(input, output, where, report) {
  if (Array.isArray(input)) {
    if (!Array.isArray(output)) {
      report.problems.push(`${where}: an array became ${show(output)} when re-serialised`);
      return;
    }
    if (output.length !== input.length) {
      report.problems.push(`${where}: ${input.length} item(s) in the card, ${output.length} after parsing (items were dropped)`);
    }
    for (let i = 0; i < Math.min(input.length, output.length); i++) compare(input[i], output[i], `${where}[${i}]`, report);
    return;
  }
  if (isObject(input)) {
    if (!isObject(output)) {
      report.problems.push(`${where}: an object became ${show(output)} when re-serialised`);
      return;
    }
    const parsed = parsedFrom.get(input);
    for (const key of Object.keys(input)) {
      const here = step(where, key);
      if (Object.prototype.hasOwnProperty.call(output, key)) {
        compare(input[key], output[key], here, report);
        continue;
      }
      if (key === "fallback" && (parsed instanceof AC.Action || parsed instanceof AC.CardElement)) {
        checkFallback(parsed, input[key], here, report);
        continue;
      }
      if (where === "$" && key === TEAMS_ROOT_EXTENSION && isObject(input[key])) {
        for (const [name, value] of Object.entries(input[key])) {
          const check = TEAMS_ROOT_EXTENSION_CHECKS[name];
          if (!check) report.problems.push(`${step(here, name)}: not a documented Teams card property (width, entities)`);
          else if (!check(value)) report.problems.push(`${step(here, name)}: ${show(value)} is not a valid value`);
        }
        report.teamsExtensions.push(here);
        continue;
      }
      const prop = parsed ? propertyOf(parsed, key) : undefined;
      if (parsed && !prop && COLLECTIONS.has(key) && Array.isArray(input[key]) && input[key].length === 0) {
        report.defaultsOmitted.push(here); // an empty collection, left out
      } else if (prop) {
        const why = whyKnownPropertyLost(parsed, prop, input[key]);
        if (why === null) report.defaultsOmitted.push(here);
        else report.problems.push(`${here}: ${why}`);
      } else if (parsed) {
        report.problems.push(`${here}: ${typeName(parsed)} has no property "${key}" in Adaptive Cards ${TARGET} (dropped silently by the parser)`);
      } else {
        report.problems.push(`${here}: missing after parsing (dropped)`);
      }
    }
    return;
  }
  if (input !== output) {
    const caseOnly = typeof input === "string" && typeof output === "string" && input.toLowerCase() === output.toLowerCase();
    if (!caseOnly) report.problems.push(`${where}: ${show(input)} became ${show(output)} when re-serialised`);
  }
}

// `fallback` (Adaptive Cards 1.2+) is read by the parser only when the element or action
// itself is unsupported, and is never re-serialised; so it is parsed and compared here on its
// own: "drop", or an element (for an element) or an action (for an action) valid in 1.5.
function checkFallback(owner, fallback, where, report) {
  if (typeof fallback === "string") {
    if (fallback.toLowerCase() !== "drop") report.problems.push(`${where}: must be "drop" or an object, found ${show(fallback)}`);
    return;
  }
  if (!isObject(fallback)) {
    report.problems.push(`${where}: must be "drop" or an object, found ${show(fallback)}`);
    return;
  }
  const context = new AC.SerializationContext(TARGET);
  const isAction = owner instanceof AC.Action;
  const parsed = isAction
    ? context.parseAction(owner.parent, fallback, [], false)
    : context.parseElement(owner.parent, fallback, [], false);
  for (let i = 0; i < context.eventCount; i++) report.problems.push(`${where}: ${describe(context.getEventAt(i))}`);
  if (!parsed) {
    report.problems.push(`${where}: the fallback is not a valid ${isAction ? "action" : "element"}`);
    return;
  }
  const validation = new AC.ValidationResults();
  parsed.internalValidateProperties(validation);
  for (const event of validation.validationEvents) report.problems.push(`${where}: ${describe(event)}`);
  report.fallbacks.push(where);
  compare(fallback, parsed.toJSON(context), where, report);
}

function describe(event) {
  const source = event.source && typeof event.source === "object" ? typeName(event.source) : "card";
  const id = event.source && event.source.id ? ` "${event.source.id}"` : "";
  return `${AC.ValidationPhase[event.phase] || event.phase}: ${AC.ValidationEvent[event.event] || event.event} at ${source}${id}: ${event.message}`;
}

function checkCard(file, maxBytes) {
  const report = { file: path.basename(file), bytes: 0, problems: [], defaultsOmitted: [], teamsExtensions: [], fallbacks: [] };
  let text;
  let input;
  try {
    text = fs.readFileSync(file, "utf8");
    input = JSON.parse(text);
  } catch (e) {
    report.problems.push(`not readable JSON: ${e.message}`);
    return report;
  }
  report.bytes = Buffer.byteLength(JSON.stringify(input), "utf8"); // compact, as the bot sends it
  if (report.bytes > maxBytes) {
    report.problems.push(`the card is ${report.bytes} bytes of JSON; keep it under ${maxBytes} (Teams refuses messages over about 100 KB)`);
  }
  if (!isObject(input) || input.type !== "AdaptiveCard") {
    report.problems.push(`not an Adaptive Card: the top level must be an object with "type": "AdaptiveCard"`);
    return report;
  }
  const declared = AC.Version.parse(input.version, new AC.SerializationContext(TARGET));
  if (!declared || !declared.isValid) {
    report.problems.push(`version ${show(input.version)} is not a valid Adaptive Cards version`);
  } else if (declared.compareTo(TARGET) > 0) {
    report.problems.push(`version ${input.version} is newer than ${TARGET}, the version Teams renders`);
  }

  const pristine = JSON.parse(text); // the parser must not be able to hide changes by editing its input
  const context = new AC.SerializationContext(TARGET);
  const card = new AC.AdaptiveCard();
  try {
    card.parse(input, context);
  } catch (e) {
    report.problems.push(`the parser failed: ${e.message}`);
    return report;
  }
  for (let i = 0; i < context.eventCount; i++) report.problems.push(describe(context.getEventAt(i)));
  const validation = card.validateProperties();
  for (const event of validation.validationEvents) report.problems.push(describe(event));

  const output = card.toJSON(context);
  if (!sameValue(input, pristine)) report.problems.push("the parser changed its input (internal error of this check)");
  compare(input, output, "$", report);
  return report;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const reports = cardFiles(opts.inputs).map((f) => checkCard(f, opts.maxBytes));
  const failed = reports.filter((r) => r.problems.length > 0);
  if (opts.json) {
    process.stdout.write(JSON.stringify({
      library: `adaptivecards ${require("adaptivecards/package.json").version}`,
      targetVersion: TARGET.toString(),
      maxBytes: opts.maxBytes,
      checked: reports.length,
      failed: failed.length,
      cards: reports,
    }, null, 2) + "\n");
  } else {
    for (const r of reports) {
      const extras = [];
      if (r.defaultsOmitted.length) extras.push(`${r.defaultsOmitted.length} default value(s) omitted`);
      if (r.fallbacks.length) extras.push(`${r.fallbacks.length} fallback(s)`);
      if (r.teamsExtensions.length) extras.push("msteams extension");
      const status = r.problems.length ? "FAIL" : "ok  ";
      process.stdout.write(`${status} ${r.file} (${r.bytes} bytes${extras.length ? "; " + extras.join(", ") : ""})\n`);
      for (const p of r.problems) process.stdout.write(`       - ${p}\n`);
    }
    const biggest = reports.reduce((a, b) => (b.bytes > a.bytes ? b : a), reports[0]);
    process.stdout.write(
      `${reports.length} card(s) checked with adaptivecards ${require("adaptivecards/package.json").version} ` +
      `(target ${TARGET}): ${failed.length} with problems; largest ${biggest.file}, ${biggest.bytes} bytes (limit ${opts.maxBytes})\n`
    );
  }
  return failed.length ? 1 : 0;
}

// exitCode, not process.exit(): a large report written to a pipe must be flushed first.
try {
  process.exitCode = main();
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  process.stderr.write(`validate-cards: ${e.message}\nusage: node validate-cards.js DIR_OR_FILE... [--json] [--max-bytes N]\n`);
  process.exitCode = 2;
}
