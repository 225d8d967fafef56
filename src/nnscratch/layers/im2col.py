"""im2col / col2im (ch. 7.4.3): a convolution becomes one matrix product over "columns" of windows.

``im2col`` and ``col2im`` keep the book's signatures and layout: rows (n, oh, ow), columns (c, i, j).
``unfold`` / ``fold`` are the same maps batched per sample, (N, C*FH*FW, OH*OW), as torch's F.unfold.
Like the book, the only Python loop runs over the FH*FW kernel offsets (i, j): for each offset,
every window's (i, j) pixel is one strided slice of the padded image, copied (or added) at once.

:class:`Im2col` is the one helper the Convolution layer holds: it builds the columns of
cache-sized chunks of the batch (a 45 MB column matrix does not fit a cache; a 2 MB one does)
into scratch buffers reused between calls, with a column plan per chunk shape (stride 1 by
whole-block shifts, :class:`ShiftPlan`; other strides by the book's strided copies, :class:`ColumnPlan`).
"""
from __future__ import annotations

from typing import Any

from .. import backend
from ..validation import check_int


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """Output length of a convolution / pooling (ch. 7.2.4): (H + 2P - FH) // S + 1."""
    stride, pad = check_int("stride", stride, 1), check_int("pad", pad, 0)
    if filter_size > input_size + 2 * pad:
        raise ValueError(f"a window of {filter_size} does not fit {input_size} pixels padded by {pad}")
    return (input_size + 2 * pad - filter_size) // stride + 1


def output_hw(shape: tuple[int, ...], filter_h: int, filter_w: int, stride: int, pad: int,
              what: str = "im2col", batch: bool = True) -> tuple[int, int]:
    """(OH, OW) for an (N, C, H, W) input (or (C, H, W) if not batch); ValueError naming the shapes."""
    shape = tuple(shape)
    if len(shape) != (4 if batch else 3):
        expected = "a 4-D input (N, C, H, W)" if batch else "a per-sample shape (C, H, W)"
        raise ValueError(f"{what} expects {expected}, got shape {shape}")
    h, w = shape[-2], shape[-1]
    stride, pad = check_int(f"{what}: stride", stride, 1), check_int(f"{what}: pad", pad, 0)
    if filter_h > h + 2 * pad or filter_w > w + 2 * pad:
        raise ValueError(
            f"{what}: a {filter_h}x{filter_w} window does not fit the input of shape {shape} padded by {pad} "
            f"({h + 2 * pad}x{w + 2 * pad}): the output size would be 0"
        )
    return conv_output_size(h, filter_h, stride, pad), conv_output_size(w, filter_w, stride, pad)


def pad_image(x: Any, pad: int, value: float = 0.0) -> Any:
    """x (N, C, H, W) with ``pad`` pixels of ``value`` around H and W (x itself when pad == 0)."""
    if pad == 0:
        return x
    xp = backend.xp
    n, c, h, w = x.shape
    out = xp.full((n, c, h + 2 * pad, w + 2 * pad), value, dtype=x.dtype)
    out[:, :, pad:pad + h, pad:pad + w] = x
    return out


def unfold_into(img: Any, filter_h: int, filter_w: int, stride: int, out: Any) -> Any:
    """out[n, c, i, j, oh, ow] = img[n, c, oh*S + i, ow*S + j] for an already padded img; returns out.

    ``out`` may be any (N, C, FH, FW, OH, OW) view, e.g. a transposed view of a (C, FH, FW, N, OH, OW) buffer.
    """
    oh, ow = out.shape[4], out.shape[5]
    for i in range(filter_h):
        for j in range(filter_w):
            out[:, :, i, j] = img[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
    return out


def fold_into(cols: Any, filter_h: int, filter_w: int, stride: int, img: Any) -> Any:
    """The adjoint of :func:`unfold_into`: img[n, c, oh*S + i, ow*S + j] += cols[n, c, i, j, oh, ow]."""
    oh, ow = cols.shape[4], cols.shape[5]
    for i in range(filter_h):
        for j in range(filter_w):
            img[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride] += cols[:, :, i, j]
    return img


class ColumnPlan:
    """Columns for a chunk of k samples, laid out for one GEMM: (FH*FW*C [+1], k*S), rows (i, j, c).

    Column q of sample n is output pixel (oh, ow) = divmod(q, R) for q < S = Hs*R (other q: junk).
    Images are stored channel-major, (C, k, ...), so that every kernel offset (i, j) is ONE block
    of rows. This plan is the book's strided copy per offset (any stride); see :class:`ShiftPlan`.
    """

    def __init__(self, shape: tuple[int, ...], filter_h: int, filter_w: int, stride: int, pad: int) -> None:
        self.k, self.c, self.h, self.w = shape
        self.fh, self.fw, self.stride, self.pad = filter_h, filter_w, stride, pad
        self.oh, self.ow = output_hw(shape, filter_h, filter_w, stride, pad)
        self.rows_per_image, self.row = self.oh, self.ow  # Hs, R
        self.image_shape: tuple[int, ...] = (self.c, self.k, self.h + 2 * pad, self.w + 2 * pad)

    @property
    def length(self) -> int:
        """S: columns per sample."""
        return self.rows_per_image * self.row

    def _image_view(self, img: Any) -> Any:
        """The (C, k, H, W) pixels inside a zero-bordered image buffer."""
        p = self.pad
        return img[:, :, p:p + self.h, p:p + self.w]

    def load(self, x: Any, img: Any) -> None:
        """Copy x (k, C, H, W) into the image buffer; its zero padding is never written."""
        self._image_view(img)[...] = x.transpose(1, 0, 2, 3)

    def crop(self, img: Any) -> Any:
        """The (k, C, H, W) view of the pixels of an image buffer (the inverse of :meth:`load`)."""
        return self._image_view(img).transpose(1, 0, 2, 3)

    def outputs(self, y: Any) -> Any:
        """The (k, F, OH, OW) view of GEMM results y (F, k*S); also where dout goes for backward."""
        y = y.reshape(y.shape[0], self.k, self.rows_per_image, self.row)
        return y[:, :, :self.oh, :self.ow].transpose(1, 0, 2, 3)

    def unfold(self, img: Any, cols: Any) -> None:
        """cols[(i, j, c), (n, oh, ow)] = img[c, n, oh*s + i, ow*s + j], s the stride (the FH*FW*C rows)."""
        view = cols.reshape(self.fh, self.fw, self.c, self.k, self.oh, self.ow).transpose(3, 2, 0, 1, 4, 5)
        unfold_into(img.transpose(1, 0, 2, 3), self.fh, self.fw, self.stride, view)

    def fold(self, cols: Any, img: Any) -> None:
        """The adjoint of :meth:`unfold`, added into a zeroed image buffer."""
        view = cols.reshape(self.fh, self.fw, self.c, self.k, self.oh, self.ow).transpose(3, 2, 0, 1, 4, 5)
        fold_into(view, self.fh, self.fw, self.stride, img.transpose(1, 0, 2, 3))


class ShiftPlan(ColumnPlan):
    """Stride 1 without gathers: each kernel offset (i, j) is one contiguous 1-D slice of the image.

    The k*C images are stacked in one flat buffer as rows of width R = max(W, OW), Hs >= H + pad
    rows each (the zero rows between images are their top/bottom padding). Output (oh, ow) lives at
    oh*R + ow and reads input pixel (oh + i - pad, ow + j - pad), which is the same flat array
    shifted by i*R + j - pad: a whole block of columns is a single copy. Reads that wrap past the
    left or right edge of a row are zeroed (the masks); rows and columns beyond (OH, OW) are junk.
    """

    def __init__(self, shape: tuple[int, ...], filter_h: int, filter_w: int, stride: int, pad: int) -> None:
        if stride != 1:
            raise ValueError(f"ShiftPlan needs stride 1, got {stride}; use ColumnPlan")
        super().__init__(shape, filter_h, filter_w, stride, pad)
        self.row = max(self.w, self.ow)
        self.rows_per_image = max(self.h + pad, self.oh)
        self.start = pad + pad * self.row  # flat index of pixel (0, 0) of the first image
        self.shifts = [i * self.row + j for i in range(filter_h) for j in range(filter_w)]
        block = self.c * self.k * self.length
        self.image_shape = (max(self.start, self.shifts[-1]) + block,)
        # per column offset j: output columns whose input column ow + j - pad falls off the row
        self.masks = [(j, max(0, pad - j), min(self.ow, self.w + pad - j)) for j in range(filter_w)]

    def _image_view(self, img: Any) -> Any:
        block = img[self.start:self.start + self.c * self.k * self.length]
        return block.reshape(self.c, self.k, self.rows_per_image, self.row)[:, :, :self.h, :self.w]

    def _mask(self, blocks: Any) -> None:
        rows = blocks.reshape(self.fh, self.fw, -1, self.row)
        for j, lo, hi in self.masks:
            if lo > 0:
                rows[:, j, :, :lo] = 0
            if hi < self.ow:
                rows[:, j, :, hi:self.ow] = 0

    def unfold(self, img: Any, cols: Any) -> None:
        blocks = cols.reshape(len(self.shifts), -1)
        size = blocks.shape[1]
        for q, shift in enumerate(self.shifts):
            blocks[q] = img[shift:shift + size]
        self._mask(blocks)

    def fold(self, cols: Any, img: Any) -> None:
        blocks = cols.reshape(len(self.shifts), -1)
        self._mask(blocks)  # what wrapped in forward must not be added back (cols is scratch)
        size = blocks.shape[1]
        for q, shift in enumerate(self.shifts):
            img[shift:shift + size] += blocks[q]


def column_plan(shape: tuple[int, ...], filter_h: int, filter_w: int, stride: int, pad: int) -> ColumnPlan:
    """The fastest plan for this geometry: :class:`ShiftPlan` for stride 1, else :class:`ColumnPlan`."""
    return (ShiftPlan if stride == 1 else ColumnPlan)(shape, filter_h, filter_w, stride, pad)


def unfold(x: Any, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> Any:
    """Columns per sample (N, C*FH*FW, OH*OW): cols[n, (c, i, j), (oh, ow)] = x_pad[n, c, oh*S+i, ow*S+j]."""
    xp = backend.xp
    x = xp.asarray(x)
    oh, ow = output_hw(x.shape, filter_h, filter_w, stride, pad, "unfold")
    n, c = x.shape[:2]
    cols = xp.empty((n, c, filter_h, filter_w, oh, ow), dtype=x.dtype)
    unfold_into(pad_image(x, pad), filter_h, filter_w, stride, cols)
    return cols.reshape(n, c * filter_h * filter_w, oh * ow)


def fold(cols: Any, input_shape: tuple[int, ...], filter_h: int, filter_w: int, stride: int = 1,
         pad: int = 0) -> Any:
    """The adjoint of :func:`unfold`: sums every column entry back onto its input pixel -> (N, C, H, W)."""
    xp = backend.xp
    oh, ow = output_hw(input_shape, filter_h, filter_w, stride, pad, "fold")
    n, c, h, w = input_shape
    expected = (n, c * filter_h * filter_w, oh * ow)
    if tuple(cols.shape) != expected:
        raise ValueError(f"fold expects columns of shape {expected} for input shape {tuple(input_shape)}, "
                         f"got {tuple(cols.shape)}")
    img = xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    fold_into(cols.reshape(n, c, filter_h, filter_w, oh, ow), filter_h, filter_w, stride, img)
    return img[:, :, pad:pad + h, pad:pad + w] if pad else img


def im2col(input_data: Any, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> Any:
    """The book's im2col (ch. 7.4.3): (N, C, H, W) -> (N*OH*OW, C*FH*FW), one row per window."""
    cols = unfold(input_data, filter_h, filter_w, stride, pad)
    n, ck, p = cols.shape
    return cols.transpose(0, 2, 1).reshape(n * p, ck)


def col2im(col: Any, input_shape: tuple[int, ...], filter_h: int, filter_w: int, stride: int = 1,
           pad: int = 0) -> Any:
    """The book's col2im (ch. 7.4.3): (N*OH*OW, C*FH*FW) -> (N, C, H, W), overlaps summed (im2col's adjoint)."""
    oh, ow = output_hw(input_shape, filter_h, filter_w, stride, pad, "col2im")
    n, c = input_shape[0], input_shape[1]
    expected = (n * oh * ow, c * filter_h * filter_w)
    if tuple(col.shape) != expected:
        raise ValueError(f"col2im expects col of shape {expected} for input shape {tuple(input_shape)}, "
                         f"got {tuple(col.shape)}")
    cols = col.reshape(n, oh * ow, expected[1]).transpose(0, 2, 1)
    return fold(cols, input_shape, filter_h, filter_w, stride, pad)


# ------------------------------------------------------------------ the helper behind Convolution

#: bytes of column matrix per chunk of the batch (tuned with bench/layers_conv.py: cache-sized)
CHUNK_BYTES = 2 * 2**20


class Im2col:
    """im2col for one Convolution layer: ``im2col(x)`` gives the :class:`Columns` [col; 1] of a batch.

    Rows of the columns are ordered (i, j, c) (kernel offset, then channel) so that each offset is
    one block; :meth:`weight_rows` lays W out to match. Plans and scratch buffers are kept between
    calls, keyed by shape (cleared when many batch sizes were seen).
    """

    def __init__(self, filter_h: int, filter_w: int, stride: int, pad: int) -> None:
        self.filter_h, self.filter_w, self.stride, self.pad = filter_h, filter_w, stride, pad
        self._scratch: dict[tuple, Any] = {}

    def __call__(self, x: Any) -> "Columns":
        return Columns(self, x)

    @staticmethod
    def weight_rows(W: Any) -> Any:
        """W (FN, C, FH, FW) as (FN, FH*FW*C), columns ordered (i, j, c) like the rows of the columns."""
        return W.transpose(0, 2, 3, 1).reshape(W.shape[0], -1)

    @staticmethod
    def weight_grad(dW_rows: Any, shape: tuple[int, ...]) -> Any:
        """The inverse of :meth:`weight_rows` for a gradient: (FN, FH*FW*C) -> contiguous (FN, C, FH, FW)."""
        fn, c, fh, fw = shape
        return backend.xp.ascontiguousarray(dW_rows.reshape(fn, fh, fw, c).transpose(0, 3, 1, 2))

    def buffer(self, name: str, shape: tuple[int, ...], dtype: Any, ones_row: bool = False) -> Any:
        """A scratch array kept between calls, zero when created (parts never written stay zero)."""
        key = (name, shape, dtype)
        buf = self._scratch.get(key)
        if buf is None:
            if len(self._scratch) > 64:  # many batch sizes seen: start afresh rather than grow
                self._scratch.clear()
            buf = self._scratch[key] = backend.xp.zeros(shape, dtype=dtype)
            if ones_row:
                buf[-1] = 1  # the bias row of [col; 1]
        return buf

    def plan(self, shape: tuple[int, ...]) -> ColumnPlan:
        key = ("plan", shape)
        if key not in self._scratch:
            self._scratch[key] = column_plan(shape, self.filter_h, self.filter_w, self.stride, self.pad)
        return self._scratch[key]


class Columns:
    """The columns [col; 1] of a batch x, (FH*FW*C + 1, N*S): never held whole, built chunk by chunk.

    :meth:`dot` is the forward product, :meth:`gradients` the backward pair (the weight gradient and
    col2im of the input gradient), each done chunk by chunk.
    """

    def __init__(self, im2col: Im2col, x: Any) -> None:
        self.im2col, self.x = im2col, x
        n, c = x.shape[:2]
        fh, fw = im2col.filter_h, im2col.filter_w
        one = im2col.plan((1, *x.shape[1:]))
        self.rows = fh * fw * c
        self.output_hw = (one.oh, one.ow)
        per_sample = (self.rows + 1) * one.length * x.dtype.itemsize
        nb = max(1, min(n, CHUNK_BYTES // per_sample))
        nb = -(-n // -(-n // nb))  # the same number of chunks, evened out
        self.chunks = [(n0, min(n, n0 + nb), im2col.plan((min(n, n0 + nb) - n0, *x.shape[1:])))
                       for n0 in range(0, n, nb)]

    def _chunk(self, n0: int, n1: int, plan: ColumnPlan) -> Any:
        """[col; 1] of x[n0:n1] as a (FH*FW*C + 1, k*S) scratch matrix."""
        x, dtype = self.x[n0:n1], self.x.dtype
        img = self.im2col.buffer("img", plan.image_shape, dtype)
        plan.load(x, img)
        col = self.im2col.buffer("col", (self.rows + 1, (n1 - n0) * plan.length), dtype, ones_row=True)
        plan.unfold(img, col[:-1])
        return col

    def dot(self, A: Any) -> Any:
        """A @ [col; 1] as (N, F, OH, OW), for A of shape (F, FH*FW*C + 1): the forward product."""
        xp, x = backend.xp, self.x
        out = xp.empty((x.shape[0], A.shape[0], *self.output_hw), dtype=x.dtype)
        for n0, n1, plan in self.chunks:
            y = self.im2col.buffer("y", (A.shape[0], (n1 - n0) * plan.length), x.dtype)
            xp.matmul(A, self._chunk(n0, n1, plan), out=y)
            out[n0:n1] = plan.outputs(y)
        return out

    def gradients(self, dout: Any, W_rows: Any = None) -> tuple[Any, Any]:
        """([col; 1] @ dout^T, col2im(W_rows^T @ dout)): the weight and the input gradient, one pass.

        The first, (FH*FW*C + 1, F), is summed over the batch; the second, (N, C, H, W), is None
        without ``W_rows`` (F, FH*FW*C). One pass, so each chunk's dout is laid out once for both.
        """
        xp, x = backend.xp, self.x
        dW_col = xp.zeros((self.rows + 1, dout.shape[1]), dtype=dout.dtype)
        dx = None if W_rows is None else xp.empty_like(x)
        for n0, n1, plan in self.chunks:
            d = self.im2col.buffer("dout", (dout.shape[1], (n1 - n0) * plan.length), dout.dtype)
            plan.outputs(d)[...] = dout[n0:n1]  # the junk columns stay zero
            dW_col += _col_dot_t(self._chunk(n0, n1, plan), d, n1 - n0)
            if dx is not None:
                dcol = self.im2col.buffer("dcol", (W_rows.shape[1], d.shape[1]), x.dtype)
                xp.matmul(W_rows.T, d, out=dcol)
                img = self.im2col.buffer("dimg", plan.image_shape, x.dtype)
                img.fill(0)
                plan.fold(dcol, img)
                dx[n0:n1] = plan.crop(img)
        return dW_col, dx


def _col_dot_t(col: Any, d: Any, k: int) -> Any:
    """col @ d^T. With few rows (a first layer), one product per sample is faster than one long
    reduction, which BLAS cannot split across threads."""
    if col.shape[0] >= 64:
        return backend.xp.matmul(col, d.T)
    per_sample = backend.xp.matmul(col.reshape(col.shape[0], k, -1).transpose(1, 0, 2),
                                   d.reshape(d.shape[0], k, -1).transpose(1, 2, 0))
    return per_sample.sum(axis=0)
