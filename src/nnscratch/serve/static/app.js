// nnscratch serve: the page's wiring. Plain ES modules, no framework, no build step, no network
// beyond this server: GET /api/models, POST /api/predict, GET /api/test-digit.
import { Pad, digitPicture } from "./pad.js";
import { clearLayers, renderBars, renderInput, renderLayers } from "./views.js";

const $ = (id) => document.getElementById(id);
const IMAGE_TYPES = ["image/png", "image/jpeg"];
const DRAW_INTERVAL = 150; // ms between predictions while a stroke is being drawn

const state = {
  models: [], model: null,
  input: null, // {kind: "pad"} | {kind: "pixels", pixels, label, caption} | {kind: "file", file, caption}
  inFlight: false, pending: false, timer: 0, renders: 0,
};

function setStatus(text, error = false) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", error);
}

async function api(path, options) {
  const res = await fetch(path, options);
  const body = await res.json().catch(() => ({ error: `the server answered ${res.status} without JSON` }));
  if (!res.ok) throw new Error(body.error || `the server answered ${res.status}`);
  return body;
}

function resetResult() {
  $("top-class").textContent = "?";
  $("top-class").removeAttribute("data-class");
  $("top-p").textContent = "";
  renderBars($("bars"), state.model ? state.model.class_names : [], null);
  renderInput($("input"), null);
  if (state.model) clearLayers($("layers"), state.model.layers);
}

function show(result) {
  const [cls, p] = result.top[0];
  const name = result.class_names[cls];
  $("top-class").textContent = name;
  $("top-class").dataset.class = String(cls);
  $("top-p").textContent = `${(100 * p).toFixed(1)} % sure (${result.model})`;
  renderBars($("bars"), result.class_names, result.probabilities);
  renderInput($("input"), result.input);
  renderLayers($("layers"), result.layers);
  const input = state.input;
  if (input && input.caption) {
    const verdict = input.label === undefined ? "" : cls === input.label ? " The network gets it right." : ` The network says ${name}.`;
    setStatus(input.caption + verdict);
  } else {
    setStatus("Keep drawing, undo a stroke, or clear the pad to start again.");
  }
  $("result-card").dataset.renders = String(++state.renders);
}

async function requestBody(input) {
  if (input.kind === "pad") return { body: await pad.toBlob(), type: "image/png" };
  if (input.kind === "pixels") return { body: JSON.stringify({ pixels: input.pixels }), type: "application/json" };
  return { body: input.file, type: input.file.type };
}

// data-busy on <body>: "true" while a prediction is scheduled or running (tests and scripts wait on it)
function markBusy() {
  document.body.dataset.busy = String(state.inFlight || state.pending || state.timer !== 0);
}

async function predictNow() {
  clearTimeout(state.timer);
  state.timer = 0;
  if (!state.input || !state.model) { markBusy(); return; }
  if (state.inFlight) { state.pending = true; markBusy(); return; }
  state.inFlight = true;
  markBusy();
  const input = state.input;
  try {
    const { body, type } = await requestBody(input);
    const result = await api(`/api/predict?model=${encodeURIComponent(state.model.name)}`,
      { method: "POST", headers: { "Content-Type": type }, body });
    if (state.input !== null && result.model === state.model.name) show(result);
  } catch (err) {
    setStatus(`Could not predict: ${err.message}`, true);
  } finally {
    state.inFlight = false;
    if (state.pending) { state.pending = false; predictNow(); } else markBusy();
  }
}

function updateButtons() {
  $("undo").disabled = $("clear").disabled = pad.empty;
}

const pad = new Pad($("pad"), ({ final }) => {
  updateButtons();
  if (pad.empty) {
    state.input = null;
    clearTimeout(state.timer);
    state.timer = 0;
    markBusy();
    resetResult();
    setStatus("Draw a digit from 0 to 9 in the box.");
    return;
  }
  state.input = { kind: "pad" };
  if (final) predictNow();
  else if (!state.timer) { state.timer = setTimeout(predictNow, DRAW_INTERVAL); markBusy(); }
});

function selectModel(name) {
  state.model = state.models.find((m) => m.name === name) || state.models[0];
  $("model").value = state.model.name;
  const m = state.model;
  const acc = m.test_acc === null ? "" : ` \u00b7 test accuracy ${(100 * m.test_acc).toFixed(2)} %`;
  const from = m.source === "file" ? `file ${m.file}` : "shipped with nnscratch";
  $("model-info").textContent = `${m.architecture} \u00b7 ${m.params.toLocaleString("en")} parameters \u00b7 ${m.layers.length} layers${acc} \u00b7 ${from}`;
  if (state.input) predictNow(); else resetResult();
}

async function showTestDigit() {
  try {
    const d = await api("/api/test-digit");
    pad.show(digitPicture(d.pixels));
    updateButtons();
    state.input = { kind: "pixels", pixels: d.pixels, label: d.label,
      caption: `MNIST test image #${d.index}, labelled ${d.label} (from ${d.source}).` };
    setStatus(state.input.caption);
    predictNow();
  } catch (err) {
    setStatus(`Could not fetch a test digit: ${err.message}`, true);
  }
}

async function useFile(file) {
  if (!file) return;
  if (!IMAGE_TYPES.includes(file.type)) {
    setStatus(`${file.name} is ${file.type || "of an unknown type"}; choose a PNG or JPEG image.`, true);
    return;
  }
  try {
    pad.show(await createImageBitmap(file));
  } catch {
    pad.show(null);
  }
  updateButtons();
  state.input = { kind: "file", file, caption: `${file.name}, through the same preprocessing as nnscratch predict.` };
  predictNow();
}

function wire() {
  $("undo").addEventListener("click", () => pad.undo());
  $("clear").addEventListener("click", () => pad.clear());
  $("test-digit").addEventListener("click", showTestDigit);
  $("upload").addEventListener("change", (e) => { useFile(e.target.files[0]); e.target.value = ""; });
  $("model").addEventListener("change", (e) => selectModel(e.target.value));
  const canvas = $("pad");
  canvas.addEventListener("dragover", (e) => { e.preventDefault(); canvas.classList.add("dragging"); });
  canvas.addEventListener("dragleave", () => canvas.classList.remove("dragging"));
  canvas.addEventListener("drop", (e) => {
    e.preventDefault();
    canvas.classList.remove("dragging");
    useFile(e.dataTransfer.files[0]);
  });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "z" && !pad.empty) { e.preventDefault(); pad.undo(); }
  });
}

async function start() {
  wire();
  try {
    const info = await api("/api/models");
    state.models = info.models;
    $("model").replaceChildren(...info.models.map((m) => {
      const acc = m.test_acc === null ? "" : ` (${(100 * m.test_acc).toFixed(1)} %)`;
      return new Option(`${m.name} \u2014 ${m.architecture}${acc}`, m.name);
    }));
    $("model").disabled = info.models.length < 2;
    selectModel(info.default);
    document.body.dataset.ready = "true";
  } catch (err) {
    setStatus(`Could not load the models: ${err.message}`, true);
  }
}

start();
