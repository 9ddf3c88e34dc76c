// The catalog dashboard (/dashboard and /dashboard/products/<sku>): the pages are empty shells,
// this script signs in with an API key and fills them from the JSON API.
//
// The key is kept in sessionStorage only: it lives as long as the tab, is never persisted nor
// put in a URL, and is sent only to this service's own /v1 API (posters,
// models and reports are public objects, fetched without it). Text from the catalog reaches
// the page as text nodes and attribute values, never as HTML.

const KEY_ITEM = "vitrine3d.apiKey";
const NOTICE_ITEM = "vitrine3d.loginNotice"; // why the last session ended, shown on the login form
const PAGE_SIZE = 100;
const POLL_MS = 1000;
const CAMERA_ORBIT = "30deg 75deg 105%"; // the public viewer's (viewer/pages.py)
const CM_PER_UNIT = { mm: 0.1, cm: 1, m: 100, in: 2.54, ft: 30.48 };
const AXES = ["width", "height", "depth"];

const main = document.querySelector("main");

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(path, key, { method = "GET", body } = {}) {
  if (!path.startsWith("/v1/")) throw new Error(`not an API path: ${path}`); // the key stays here
  const headers = { Authorization: `Bearer ${key}`, Accept: "application/json" };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "NETWORK", "The service cannot be reached. Check your connection and try again.");
  }
  if (response.ok) return response.status === 204 ? null : response.json();
  const error = await response.json().then((data) => data.error, () => null);
  throw new ApiError(response.status, error?.code ?? `HTTP_${response.status}`, error?.message ?? response.statusText);
}

// A call with the tab's key. A 401 means the key was revoked meanwhile: back to the login form.
async function api(path, options) {
  try {
    return await request(path, sessionStorage.getItem(KEY_ITEM), options);
  } catch (error) {
    if (error.status === 401) signOut(`You were signed out: ${error.message}`);
    throw error;
  }
}

const productPath = (sku) => `/v1/products/${encodeURIComponent(sku)}`;

// ---------------------------------------------------------------- DOM and formatting helpers

// h("a", { href, class }, "text", child): an element; strings become text nodes, never markup.
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

const $ = (selector, root = document) => root.querySelector(selector);
const NONE = "—";

function formatCount(value) {
  return typeof value === "number" ? value.toLocaleString("en") : NONE;
}

function formatBytes(bytes) {
  if (typeof bytes !== "number") return NONE;
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;
}

function formatPercent(rate) {
  return typeof rate === "number" ? `${(rate * 100).toFixed(1)} %` : NONE;
}

function formatCm(values) {
  return values ? values.map((v) => (Math.round(v * 10) / 10).toLocaleString("en")).join(" × ") : NONE;
}

const declaredCm = (d) => (d ? AXES.map((axis) => d[axis] * CM_PER_UNIT[d.unit]) : null);
const measuredCm = (m) => (m ? AXES.map((axis) => m[axis] * 100) : null);

// The API's times are UTC; those without an offset are read as UTC, not as local time.
function time(iso) {
  if (!iso) return NONE;
  const date = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
  const text = date.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
  return h("time", { datetime: date.toISOString() }, text);
}

const shortId = (id) => h("code", { title: id }, String(id).slice(0, 8));

function statusBadge(job) {
  if (!job) return h("span", { class: "badge badge-none" }, "no upload");
  const badge = h("span", { class: `badge badge-${job.status}` }, job.status);
  if (job.status !== "failed" || !job.error) return badge;
  const code = h("code", { class: "error-code", title: job.error.message }, job.error.code);
  return h("span", { class: "status-failed" }, badge, " ", code);
}

const mismatchBadge = () => h("span", { class: "badge badge-failed" }, "mismatch");

function numberCell(text) {
  return h("td", { class: "num" }, text);
}

function setNotice(element, text, kind = "info") {
  element.textContent = text;
  element.hidden = !text;
  element.classList.toggle("notice-error", kind === "error");
}

// ---------------------------------------------------------------- signing in and out

function signOut(notice) {
  sessionStorage.removeItem(KEY_ITEM);
  if (notice) sessionStorage.setItem(NOTICE_ITEM, notice);
  // A fresh shell: nothing of the catalog stays in the page once the key is gone.
  window.location.reload();
}

function showLogin() {
  const section = $(".login");
  const error = $("#login-error");
  const notice = sessionStorage.getItem(NOTICE_ITEM);
  sessionStorage.removeItem(NOTICE_ITEM);
  section.hidden = false;
  if (notice) setNotice(error, notice, "error");
  const form = $(".login-form");
  const input = $("#api-key");
  input.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      setNotice(error, "Enter your API key.", "error");
      input.focus();
      return;
    }
    const button = $("button[type=submit]", form);
    button.disabled = true;
    setNotice(error, "");
    try {
      await request("/v1/products?limit=1", key); // the cheapest call that proves the key
      sessionStorage.setItem(KEY_ITEM, key);
      input.value = "";
      section.hidden = true;
      startApp();
      const heading = $(".app h1");
      heading.tabIndex = -1; // focus moves to what the form revealed, for keyboards and screen readers
      heading.focus();
    } catch (failure) {
      const message =
        failure.status === 401 ? `This API key was not accepted: ${failure.message}` : failure.message;
      setNotice(error, message, "error");
      input.select();
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
}

function startApp() {
  const logout = $(".logout");
  logout.hidden = false;
  logout.addEventListener("click", () => signOut());
  $(".app").hidden = false;
  if (main.dataset.page === "product") showProductPage(main.dataset.sku);
  else showListPage();
}

// ---------------------------------------------------------------- the product list

const FILTERS = {
  failed: (p) => p.latest_job?.status === "failed",
  warnings: (p) => (p.summary?.warnings ?? 0) > 0,
  mismatch: (p) => p.summary?.dimension_mismatch === true,
};

function poster(product) {
  const url = product.assets?.poster;
  if (!url) {
    return h("span", { class: "thumb thumb-missing", role: "img", "aria-label": `No poster for ${product.name}` }, "No image");
  }
  const size = { width: 64, height: 64 };
  return h("img", { class: "thumb", src: url, alt: `Poster of ${product.name}`, ...size, loading: "lazy", decoding: "async" });
}

function productRow(product) {
  const summary = product.summary;
  const bytes = summary?.bytes ?? {};
  const mismatch = summary?.dimension_mismatch === true;
  const warnings = summary?.warnings;
  return h(
    "tr",
    { "data-sku": product.sku },
    h("td", { class: "thumb-cell" }, poster(product)),
    h(
      "th",
      { scope: "row", class: "product-cell" },
      h("a", { href: `/dashboard/products/${encodeURIComponent(product.sku)}`, class: "product-link" }, product.name),
      h("span", { class: "sku" }, product.sku),
    ),
    h("td", { class: "status-cell" }, statusBadge(product.latest_job)),
    numberCell(formatCount(summary?.triangles)),
    numberCell(formatBytes(bytes.glb)),
    numberCell(formatBytes(bytes.glb_web)),
    numberCell(formatBytes(bytes.usdz)),
    h("td", { class: "dims" }, formatCm(declaredCm(product.dimensions))),
    h(
      "td",
      { class: mismatch ? "dims dims-mismatch" : "dims" },
      formatCm(measuredCm(product.dimensions_m)),
      mismatch ? mismatchBadge() : null,
    ),
    numberCell(warnings ? h("span", { class: "badge badge-warning" }, formatCount(warnings)) : formatCount(warnings)),
    numberCell(formatPercent(product.engagement?.ar_launch_rate)),
  );
}

async function showListPage() {
  const tbody = $(".products tbody");
  const status = $(".list-status");
  const search = $("#search");
  const boxes = [...document.querySelectorAll("input[name=filter]")];
  const rows = []; // [product, row], in the API's order
  let loading = true;

  function applyFilters() {
    const chosen = boxes.filter((box) => box.checked).map((box) => FILTERS[box.value]);
    const text = search.value.trim().toLowerCase();
    let shown = 0;
    for (const [product, row] of rows) {
      const visible =
        chosen.every((test) => test(product)) &&
        (!text || product.sku.toLowerCase().includes(text) || product.name.toLowerCase().includes(text));
      row.hidden = !visible;
      shown += visible;
    }
    const total = rows.length === 1 ? "1 product" : `${rows.length} products`;
    status.textContent = `Showing ${shown} of ${total}${loading ? " (loading more…)" : ""}.`;
  }

  boxes.forEach((box) => box.addEventListener("change", applyFilters));
  search.addEventListener("input", applyFilters);
  loadDeliveries();
  try {
    for (let offset = 0; ; offset += PAGE_SIZE) {
      const { products } = await api(`/v1/products?limit=${PAGE_SIZE}&offset=${offset}`);
      const added = products.map((product) => [product, productRow(product)]);
      rows.push(...added);
      tbody.append(...added.map(([, row]) => row));
      loading = products.length === PAGE_SIZE;
      applyFilters();
      if (!loading) break;
    }
  } catch (error) {
    status.textContent = `The products could not be loaded: ${error.message}`;
    status.classList.add("notice-error");
  }
}

async function loadDeliveries() {
  const status = $(".webhooks-status");
  const region = $(".webhooks .table-scroll");
  let deliveries;
  try {
    ({ deliveries } = await api("/v1/webhooks/deliveries"));
  } catch (error) {
    status.textContent = error.status === 404 ? "No webhooks." : `The deliveries could not be loaded: ${error.message}`;
    return;
  }
  if (!deliveries?.length) {
    status.textContent = "No webhooks.";
    return;
  }
  status.textContent = `${deliveries.length} most recent deliveries.`;
  region.hidden = false;
  $(".deliveries tbody").replaceChildren(
    ...deliveries.map((d) =>
      h(
        "tr",
        {},
        h("td", {}, time(d.created)),
        h("td", {}, h("code", {}, d.event)),
        h("td", { class: "wrap" }, d.url ?? NONE),
        h("td", {}, h("span", { class: `badge badge-${d.status}` }, d.status)),
        numberCell(formatCount(d.attempts)),
        numberCell(d.last_status ?? NONE),
        h("td", { class: "wrap" }, d.last_error ?? NONE),
        h("td", {}, time(d.delivered)),
      ),
    ),
  );
}

// ---------------------------------------------------------------- one product

async function showProductPage(sku) {
  const pageStatus = $(".page-status");
  let product;
  try {
    product = await api(productPath(sku));
  } catch (error) {
    const text = error.status === 404 ? `There is no product with SKU ${sku} in this catalog.` : error.message;
    setNotice(pageStatus, text, "error");
    for (const panel of document.querySelectorAll(".panel")) panel.hidden = true;
    return;
  }
  renderProduct(product);
  setUpReprocess(sku);
  await Promise.all([loadVersions(sku), loadJobs(sku), loadEmbed(sku)]);
}

// Everything that shows the published version: called again after a re-process or a rollback.
async function refreshProduct(sku) {
  const product = await api(productPath(sku));
  renderProduct(product);
  await Promise.all([loadVersions(sku), loadJobs(sku), loadEmbed(sku)]);
  return product;
}

function renderProduct(product) {
  document.title = `${product.name} · Catalog dashboard · Vitrine3D`;
  $(".product-title").textContent = product.name;
  $(".product-status").replaceChildren(statusBadge(product.latest_job));
  const view = $(".view-link");
  view.hidden = !product.view_url;
  if (product.view_url) view.href = product.view_url;
  renderViewer(product);
  renderFacts(product);
  loadReport(product);
}

function renderViewer(product) {
  const slot = $(".viewer-slot");
  if (!product.assets) {
    slot.replaceChildren(h("p", { class: "empty" }, "Nothing is published yet."));
    return;
  }
  const current = $("model-viewer", slot);
  if (current?.getAttribute("src") === product.assets.glb) return; // same version: keep the camera
  slot.replaceChildren(
    h("model-viewer", {
      class: "dashboard-model",
      src: product.assets.glb,
      poster: product.assets.poster,
      alt: `3D model of ${product.name}`,
      loading: "eager",
      "camera-controls": true,
      "camera-orbit": CAMERA_ORBIT,
      "touch-action": "pan-y",
      "interaction-prompt": "none",
      "environment-image": "neutral",
      "shadow-intensity": "1",
    }),
  );
}

function renderFacts(product) {
  const summary = product.summary;
  const mismatch = summary?.dimension_mismatch === true;
  const facts = [
    ["Declared (cm)", formatCm(declaredCm(product.dimensions))],
    ["Measured (cm)", [formatCm(measuredCm(product.dimensions_m)), mismatch ? [" ", mismatchBadge()] : null]],
    ["Triangles", formatCount(summary?.triangles)],
    ["GLB", formatBytes(summary?.bytes?.glb)],
    ["Web GLB", formatBytes(summary?.bytes?.glb_web)],
    ["USDZ", formatBytes(summary?.bytes?.usdz)],
    ["Warnings", formatCount(summary?.warnings)],
    ["Published version", product.version ?? NONE],
  ];
  if (product.source) {
    facts.push(["Uploaded file", `${product.source.filename} (${formatBytes(product.source.size)})`]);
  }
  if (product.latest_job?.error) {
    facts.push(["Last error", `${product.latest_job.error.code}: ${product.latest_job.error.message}`]);
  }
  $(".facts").replaceChildren(...facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

// ---------------------------------------------------------------- the report

async function loadReport(product) {
  const body = $(".report-body");
  if (!product.assets?.report) {
    body.replaceChildren(h("p", { class: "empty" }, "No report: nothing is published yet."));
    return;
  }
  let report;
  try {
    // A public object (maybe on a CDN): fetched without the key.
    const response = await fetch(product.assets.report, { credentials: "omit", referrerPolicy: "no-referrer" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    report = await response.json();
  } catch (error) {
    body.replaceChildren(h("p", { class: "notice notice-error" }, `The report could not be loaded (${error.message}).`));
    return;
  }
  body.replaceChildren(...renderReport(report));
}

const STAT_ROWS = [
  ["triangles", "Triangles"],
  ["vertices", "Vertices"],
  ["meshes", "Meshes"],
  ["instances", "Instances"],
  ["materials", "Materials"],
  ["textures", "Textures"],
];

const FILE_LABELS = { glb: "AR GLB", glb_web: "Web GLB", usdz: "USDZ", poster: "Poster", report: "Report" };

// Losses that only one platform suffers, told apart by how the pipeline words them
// (processing/export_usdz.py prefixes "USDZ:", processing/export_glb.py names Scene Viewer).
const PLATFORMS = [
  { name: "iPhone: Quick Look (USDZ)", validation: "usdz", loses: (w) => w.startsWith("USDZ:") },
  { name: "Android: Scene Viewer (AR GLB)", validation: "glb", loses: (w) => w.includes("Scene Viewer") },
];

// A report table: the first column names the rows; the others hold figures unless `numeric` is false.
function table(className, caption, head, rows, numeric = true) {
  return h(
    "table",
    { class: className },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, head.map((text, i) => h("th", { scope: "col", class: i && numeric ? "num" : null }, text)))),
    h("tbody", {}, rows),
  );
}

function sizeText(size, unit) {
  return Array.isArray(size) ? `${size.map((v) => Number(v.toPrecision(4)).toLocaleString("en")).join(" × ")} ${unit}` : NONE;
}

function list(className, items, emptyText) {
  if (!items?.length) return h("p", { class: `${className} empty` }, emptyText);
  return h("ul", { class: className }, items.map((item) => h("li", {}, item)));
}

function renderReport(report) {
  const input = report.input ?? {};
  const output = report.output ?? {};
  const settings = report.settings ?? {};
  const statRows = STAT_ROWS.map(([key, label]) =>
    h("tr", {}, h("th", { scope: "row" }, label), numberCell(formatCount(input[key])), numberCell(formatCount(output[key]))),
  );
  statRows.push(
    h(
      "tr",
      {},
      h("th", { scope: "row" }, "Size"),
      numberCell(sizeText(input.size, "(file units)")),
      numberCell(sizeText(output.size, "m")),
    ),
  );
  const files = Object.entries(output.files ?? {}).map(([kind, bytes]) =>
    h("tr", {}, h("th", { scope: "row" }, FILE_LABELS[kind] ?? kind), numberCell(formatBytes(bytes))),
  );
  const warnings = report.warnings ?? [];
  const platformRows = PLATFORMS.map((platform) => {
    const errors = report.validation?.[platform.validation]?.errors ?? [];
    const losses = warnings.filter(platform.loses);
    return h(
      "tr",
      {},
      h("th", { scope: "row" }, platform.name),
      h("td", {}, errors.length ? list("errors", errors, "") : h("span", { class: "badge badge-succeeded" }, "passed")),
      h("td", {}, list("losses", losses, "None")),
    );
  });
  const steps = (report.steps ?? []).map((step) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, step.name),
      numberCell(`${step.seconds.toFixed(2)} s`),
      numberCell(formatCount(step.triangles_before)),
      numberCell(formatCount(step.triangles_after)),
    ),
  );
  const source = report.source ?? {};
  const used = [
    ["Triangle budget", formatCount(settings.max_triangles)],
    ["Unit", settings.unit ?? "from the file or the dimensions"],
    ["Up axis", settings.up_axis ?? "from the file"],
    ["Front", settings.front ?? "+z"],
    ["Fit", settings.fit ?? NONE],
    ["Tolerance", settings.dimension_tolerance ?? NONE],
    ["Uploaded file", source.format ? `${source.format}${source.archive ? " in a zip" : ""}, ${formatBytes(source.bytes)}` : NONE],
  ];
  return [
    h(
      "div",
      { class: "report-grid" },
      h("div", {}, table("report-stats", "Before and after", ["", "Uploaded", "Published"], statRows)),
      h(
        "div",
        {},
        table("report-files", "Files", ["", "Size"], files),
        h("h3", {}, "Settings used"),
        h("dl", { class: "facts report-settings" }, used.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
      ),
    ),
    h("h3", { id: "assumptions-title" }, `Assumptions (${(report.assumptions ?? []).length})`),
    list("assumptions", report.assumptions, "None: nothing had to be guessed."),
    h("h3", { id: "warnings-title" }, `Warnings (${warnings.length})`),
    list("warnings", warnings, "None: nothing was lost."),
    h(
      "div",
      { class: "table-scroll" },
      table("report-platforms", "Per platform", ["Platform", "Validation", "Losses"], platformRows, false),
    ),
    h(
      "details",
      { class: "report-steps" },
      h("summary", {}, "Time of each step"),
      table("steps", "Steps", ["Step", "Time", "Triangles before", "Triangles after"], steps),
    ),
  ];
}

// ---------------------------------------------------------------- versions, jobs, embed

let highlightJob = null; // the re-process job whose version is new on this page

async function loadVersions(sku) {
  const tbody = $(".versions-table tbody");
  const status = $(".versions-status");
  let versions;
  try {
    ({ versions } = await api(`${productPath(sku)}/versions`));
  } catch (error) {
    status.textContent = `The versions could not be loaded: ${error.message}`;
    return;
  }
  if (!versions.length) {
    tbody.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No versions yet.")));
    return;
  }
  tbody.replaceChildren(
    ...versions.map((version) =>
      h(
        "tr",
        { "data-version": version.id, class: version.job_id && version.job_id === highlightJob ? "is-new" : null },
        h("th", { scope: "row" }, h("code", {}, version.id)),
        h("td", {}, time(version.created)),
        h("td", {}, version.job_id ? shortId(version.job_id) : NONE),
        numberCell(formatCount(version.summary?.triangles)),
        h("td", { class: "dims" }, formatCm(measuredCm(version.dimensions_m))),
        numberCell(formatCount(version.summary?.warnings)),
        h(
          "td",
          {},
          version.published
            ? h("span", { class: "badge badge-succeeded" }, "published")
            : h(
                "button",
                {
                  type: "button",
                  class: "button-secondary republish",
                  "aria-label": `Re-publish version ${version.id}`,
                  onclick: (event) => republish(sku, version.id, event.currentTarget),
                },
                "Re-publish",
              ),
        ),
      ),
    ),
  );
}

async function republish(sku, versionId, button) {
  const status = $(".versions-status");
  button.disabled = true;
  status.textContent = `Publishing version ${versionId}…`;
  try {
    await api(`${productPath(sku)}/versions/${encodeURIComponent(versionId)}/publish`, { method: "POST" });
    highlightJob = null;
    await refreshProduct(sku);
    status.textContent = `Version ${versionId} is published again.`;
  } catch (error) {
    status.textContent = `Version ${versionId} could not be published: ${error.message}`;
    button.disabled = false;
  }
}

async function loadJobs(sku) {
  const tbody = $(".jobs-table tbody");
  let jobs;
  try {
    ({ jobs } = await api(`${productPath(sku)}/jobs`));
  } catch (error) {
    tbody.replaceChildren(h("tr", {}, h("td", { colspan: 6 }, `The jobs could not be loaded: ${error.message}`)));
    return;
  }
  tbody.replaceChildren(
    ...jobs.map((job) =>
      h(
        "tr",
        { "data-job": job.id },
        h("td", {}, time(job.created)),
        h("td", {}, job.kind ?? NONE),
        h(
          "td",
          {},
          h("span", { class: `badge badge-${job.status}` }, job.status),
          job.status === "running" ? ` ${Math.round(job.progress * 100)} %` : null,
        ),
        h("td", { class: "wrap" }, job.error ? [h("code", {}, job.error.code), ` ${job.error.message}`] : NONE),
        h("td", {}, time(job.finished)),
        h("td", {}, shortId(job.id)),
      ),
    ),
  );
  if (!jobs.length) tbody.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No jobs yet.")));
}

async function loadEmbed(sku) {
  const body = $(".embed-body");
  let embed;
  try {
    embed = await api(`${productPath(sku)}/embed`);
  } catch (error) {
    const text = error.status === 404 ? "Snippets are available once a model is published." : error.message;
    body.replaceChildren(h("p", { class: "empty" }, text));
    return;
  }
  const status = h("p", { class: "copy-status", role: "status", "aria-live": "polite" });
  const snippet = (id, label, text) => {
    const area = h("textarea", { id, readonly: true, rows: 5, spellcheck: "false" });
    area.value = text;
    return h(
      "div",
      { class: "snippet" },
      h("label", { for: id }, label),
      area,
      h(
        "button",
        { type: "button", class: "button-secondary", onclick: () => copy(area, label, status) },
        `Copy ${label.toLowerCase()}`,
      ),
    );
  };
  body.replaceChildren(
    h("p", {}, "Public page: ", h("a", { href: embed.view_url }, embed.view_url)),
    snippet("snippet-web-component", "Web component", embed.web_component),
    snippet("snippet-iframe", "Iframe", embed.iframe),
    status,
  );
}

async function copy(area, label, status) {
  try {
    await navigator.clipboard.writeText(area.value);
    status.textContent = `${label} snippet copied.`;
  } catch {
    // No clipboard access (a plain-http origin, or permission refused): let the person copy.
    area.focus();
    area.select();
    status.textContent = `${label} snippet selected: press Ctrl+C (⌘C) to copy it.`;
  }
}

// ---------------------------------------------------------------- re-processing

function reprocessBody(form) {
  const data = new FormData(form);
  const body = {};
  for (const [name, value] of data) {
    if (value === "") continue; // left out: the last run's setting is kept
    body[name] = name === "max_triangles" ? Number.parseInt(value, 10) : name === "tolerance" ? Number(value) : value;
  }
  return body;
}

function setUpReprocess(sku) {
  const form = $(".reprocess-form");
  const status = $(".reprocess-status");
  const progress = $(".job-progress");
  const button = $("button[type=submit]", form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    button.disabled = true;
    status.classList.remove("notice-error");
    status.textContent = "Starting…";
    try {
      const { job } = await api(`${productPath(sku)}/reprocess`, { method: "POST", body: reprocessBody(form) });
      progress.value = 0;
      progress.hidden = false;
      loadJobs(sku);
      const done = await followJob(job.id, (running) => {
        progress.value = running.progress ?? 0;
        status.textContent = `Job ${job.id.slice(0, 8)}: ${running.status}…`;
      });
      if (done.status === "succeeded") {
        highlightJob = job.id;
        const product = await refreshProduct(sku);
        status.textContent = `Done: version ${product.version ?? ""} is published.`;
      } else {
        await loadJobs(sku);
        status.classList.add("notice-error");
        status.textContent = `Re-processing failed: ${done.error?.code ?? "ERROR"}: ${done.error?.message ?? ""}`;
      }
    } catch (error) {
      status.classList.add("notice-error");
      status.textContent = `Re-processing: ${error.message}`;
    } finally {
      progress.hidden = true;
      button.disabled = false;
    }
  });
}

async function followJob(jobId, onProgress) {
  for (;;) {
    const job = await api(`/v1/jobs/${encodeURIComponent(jobId)}`);
    if (job.status === "succeeded" || job.status === "failed") return job;
    onProgress(job);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

// ---------------------------------------------------------------- start

if (sessionStorage.getItem(KEY_ITEM)) startApp();
else showLogin();
