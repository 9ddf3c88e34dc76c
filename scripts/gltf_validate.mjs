#!/usr/bin/env node
// Validate glTF/GLB files with the Khronos glTF-Validator (npm `gltf-validator`, pinned in
// package-lock.json) and print one JSON line per file, so tests and humans get the official
// verdict without a browser or the Dart toolchain:
//   {"file", "numErrors", "numWarnings", "numInfos", "numHints", "errors": [codes],
//    "warnings": [codes], "messages": ["SEVERITY CODE pointer: message", ...]}
// Exit status: 0 when every file has zero errors, 1 otherwise, 2 on bad usage.
// A file the validator cannot parse at all counts as one error with the code VALIDATOR_REJECTED.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { validateBytes } from "gltf-validator";

const SEVERITY = ["ERROR", "WARNING", "INFO", "HINT"];
const MAX_MESSAGES = 20;

function uniqueCodes(messages, severity) {
  return [...new Set(messages.filter((m) => m.severity === severity).map((m) => m.code))].sort();
}

// External buffers and images of a .gltf are read only from the file's own folder.
function externalResourceLoader(file) {
  const root = path.dirname(path.resolve(file));
  return async (uri) => {
    const target = path.resolve(root, decodeURIComponent(uri));
    const inside = path.relative(root, target);
    if (inside.startsWith("..") || path.isAbsolute(inside)) {
      throw new Error(`external resource outside the asset folder: ${uri}`);
    }
    return new Uint8Array(await readFile(target));
  };
}

async function validate(file) {
  let report;
  try {
    const data = new Uint8Array(await readFile(file));
    report = await validateBytes(data, {
      uri: path.basename(file),
      maxIssues: 0,
      writeTimestamp: false,
      externalResourceFunction: externalResourceLoader(file),
    });
  } catch (error) {
    return {
      file, numErrors: 1, numWarnings: 0, numInfos: 0, numHints: 0,
      errors: ["VALIDATOR_REJECTED"], warnings: [], messages: [`ERROR VALIDATOR_REJECTED: ${error}`],
    };
  }
  const { issues } = report;
  return {
    file,
    numErrors: issues.numErrors,
    numWarnings: issues.numWarnings,
    numInfos: issues.numInfos,
    numHints: issues.numHints,
    errors: uniqueCodes(issues.messages, 0),
    warnings: uniqueCodes(issues.messages, 1),
    // Errors first: a capped list must still show what failed.
    messages: [...issues.messages]
      .sort((a, b) => a.severity - b.severity)
      .slice(0, MAX_MESSAGES)
      .map((m) => `${SEVERITY[m.severity]} ${m.code} ${m.pointer ?? ""}: ${m.message}`),
  };
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node scripts/gltf_validate.mjs FILE.glb|FILE.gltf ...");
  process.exit(2);
}
let failed = false;
for (const file of files) {
  const result = await validate(file);
  failed ||= result.numErrors > 0;
  console.log(JSON.stringify(result));
}
process.exit(failed ? 1 : 0);
