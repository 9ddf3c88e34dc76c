// three.js USDZExporter (what <model-viewer> runs in the browser for Quick Look when no ios-src is
// given) under Node, for bench/usdz_export.py. Usage:
//   node bench/usdz_three.mjs OUT_DIR REPEAT MODEL.glb...
// Each GLB is loaded with GLTFLoader (as model-viewer does), then exported REPEAT times; prints one
// JSON line per model: {"file", "seconds" (median export time), "bytes", "error"?}.
//
// The browser pieces the exporter touches are shimmed with @napi-rs/canvas (Skia): images decode
// to its Image (standing in for ImageBitmap), `document.createElement('canvas')` gives its Canvas,
// and `toBlob` encodes PNG as a browser would. Export time includes that PNG re-encoding, as it
// does on a phone.
import { Blob, resolveObjectURL } from 'node:buffer';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { createCanvas, Image, loadImage } from '@napi-rs/canvas';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
import { USDZExporter } from 'three/examples/jsm/exporters/USDZExporter.js';

globalThis.self = globalThis;
globalThis.ImageBitmap = Image;
globalThis.createImageBitmap = async (blob) => loadImage(Buffer.from(await blob.arrayBuffer()));
const nodeFetch = globalThis.fetch;
globalThis.fetch = async (url, options) => {
  // GLTFLoader hands embedded images to ImageBitmapLoader as blob: URLs.
  if (String(url).startsWith('blob:')) return new Response(resolveObjectURL(String(url)));
  return nodeFetch(url, options);
};
globalThis.document = {
  createElement(kind) {
    if (kind !== 'canvas') throw new Error(`no shim for <${kind}>`);
    const canvas = createCanvas(1, 1);
    canvas.toBlob = (done, type = 'image/png') => done(new Blob([canvas.toBuffer(type)], { type }));
    return canvas;
  },
  createElementNS(_, kind) {
    return this.createElement(kind);
  },
};

async function load(path) {
  const data = readFileSync(path);
  const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  return new Promise((resolve, reject) => new GLTFLoader().parse(buffer, '', resolve, reject));
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main() {
  const [outDir, repeat, ...models] = process.argv.slice(2);
  mkdirSync(outDir, { recursive: true });
  for (const model of models) {
    const row = { file: model };
    try {
      const gltf = await load(model);
      gltf.scene.updateWorldMatrix(false, true);
      const times = [];
      let output;
      for (let i = 0; i < Number(repeat); i++) {
        const started = performance.now();
        output = await new USDZExporter().parseAsync(gltf.scene, { maxTextureSize: Infinity });
        times.push((performance.now() - started) / 1000);
      }
      const target = join(outDir, basename(model, '.glb') + '.usdz');
      writeFileSync(target, Buffer.from(output));
      Object.assign(row, { seconds: median(times), bytes: output.byteLength, output: target });
    } catch (error) {
      row.error = String(error && error.message ? error.message : error).slice(0, 200);
    }
    console.log(JSON.stringify(row));
  }
}

main();
