// The drawing pad: pointer events (mouse, pen, touch), marker-like strokes, undo, clear,
// and a picture mode for a test digit or an uploaded image.

const STROKE_WIDTH = 22; // px on the 280 px pad: a marker, about as thick as MNIST's strokes

export class Pad {
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onChange = onChange; // called with {final: bool} after every change
    this.strokes = [];
    this.current = null;
    this.picture = null; // an ImageBitmap or canvas shown instead of strokes
    this.redraw();
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel"]) canvas.addEventListener(type, (e) => this.up(e));
  }

  get empty() { return this.strokes.length === 0 && this.picture === null; }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * (this.canvas.width / r.width), (e.clientY - r.top) * (this.canvas.height / r.height)];
  }

  down(e) {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    try { this.canvas.setPointerCapture(e.pointerId); } catch { /* a synthetic or vanished pointer: draw without capture */ }
    if (this.picture !== null) { this.picture = null; this.redraw(); }
    this.current = { id: e.pointerId, points: [this.point(e)] };
    this.strokes.push(this.current.points);
    this.dot(this.current.points[0]);
    this.onChange({ final: false });
  }

  move(e) {
    if (!this.current || e.pointerId !== this.current.id) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) {
      const p = this.point(ev);
      const pts = this.current.points;
      this.segment(pts[pts.length - 1], p);
      pts.push(p);
    }
    this.onChange({ final: false });
  }

  up(e) {
    if (!this.current || e.pointerId !== this.current.id) return;
    this.current = null;
    this.onChange({ final: true });
  }

  style() {
    const c = this.ctx;
    c.strokeStyle = c.fillStyle = "#000";
    c.lineWidth = STROKE_WIDTH;
    c.lineCap = c.lineJoin = "round";
  }

  dot([x, y]) {
    this.style();
    this.ctx.beginPath();
    this.ctx.arc(x, y, STROKE_WIDTH / 2, 0, 2 * Math.PI);
    this.ctx.fill();
  }

  segment(a, b) {
    this.style();
    this.ctx.beginPath();
    this.ctx.moveTo(a[0], a[1]);
    this.ctx.lineTo(b[0], b[1]);
    this.ctx.stroke();
  }

  redraw() {
    const c = this.ctx;
    c.fillStyle = "#fff";
    c.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.picture) {
      const { width: w, height: h } = this.picture;
      const s = Math.min(this.canvas.width / w, this.canvas.height / h);
      c.imageSmoothingEnabled = !this.picture.pixelated;
      c.drawImage(this.picture, (this.canvas.width - w * s) / 2, (this.canvas.height - h * s) / 2, w * s, h * s);
      return;
    }
    for (const pts of this.strokes) {
      this.dot(pts[0]);
      for (let i = 1; i < pts.length; i++) this.segment(pts[i - 1], pts[i]);
    }
  }

  undo() {
    if (this.picture) this.picture = null; else this.strokes.pop();
    this.redraw();
    this.onChange({ final: true });
  }

  clear() {
    this.strokes = [];
    this.picture = null;
    this.redraw();
    this.onChange({ final: true });
  }

  // Show a picture (a test digit, an upload) instead of strokes; drawing again starts afresh.
  show(picture) {
    this.strokes = [];
    this.picture = picture;
    this.redraw();
  }

  toBlob() {
    return new Promise((resolve) => this.canvas.toBlob(resolve, "image/png"));
  }
}

// A 28x28 MNIST image (white on black, values 0..1) as a canvas drawn black on white, for the pad.
export function digitPicture(pixels) {
  const c = document.createElement("canvas");
  c.width = c.height = 28;
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(28, 28);
  pixels.flat().forEach((v, i) => {
    const g = Math.round(255 * (1 - v));
    img.data.set([g, g, g, 255], 4 * i);
  });
  ctx.putImageData(img, 0, 0);
  c.pixelated = true;
  return c;
}
