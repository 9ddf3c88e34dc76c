// Decodes KTX2 files with the Basis Universal transcoder three.js ships — the one the viewer page
// serves to shoppers — to raw RGBA of their full-size level. Arguments: pairs "<in.ktx2> <out.rgba>".
// Prints one JSON line per file: {valid, width, height, levels, uastc, alpha}.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";

const require = createRequire(import.meta.url);
const transcoder = require.resolve("three/examples/jsm/libs/basis/basis_transcoder.js");
// A classic script defining BASIS, which three's package would load as an ES module: evaluated as
// the CommonJS code it is written for.
const BASIS = new Function("require", "__filename", "__dirname", `${readFileSync(transcoder, "utf8")}\nreturn BASIS;`)(
  require, transcoder, dirname(transcoder));
const basis = await BASIS({ wasmBinary: readFileSync(transcoder.replace(/\.js$/, ".wasm")) });
basis.initializeBasis();
const RGBA32 = basis.transcoder_texture_format.cTFRGBA32.value;

const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  const file = new basis.KTX2File(new Uint8Array(readFileSync(args[i])));
  const info = { valid: Boolean(file.isValid()) };
  if (info.valid) {
    Object.assign(info, { width: file.getWidth(), height: file.getHeight(), levels: file.getLevels(),
                          uastc: Boolean(file.isUASTC()), alpha: Boolean(file.getHasAlpha()) });
    const pixels = new Uint8Array(file.getImageTranscodedSizeInBytes(0, 0, 0, RGBA32));
    info.valid = Boolean(file.startTranscoding()) && Boolean(file.transcodeImage(pixels, 0, 0, 0, RGBA32, 0, -1, -1));
    writeFileSync(args[i + 1], pixels);
  }
  file.close();
  file.delete();
  console.log(JSON.stringify(info));
}
