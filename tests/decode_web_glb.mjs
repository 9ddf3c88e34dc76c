// Decode a meshopt-compressed GLB with the decoder model-viewer runs in the browser (npm
// meshoptimizer's MeshoptDecoder) and write it back uncompressed (quantisation kept), so the
// Khronos validator can check the decoded data: node decode_web_glb.mjs IN.glb OUT.glb
import { readFile, writeFile } from "node:fs/promises";
import { MeshoptDecoder } from "meshoptimizer";

const [input, output] = process.argv.slice(2);
const glb = await readFile(input);
const jsonLength = glb.readUInt32LE(12);
const gltf = JSON.parse(glb.subarray(20, 20 + jsonLength).toString());
const bin = glb.subarray(20 + jsonLength + 8);
await MeshoptDecoder.ready;

const chunks = [];
let length = 0;
for (const view of gltf.bufferViews) {
  const ext = view.extensions?.EXT_meshopt_compression;
  let data;
  if (ext) {
    data = new Uint8Array(ext.count * ext.byteStride);
    const source = bin.subarray(ext.byteOffset, ext.byteOffset + ext.byteLength);
    MeshoptDecoder.decodeGltfBuffer(data, ext.count, ext.byteStride, source, ext.mode, ext.filter || "NONE");
    delete view.extensions;
  } else {
    data = bin.subarray(view.byteOffset, view.byteOffset + view.byteLength);
  }
  const padding = (4 - (length % 4)) % 4;
  chunks.push(new Uint8Array(padding), data);
  length += padding;
  view.buffer = 0;
  view.byteOffset = length;
  view.byteLength = data.length;
  length += data.length;
}
gltf.buffers = [{ byteLength: length }];
for (const key of ["extensionsUsed", "extensionsRequired"]) {
  gltf[key] = gltf[key].filter((name) => name !== "EXT_meshopt_compression");
}
const body = Buffer.concat(chunks.map((c) => Buffer.from(c)));
let json = Buffer.from(JSON.stringify(gltf));
json = Buffer.concat([json, Buffer.alloc((4 - (json.length % 4)) % 4, 0x20)]);
const binPadded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
const header = Buffer.alloc(12);
header.write("glTF", 0);
header.writeUInt32LE(2, 4);
header.writeUInt32LE(12 + 8 + json.length + 8 + binPadded.length, 8);
const jsonHeader = Buffer.alloc(8);
jsonHeader.writeUInt32LE(json.length, 0);
jsonHeader.writeUInt32LE(0x4e4f534a, 4);
const binHeader = Buffer.alloc(8);
binHeader.writeUInt32LE(binPadded.length, 0);
binHeader.writeUInt32LE(0x004e4942, 4);
await writeFile(output, Buffer.concat([header, jsonHeader, json, binHeader, binPadded]));
