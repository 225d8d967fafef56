// Drawing what the API returns: probability bars, the 28x28 input, every layer's output.
// Layer values come quantised to 0..255 per layer (value = min + q / 255 * (max - min)),
// as base64 of the bytes in C order ("uint8-base64") or as nested lists ("uint8-lists").

export function layerBytes(layer) {
  if (layer.encoding === "uint8-lists") return Uint8Array.from(layer.values.flat(Infinity));
  const text = atob(layer.values);
  const q = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) q[i] = text.charCodeAt(i);
  return q;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

export function renderBars(container, classNames, probabilities) {
  if (container.children.length !== classNames.length) {
    container.replaceChildren(...classNames.map((name, i) => el("div", { class: "bar", role: "listitem", "data-class": String(i) },
      el("span", { class: "label" }, name), el("span", { class: "track" }, el("span", { class: "fill" })),
      el("span", { class: "pct" }, ""))));
  }
  const top = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
  [...container.children].forEach((row, i) => {
    const p = probabilities ? probabilities[i] : 0;
    row.classList.toggle("top", i === top);
    row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    row.querySelector(".pct").textContent = probabilities ? `${(100 * p).toFixed(1)} %` : "";
  });
}

export function renderInput(canvas, pixels) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(28, 28);
  (pixels ? pixels.flat() : new Array(784).fill(0)).forEach((v, i) => {
    const g = Math.round(255 * v);
    img.data.set([g, g, g, 255], 4 * i);
  });
  ctx.putImageData(img, 0, 0);
}

function shapeText(shape) { return shape.join("\u00d7"); }

// Feature maps (C, H, W): one greyscale tile per channel, laid out in a grid with 1 px gaps.
function drawTiles(canvas, layer) {
  const [C, H, W] = layer.shape;
  const cols = Math.min(C, 8);
  const rows = Math.ceil(C / cols);
  canvas.width = cols * (W + 1) + 1;
  canvas.height = rows * (H + 1) + 1;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  img.data.fill(68);
  for (let i = 3; i < img.data.length; i += 4) img.data[i] = 255;
  const q = layer.q;
  for (let c = 0; c < C; c++) {
    const x0 = 1 + (c % cols) * (W + 1);
    const y0 = 1 + Math.floor(c / cols) * (H + 1);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const v = q[(c * H + y) * W + x];
        const o = 4 * ((y0 + y) * canvas.width + x0 + x);
        img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
}

// Dense outputs (N,): signed bars around zero for up to 100 units, else a heat strip of rows of 32.
function drawStrip(canvas, layer) {
  const { min, max } = layer;
  const values = Array.from(layer.q, (q) => min + (q / 255) * (max - min));
  const n = values.length;
  const scale = Math.max(Math.abs(min), Math.abs(max)) || 1;
  const ctx = canvas.getContext("2d");
  if (n <= 100) {
    const bw = Math.max(2, Math.floor(240 / n));
    canvas.width = n * bw;
    canvas.height = 60;
    const zero = min >= 0 ? 59 : max <= 0 ? 1 : Math.round(60 * (max / (max - min)));
    ctx.fillStyle = "#111";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    values.forEach((v, i) => {
      const h = Math.round((Math.abs(v) / scale) * (v >= 0 ? zero : 60 - zero));
      ctx.fillStyle = v >= 0 ? "#ff922b" : "#4dabf7";
      ctx.fillRect(i * bw, v >= 0 ? zero - h : zero, Math.max(1, bw - 1), Math.max(h, v === 0 ? 0 : 1));
    });
    ctx.fillStyle = "#777";
    ctx.fillRect(0, zero, canvas.width, 1);
    return;
  }
  const cols = 32;
  canvas.width = cols;
  canvas.height = Math.ceil(n / cols);
  const img = ctx.createImageData(canvas.width, canvas.height);
  values.forEach((v, i) => {
    const t = Math.min(1, Math.abs(v) / scale);
    const rgb = v >= 0 ? [255, 146, 43] : [77, 171, 247];
    img.data.set([...rgb.map((c) => Math.round(17 + t * (c - 17))), 255], 4 * i);
  });
  ctx.putImageData(img, 0, 0);
}

export function renderLayers(container, layers) {
  const names = layers.map((l) => l.name).join(",");
  if (container.dataset.names !== names) {
    container.replaceChildren(...layers.map((l) => el("article", { class: "layer", "data-name": l.name, "data-type": l.type },
      el("h3", {}, l.name, el("small", {}, `${l.type} \u00b7 ${shapeText(l.shape)}`)),
      el("canvas", { class: l.shape.length === 3 ? "tiles" : "strip", "aria-label": `${l.name} output` }))));
    container.dataset.names = names;
  }
  layers.forEach((layer, i) => {
    const canvas = container.children[i].querySelector("canvas");
    if (!layer.q) layer.q = layerBytes(layer);
    if (layer.shape.length === 3) drawTiles(canvas, layer); else drawStrip(canvas, layer);
  });
}

export function clearLayers(container, layerInfo) {
  renderLayers(container, layerInfo.map((l) => ({ ...l, min: 0, max: 0, q: new Uint8Array(l.shape.reduce((a, b) => a * b, 1)) })));
}
