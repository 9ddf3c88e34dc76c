// The product page's behaviour (kept out of the HTML so the page's CSP can forbid inline
// script): dimension labels on and off, the desktop "View in your room" QR code, the Quick Look
// banner's button, and the shopper events (events.js).
import "./events.js"; // reports this page's events

const viewer = document.querySelector("model-viewer");

function setUpDimensions() {
  const toggle = viewer.querySelector(".dimensions-toggle");
  if (!toggle) return;
  toggle.addEventListener("click", () => {
    const shown = toggle.getAttribute("aria-pressed") !== "true";
    toggle.setAttribute("aria-pressed", String(shown));
    viewer.classList.toggle("dimensions-hidden", !shown);
  });
}

// Desktop browsers cannot start AR: offer a QR code that opens this same page on a phone.
// model-viewer settles its AR mode asynchronously (it may first ask whether WebXR works), so
// the answer is read once the model has loaded, not earlier.
async function setUpQrCode() {
  const section = document.querySelector(".qr");
  if (!section) return;
  await customElements.whenDefined("model-viewer");
  if (!viewer.loaded) await new Promise((resolve) => viewer.addEventListener("load", resolve, { once: true }));
  if (viewer.canActivateAR) return;
  const button = section.querySelector(".qr-button");
  const panel = section.querySelector(".qr-panel");
  section.hidden = false;
  button.addEventListener("click", () => {
    const open = panel.hidden;
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    viewer.classList.toggle("qr-open", open); // labels would draw over the code
  });
}

// The Quick Look banner's button: take the shopper to the product in the shop, if we know it.
function setUpCheckout() {
  const link = viewer.dataset.vitrineLink;
  if (!link) return;
  viewer.addEventListener("quick-look-button-tapped", () => {
    window.location.assign(link);
  });
}

if (viewer) {
  setUpDimensions();
  setUpCheckout();
  setUpQrCode();
}
