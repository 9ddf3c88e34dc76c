// Shopper events for the e-commerce manager's AR stats: every <model-viewer data-vitrine-sku>
// on the page (ours, the embed page, or a storefront's pasted snippet) reports view,
// model_loaded, ar_button_shown, ar_launched, its AR status and Quick Look banner taps to the
// URL in its data-vitrine-events attribute.
//
// No personal data and no cookies: the body is the product and the event name, nothing else.
// sendBeacon with a text/plain body is a "simple" cross-origin request (no preflight), survives
// the page being left for Scene Viewer or Quick Look, and sends no credentials we ever set.

const AR_STATUS_EVENTS = {
  "session-started": "ar_session_started",
  "object-placed": "ar_object_placed",
  failed: "ar_failed",
};

function reporter(viewer) {
  const endpoint = viewer.dataset.vitrineEvents;
  const product = { tenant: viewer.dataset.vitrineTenant, sku: viewer.dataset.vitrineSku };
  const sent = new Set();
  return (type, { once = false } = {}) => {
    if (once && sent.has(type)) return;
    sent.add(type);
    const body = new Blob([JSON.stringify({ ...product, type })], { type: "text/plain" });
    if (!navigator.sendBeacon(endpoint, body)) {
      fetch(endpoint, { method: "POST", body, mode: "no-cors", keepalive: true, credentials: "omit" }).catch(() => {});
    }
  };
}


// model-viewer settles its AR mode asynchronously (it may first ask whether WebXR works, or for
// the device's form factor) and says so by no event: look a few times a second for a while.
async function watchArButton(viewer, shown, { everyMs = 250, forMs = 15000 } = {}) {
  await customElements.whenDefined("model-viewer");
  for (let waited = 0; waited <= forMs; waited += everyMs) {
    if (viewer.canActivateAR) return shown();
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export function trackViewer(viewer) {
  if (!viewer.dataset.vitrineEvents || viewer.vitrineTracked) return;
  viewer.vitrineTracked = true;
  const report = reporter(viewer);
  report("view", { once: true });
  if (viewer.loaded) report("model_loaded", { once: true });
  else viewer.addEventListener("load", () => report("model_loaded", { once: true }), { once: true });
  watchArButton(viewer, () => report("ar_button_shown", { once: true }));
  // The AR button (slotted or model-viewer's own) lives in the element: a click inside it starts AR.
  viewer.addEventListener("click", (event) => {
    if (event.target.closest("[slot=ar-button]") || event.composedPath().some((el) => el.classList?.contains("ar-button"))) {
      if (viewer.canActivateAR) report("ar_launched");
    }
  });
  viewer.addEventListener("ar-status", (event) => {
    const type = AR_STATUS_EVENTS[event.detail.status];
    if (type) report(type);
  });
  viewer.addEventListener("quick-look-button-tapped", () => report("quick_look_cta_tapped"));
}

for (const viewer of document.querySelectorAll("model-viewer[data-vitrine-sku]")) {
  trackViewer(viewer);
}
