// Encodes raw RGBA images to KTX2 (Basis Universal) for processing/ktx2.py, which documents the
// choices. argv[2] is a JSON manifest: [{input, width, height, output, kind}], kind "colour",
// "normal" or "data". Exits non-zero with the reason on stderr.
import { readFileSync, writeFileSync } from "node:fs";
import { encodeToKTX2 } from "ktx2-encoder";

const jobs = JSON.parse(readFileSync(process.argv[2], "utf8"));
for (const job of jobs) {
  const pixels = readFileSync(job.input);
  const colour = job.kind === "colour";
  const ktx2 = await encodeToKTX2(pixels, {
    isUASTC: !colour,
    isNormalMap: job.kind === "normal",
    isSetKTX2SRGBTransferFunc: colour,
    isPerceptual: colour,
    generateMipmap: true,
    needSupercompression: true,
    qualityLevel: 128,
    compressionLevel: 1,
    uastcLDRQualityLevel: 1,
    imageDecoder: async () => ({
      width: job.width,
      height: job.height,
      data: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength),
    }),
  });
  writeFileSync(job.output, ktx2);
}
