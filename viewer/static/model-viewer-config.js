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

// The inline view shows the `web` flavour (quantised, meshopt-compressed: a fraction of the `ar`
// file's bytes) wherever AR will not be handed `src`: Android's Scene Viewer is given `src` and
// cannot decode that file, so Android keeps the `ar` GLB; Quick Look (iPhone, iPad) opens
// `ios-src`, and desktops start no AR. Our pages name the web file in data-vitrine-web-src. The
// swap is made when parsing ends ("interactive"), before module scripts run, so the bundle
// upgrades the element with its final `src` and only one model is fetched.
(() => {
  const chooseInlineModels = () => {
    if (/android/i.test(navigator.userAgent)) return;
    for (const viewer of document.querySelectorAll("model-viewer[data-vitrine-web-src]")) {
      viewer.setAttribute("src", viewer.dataset.vitrineWebSrc);
    }
  };
  if (document.readyState === "loading") {
    document.addEventListener("readystatechange", chooseInlineModels, { once: true });
  } else {
    chooseInlineModels();
  }
})();
