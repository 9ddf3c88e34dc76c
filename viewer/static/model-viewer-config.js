// Where <model-viewer> finds its decoders: on this service, next to the bundle, instead of the
// CDN defaults compiled into it. It reads self.ModelViewerElement when it starts, so this
// classic script must run before the bundle (a module, so deferred). Without
// meshoptDecoderLocation a meshopt-compressed GLB would not load at all. URLs are made absolute
// from this script's own address, so they stay right wherever /static is mounted.
(() => {
  const vendor = new URL("vendor/", document.currentScript.src);
  self.ModelViewerElement = Object.assign(self.ModelViewerElement || {}, {
    dracoDecoderLocation: new URL("draco/", vendor).href,
    ktx2TranscoderLocation: new URL("basis/", vendor).href,
    meshoptDecoderLocation: new URL("meshopt_decoder.js", vendor).href,
  });
})();
