// The CUDA backend's kernels, compiled by NVRTC when a GPU is opened, once for each element
// type: REAL is defined as float or double on the command line. Matrices are column-major, as
// on the host: entry (i, j) of an r-row matrix is at i + j * r. Loops are grid-stride, so any
// launch size covers any length. Sums accumulate in double whatever REAL is, as on the host.

typedef REAL real;
typedef unsigned long long u64;

#define GRID_STRIDE(i, n) \
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < (n); i += (u64)gridDim.x * blockDim.x)

// The operation codes of BinaryOp (the unary maps' come with their functions, below).
enum { ADD, SUB, MUL, DIV };

#define SELU_ALPHA 1.6732632423543772
#define SELU_LAMBDA 1.0507009873554805
#define PI 3.141592653589793
#define NEG_INF __longlong_as_double(0xfff0000000000000ull)

__device__ __forceinline__ real softplus_of(real x) {
    return fmax(x, (real)0) + log1p(exp(-fabs(x)));
}

__device__ __forceinline__ real sigmoid_of(real x) {
    real u = exp(-fabs(x));
    real r = (real)1 / ((real)1 + u);
    return x >= (real)0 ? r : u * r;
}

// ψ(x): the recurrence up to x ≥ 10, then the asymptotic series (as special::digamma).
__device__ double digamma_of(double x) {
    if (isnan(x) || (x <= 0.0 && x == floor(x))) return nan("");
    double reflected = 0.0;
    if (x < 0.0) {
        reflected = -PI / tan(PI * x);
        x = 1.0 - x;
    }
    double shift = 0.0;
    while (x < 10.0) {
        shift -= 1.0 / x;
        x += 1.0;
    }
    double r = 1.0 / (x * x);
    double series = r * (1.0 / 12.0 - r * (1.0 / 120.0 - r * (1.0 / 252.0
        - r * (1.0 / 240.0 - r * (1.0 / 132.0 - r * 691.0 / 32760.0)))));
    return reflected + shift + log(x) - 0.5 / x - series;
}

// ψ'(x), as special::trigamma.
__device__ double trigamma_of(double x) {
    if (isnan(x) || (x <= 0.0 && x == floor(x))) return nan("");
    if (x < 0.0) {
        double s = sin(PI * x);
        return -trigamma_of(1.0 - x) + PI * PI / (s * s);
    }
    double shift = 0.0;
    while (x < 10.0) {
        shift += 1.0 / (x * x);
        x += 1.0;
    }
    double r = 1.0 / (x * x);
    double series = r * (1.0 / 6.0 - r * (1.0 / 30.0 - r * (1.0 / 42.0 - r * (1.0 / 30.0
        - r * 5.0 / 66.0))));
    return shift + 1.0 / x + 0.5 * r + series / x;
}

// The value and the derivative of each unary map, `apply_unary(op, p, x)` and
// `unary_derivative(op, p, x, y)`, with their codes: generated from the one table of the maps,
// src/ops/unary.rs, and put here when the source is compiled.
// UNARY MAPS (generated from src/ops/unary.rs)

extern "C" __global__ void fill(real value, real* out, u64 n) {
    GRID_STRIDE(i, n) out[i] = value;
}

extern "C" __global__ void unary_map(int op, real p, const real* x, real* y, u64 n) {
    GRID_STRIDE(i, n) y[i] = apply_unary(op, p, x[i]);
}

extern "C" __global__ void unary_vjp(
    int op, real p, const real* x, const real* y, const real* g, real* out, u64 n) {
    GRID_STRIDE(i, n) out[i] = g[i] * unary_derivative(op, p, x[i], y[i]);
}

// Entry (i, j) of an ar x ac operand broadcast to a larger shape.
__device__ __forceinline__ real broadcast_entry(const real* m, int mr, int mc, u64 i, u64 j) {
    return m[(mr == 1 ? 0 : i) + (mc == 1 ? 0 : j) * (u64)mr];
}

extern "C" __global__ void binary_map(
    int op, const real* a, int ar, int ac, const real* b, int br, int bc, real* out, int rows,
    int cols) {
    GRID_STRIDE(k, (u64)rows * cols) {
        u64 i = k % rows, j = k / rows;
        real x = broadcast_entry(a, ar, ac, i, j), y = broadcast_entry(b, br, bc, i, j);
        real v;
        switch (op) {
        case ADD: v = x + y; break;
        case SUB: v = x - y; break;
        case MUL: v = x * y; break;
        default: v = x / y; break;
        }
        out[k] = v;
    }
}

#define BLOCK 256

// Sums of consecutive segments of `len` entries (the last may be shorter): one block per
// segment, accumulated in double, then a tree in shared memory. Column sums are segments of a
// column's length; a total is a first pass over segments, then a pass over their sums.
extern "C" __global__ void segment_sums(const real* x, u64 n, u64 len, real* out) {
    __shared__ double partial[BLOCK];
    u64 start = blockIdx.x * len;
    u64 end = start + len < n ? start + len : n;
    double acc = 0.0;
    for (u64 k = start + threadIdx.x; k < end; k += blockDim.x) acc += (double)x[k];
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = (real)partial[0];
}

// Sums along each row: one thread per row walks the columns (neighbouring threads read
// neighbouring entries of each column).
extern "C" __global__ void row_sums(const real* x, int rows, int cols, real* out) {
    GRID_STRIDE(i, (u64)rows) {
        double acc = 0.0;
        for (int j = 0; j < cols; j++) acc += (double)x[i + j * (u64)rows];
        out[i] = (real)acc;
    }
}

// log Σ e^x over each segment of `len` entries (one block each), shifted by the segment's
// maximum; an infinite maximum is the answer itself.
extern "C" __global__ void segment_logsumexp(const real* x, u64 n, u64 len, real* out) {
    __shared__ double partial[BLOCK];
    u64 start = blockIdx.x * len;
    u64 end = start + len < n ? start + len : n;
    double m = NEG_INF;
    for (u64 k = start + threadIdx.x; k < end; k += blockDim.x) m = fmax(m, (double)x[k]);
    partial[threadIdx.x] = m;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half)
            partial[threadIdx.x] = fmax(partial[threadIdx.x], partial[threadIdx.x + half]);
        __syncthreads();
    }
    double max = partial[0];
    __syncthreads();
    double shift = isinf(max) ? 0.0 : max;
    double acc = 0.0;
    for (u64 k = start + threadIdx.x; k < end; k += blockDim.x) acc += exp((double)x[k] - shift);
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = (real)(isinf(max) ? max : log(partial[0]) + shift);
}

// log Σ e^x along each row, one thread per row.
extern "C" __global__ void row_logsumexp(const real* x, int rows, int cols, real* out) {
    GRID_STRIDE(i, (u64)rows) {
        double m = NEG_INF;
        for (int j = 0; j < cols; j++) m = fmax(m, (double)x[i + j * (u64)rows]);
        double shift = isinf(m) ? 0.0 : m;
        double acc = 0.0;
        for (int j = 0; j < cols; j++) acc += exp((double)x[i + j * (u64)rows] - shift);
        out[i] = (real)(isinf(m) ? m : log(acc) + shift);
    }
}

// g e^(x − y) entry by entry, y and g broadcast from the reduced shape (yr x yc); 0 where the
// slot's y is infinite (all −∞, or a +∞), as on the host.
extern "C" __global__ void logsumexp_vjp(
    const real* x, int rows, int cols, const real* y, int yr, int yc, const real* g, real* out) {
    GRID_STRIDE(k, (u64)rows * cols) {
        u64 i = k % rows, j = k / rows;
        real m = broadcast_entry(y, yr, yc, i, j);
        out[k] = isinf(m) ? (real)0 : broadcast_entry(g, yr, yc, i, j) * exp(x[k] - m);
    }
}

// Sums along each row of term(i, k) over the entries k = i + j * rows of a rows x cols
// matrix, into out[i]. A block takes a tile of TILE_ROWS rows: each of its BLOCK / TILE_ROWS
// lanes sums every lanes-th column of the tile's rows (a warp reads whole 32-byte sectors of
// each column), then one thread per row adds the lanes' sums in lane order, so that a rerun
// gives the same bits. (One thread per row, as before, left a 128-row batch of 784 columns on
// one multiprocessor for 0.4 ms.)
#define TILE_ROWS 8
template <typename Term>
__device__ void tile_row_sums(int rows, int cols, real* out, Term term) {
    __shared__ double partial[BLOCK];
    const int lanes = BLOCK / TILE_ROWS;
    int within = threadIdx.x % TILE_ROWS, lane = threadIdx.x / TILE_ROWS;
    u64 tiles = ((u64)rows + TILE_ROWS - 1) / TILE_ROWS;
    for (u64 tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        u64 i = tile * TILE_ROWS + within;
        double acc = 0.0;
        if (i < (u64)rows) {
            for (int j = lane; j < cols; j += lanes) acc += (double)term(i, j, i + j * (u64)rows);
        }
        partial[threadIdx.x] = acc;
        __syncthreads();
        if (lane == 0 && i < (u64)rows) {
            double total = 0.0;
            for (int q = 0; q < lanes; q++) total += partial[within + q * TILE_ROWS];
            out[i] = (real)total;
        }
        __syncthreads();
    }
}

// Per row, Σ_j x_ij l_ij − softplus(l_ij); with `residual` non-null, also x − σ(l) entry by
// entry.
extern "C" __global__ void bernoulli_logits(
    const real* l, const real* x, int rows, int cols, real* out, real* residual) {
    tile_row_sums(rows, cols, out, [=](u64, int, u64 k) {
        real lv = l[k], xv = x[k];
        if (residual) residual[k] = xv - sigmoid_of(lv);
        return xv * lv - softplus_of(lv);
    });
}

// Up to four operands of a fused op, each rows x cols or one row shared by every row (its row
// count is 1).
struct Operands {
    const real* x[4];
    int rows[4];
};

// Entry (i, j) of operand k, read as rows x cols.
__device__ __forceinline__ real operand(const Operands& o, int k, u64 i, u64 j) {
    return o.x[k][(o.rows[k] == 1 ? 0 : i) + j * o.rows[k]];
}

// What an entry's KL term and its derivatives share: ln(σq/σp), (σq/σp)², u = (μq − μp)/σp
// and 1/σp.
struct NormalPieces {
    real log_ratio, var_ratio, u, inv_sd_p;
};

// The four operands of a KL term between diagonal Gaussians q and p: μq, ln σq, μp, ln σp.
__device__ __forceinline__ NormalPieces normal_pieces(const Operands& n, u64 i, u64 j) {
    NormalPieces s;
    real lp = operand(n, 3, i, j);
    s.log_ratio = operand(n, 1, i, j) - lp;
    s.var_ratio = exp(s.log_ratio * (real)2);
    s.inv_sd_p = exp(-lp);
    s.u = (operand(n, 0, i, j) - operand(n, 2, i, j)) * s.inv_sd_p;
    return s;
}

// Per row, Σ_j KL(N(μq_ij, σq_ij²) ‖ N(μp_ij, σp_ij²)) = Σ_j ½((σq/σp)² + u² − 1) − ln(σq/σp).
extern "C" __global__ void diag_normal_kl(Operands n, int rows, int cols, real* out) {
    tile_row_sums(rows, cols, out, [=](u64 i, int j, u64) {
        NormalPieces s = normal_pieces(n, i, j);
        return (real)0.5 * (s.var_ratio + s.u * s.u - (real)1) - s.log_ratio;
    });
}

// Its derivatives times g_i, entry by entry into rows x cols outputs (a null one is skipped):
// u/σp for μq, −u/σp for μp, (σq/σp)² − 1 for ln σq, 1 − (σq/σp)² − u² for ln σp.
extern "C" __global__ void diag_normal_kl_vjp(
    Operands n, const real* g, int rows, int cols, real* dmq, real* dlq, real* dmp, real* dlp) {
    GRID_STRIDE(k, (u64)rows * cols) {
        u64 i = k % rows, j = k / rows;
        NormalPieces s = normal_pieces(n, i, j);
        real gi = g[i];
        if (dmq) dmq[k] = gi * (s.u * s.inv_sd_p);
        if (dmp) dmp[k] = gi * -(s.u * s.inv_sd_p);
        if (dlq) dlq[k] = gi * (s.var_ratio - (real)1);
        if (dlp) dlp[k] = gi * ((real)1 - s.var_ratio - s.u * s.u);
    }
}

// A reparameterised Gaussian draw μ + e^ℓ ε entry by entry, from the operands μ, ℓ, ε.
extern "C" __global__ void normal_draw(Operands o, int rows, int cols, real* out) {
    GRID_STRIDE(k, (u64)rows * cols) {
        u64 i = k % rows, j = k / rows;
        out[k] = operand(o, 0, i, j) + exp(operand(o, 1, i, j)) * operand(o, 2, i, j);
    }
}

// Its derivatives times g (rows x cols), entry by entry into rows x cols outputs (a null one
// is skipped): g for μ, g ε e^ℓ for ℓ, g e^ℓ for ε.
extern "C" __global__ void normal_draw_vjp(
    Operands o, const real* g, int rows, int cols, real* dmean, real* dlog_sd, real* deps) {
    GRID_STRIDE(k, (u64)rows * cols) {
        u64 i = k % rows, j = k / rows;
        real sd = exp(operand(o, 1, i, j));
        if (dmean) dmean[k] = g[k];
        if (dlog_sd) dlog_sd[k] = g[k] * operand(o, 2, i, j) * sd;
        if (deps) deps[k] = g[k] * sd;
    }
}

// Up to TENSORS matrices handed to one launch, their entries numbered one after another:
// tensor t holds entries end[t - 1] (0 for t = 0) to end[t]. A kernel argument rather than a
// table in device memory, so that a launch needs no copy before it.
#define TENSORS 16
struct Tensors {
    real* x[TENSORS];
    u64 end[TENSORS];
    u64 count;
};

// The tensor that entry k of the list falls in (a scan: at most TENSORS steps).
__device__ __forceinline__ int tensor_of(const u64* end, u64 count, u64 k) {
    int t = 0;
    while (t + 1 < (int)count && k >= end[t]) t++;
    return t;
}

// Sets total[0] to 1 if an entry of any of the tensors is not finite, and leaves it otherwise
// (every thread that writes, writes the same value).
extern "C" __global__ void flag_non_finite(Tensors xs, real* total) {
    GRID_STRIDE(k, xs.count ? xs.end[xs.count - 1] : 0) {
        int t = tensor_of(xs.end, xs.count, k);
        u64 i = k - (t ? xs.end[t - 1] : 0);
        if (!isfinite(xs.x[t][i])) total[0] = (real)1;
    }
}

// One Adam step of up to TENSORS parameters: p, their first and second moments m and v, and
// their gradients g, entry by entry (the bias corrections are folded into `step`).
struct AdamTensors {
    Tensors p, m, v, g;
};

extern "C" __global__ void adam_update(
    real beta1, real beta2, real epsilon, real step, AdamTensors a) {
    GRID_STRIDE(k, a.p.count ? a.p.end[a.p.count - 1] : 0) {
        int t = tensor_of(a.p.end, a.p.count, k);
        u64 i = k - (t ? a.p.end[t - 1] : 0);
        real gi = a.g.x[t][i];
        real mi = beta1 * a.m.x[t][i] + ((real)1 - beta1) * gi;
        real vi = beta2 * a.v.x[t][i] + ((real)1 - beta2) * gi * gi;
        a.m.x[t][i] = mi;
        a.v.x[t][i] = vi;
        a.p.x[t][i] -= step * mi / (sqrt(vi) + epsilon);
    }
}

// Row r of the output is column indices[r] of data_t (dim x N): out is rows x dim.
extern "C" __global__ void gather_rows_of_transpose(
    const real* data_t, int dim, const u64* indices, int rows, real* out) {
    GRID_STRIDE(k, (u64)rows * dim) {
        u64 r = k % rows, d = k / rows;
        out[k] = data_t[d + indices[r] * (u64)dim];
    }
}

extern "C" __global__ void transpose(const real* a, int rows, int cols, real* out) {
    GRID_STRIDE(k, (u64)rows * cols) {
        u64 i = k % rows, j = k / rows;
        out[j + i * (u64)cols] = a[k];
    }
}

// Entry (i, j, l) of a rows x cols x layers grid, at offset + i * step0 + j * step1 + l * step2
// in each matrix's storage (src/backend/grid.rs), copied from `src` to `dst`: slices,
// concatenation, diagonals, the convolutions' reorderings.
extern "C" __global__ void copy_grid(
    const real* src, u64 from_offset, u64 from0, u64 from1, u64 from2, real* dst, u64 to_offset,
    u64 to0, u64 to1, u64 to2, u64 rows, u64 cols, u64 layers) {
    GRID_STRIDE(k, rows * cols * layers) {
        u64 i = k % rows, j = (k / rows) % cols, l = k / (rows * cols);
        dst[to_offset + i * to0 + j * to1 + l * to2] = src[from_offset + i * from0 + j * from1 + l * from2];
    }
}

// The lower Cholesky factor of the symmetric n x n `a` (its lower triangle read), column by
// column in one block: every entry NaN when a pivot is not positive, as on the host (where
// nalgebra refuses the factorisation). For the small matrices the crate factors (a low-rank
// guide's r x r capacitance): n steps, each a block-wide pass over one column.
extern "C" __global__ void cholesky(const real* a, int n, real* l) {
    __shared__ int failed;
    if (threadIdx.x == 0) failed = 0;
    for (u64 k = threadIdx.x; k < (u64)n * n; k += blockDim.x) {
        u64 i = k % n, j = k / n;
        l[k] = i >= j ? a[k] : (real)0;
    }
    __syncthreads();
    for (int j = 0; j < n; j++) {
        u64 jj = j + (u64)j * n;
        if (threadIdx.x == 0) {
            real d = l[jj];
            for (int k = 0; k < j; k++) d -= l[j + (u64)k * n] * l[j + (u64)k * n];
            if (d > (real)0) l[jj] = sqrt(d);
            else failed = 1;
        }
        __syncthreads();
        if (failed) break;
        for (int i = j + 1 + threadIdx.x; i < n; i += blockDim.x) {
            real s = l[i + (u64)j * n];
            for (int k = 0; k < j; k++) s -= l[i + (u64)k * n] * l[j + (u64)k * n];
            l[i + (u64)j * n] = s / l[jj];
        }
        __syncthreads();
    }
    if (failed) {
        for (u64 k = threadIdx.x; k < (u64)n * n; k += blockDim.x) l[k] = nan("");
    }
}

// The patches a convolution reads (im2col; src/autodiff/conv.rs): entry (b·P + y·W_out + x,
// (c·k + i)·k + j) of the (B·P) x (C·k·k) output is pixel (c, y·s + i − p, x·s + j − p) of image
// b (row b of `images`, B x C·H·W), or zero on the padding.
extern "C" __global__ void im2col(
    const real* images, int batch, int channels, int height, int width, int k, int stride,
    int pad, int out_h, int out_w, real* out) {
    u64 positions = (u64)out_h * out_w, rows = batch * positions;
    GRID_STRIDE(e, rows * channels * k * k) {
        u64 r = e % rows, column = e / rows;
        u64 b = r / positions, q = r % positions;
        int y = (int)(q / out_w), x = (int)(q % out_w);
        int j = (int)(column % k), i = (int)((column / k) % k), c = (int)(column / (k * k));
        int row = y * stride + i - pad, col = x * stride + j - pad;
        bool inside = row >= 0 && row < height && col >= 0 && col < width;
        out[e] = inside ? images[b + ((u64)(c * height + row) * width + col) * batch] : (real)0;
    }
}

// The adjoint of im2col (col2im): each pixel of each image sums the patch entries read from
// it. A thread gathers its pixel's (no atomics, so the sums are reproducible), in the host's
// order: output positions ascending, so i and j descending.
extern "C" __global__ void col2im(
    const real* patches, int batch, int channels, int height, int width, int k, int stride,
    int pad, int out_h, int out_w, real* out) {
    u64 positions = (u64)out_h * out_w, patch_rows = batch * positions;
    GRID_STRIDE(e, (u64)batch * channels * height * width) {
        u64 b = e % batch, source = e / batch;
        int col = (int)(source % width), row = (int)((source / width) % height);
        int c = (int)(source / ((u64)width * height));
        real acc = (real)0;
        for (int i = k - 1; i >= 0; i--) {
            int ty = row + pad - i;
            if (ty < 0 || ty % stride != 0 || ty / stride >= out_h) continue;
            for (int j = k - 1; j >= 0; j--) {
                int tx = col + pad - j;
                if (tx < 0 || tx % stride != 0 || tx / stride >= out_w) continue;
                u64 r = b * positions + (u64)(ty / stride) * out_w + tx / stride;
                acc += patches[r + (u64)((c * k + i) * k + j) * patch_rows];
            }
        }
        out[e] = acc;
    }
}

// Entries above the diagonal (and on it, unless kept) are zero.
extern "C" __global__ void lower_triangle(
    const real* a, int rows, int cols, int include_diagonal, real* out) {
    GRID_STRIDE(k, (u64)rows * cols) {
        u64 i = k % rows, j = k / rows;
        out[k] = (i > j || (include_diagonal && i == j)) ? a[k] : (real)0;
    }
}

// After cuBLAS's triangular solve with the n x n factor `l`: every entry of the solution NaN
// when `l` has a zero on its diagonal (cuBLAS divides by it; the host refuses the solve), so
// both give the same answer. Each block reads the diagonal for itself.
extern "C" __global__ void nan_if_singular(const real* l, int n, real* out, u64 len) {
    int zero = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) zero |= l[i + (u64)i * n] == (real)0;
    if (!__syncthreads_or(zero)) return;
    GRID_STRIDE(k, len) out[k] = nan("");
}

// Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"): counter
// `c` under key `k`, ten rounds.
__device__ uint4 philox(uint4 c, uint2 k) {
    for (int round = 0; round < 10; round++) {
        unsigned hi0 = __umulhi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        unsigned hi1 = __umulhi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k.x += 0x9E3779B9u;
        k.y += 0xBB67AE85u;
    }
    return c;
}

// A uniform in (0, 1) from 32 random bits.
__device__ __forceinline__ double open_unit(unsigned bits) {
    return ((double)bits + 0.5) * 2.3283064365386963e-10;
}

// Entries 4t .. 4t + 3 are Box–Muller pairs from the Philox block of counter t under the seed:
// the same seed gives the same draws for any launch size.
extern "C" __global__ void standard_normal(u64 seed, real* out, u64 n) {
    uint2 key = make_uint2((unsigned)seed, (unsigned)(seed >> 32));
    GRID_STRIDE(t, (n + 3) / 4) {
        uint4 bits = philox(make_uint4((unsigned)t, (unsigned)(t >> 32), 0u, 0u), key);
        double r0 = sqrt(-2.0 * log(open_unit(bits.x))), a0 = 2.0 * PI * open_unit(bits.y);
        double r1 = sqrt(-2.0 * log(open_unit(bits.z))), a1 = 2.0 * PI * open_unit(bits.w);
        double z[4] = {r0 * cos(a0), r0 * sin(a0), r1 * cos(a1), r1 * sin(a1)};
        for (int q = 0; q < 4; q++) {
            u64 k = 4 * t + q;
            if (k < n) out[k] = (real)z[q];
        }
    }
}

// Entries 2t and 2t + 1 are low + (high − low) u for two uniforms u in [0, 1) of 53 bits each,
// from the Philox block of counter t under the seed.
extern "C" __global__ void uniform(u64 seed, double low, double high, real* out, u64 n) {
    uint2 key = make_uint2((unsigned)seed, (unsigned)(seed >> 32));
    GRID_STRIDE(t, (n + 1) / 2) {
        uint4 bits = philox(make_uint4((unsigned)t, (unsigned)(t >> 32), 1u, 0u), key);
        unsigned words[4] = {bits.x, bits.y, bits.z, bits.w};
        for (int q = 0; q < 2; q++) {
            u64 k = 2 * t + q;
            u64 mantissa = ((u64)(words[2 * q] >> 5) << 26) | (words[2 * q + 1] >> 6);
            double u = (double)mantissa * 1.1102230246251565e-16;  // 2^-53
            if (k < n) out[k] = (real)(low + (high - low) * u);
        }
    }
}

// One thread per row: selection sampling (Knuth's Algorithm S) keeps column j with probability
// (count − kept) / (cols − j), which picks exactly `count` distinct columns, every set of them
// equally likely, in one pass and without scratch space. A kept entry becomes `low` or, on a
// fair coin where the two differ, `high`; the rest are copied. The draws of (row, column) come
// from the Philox block of that counter under the seed.
extern "C" __global__ void replace_in_rows(u64 seed, const real* x, u64 rows, u64 cols,
                                           u64 count, real low, real high, real* out) {
    uint2 key = make_uint2((unsigned)seed, (unsigned)(seed >> 32));
    GRID_STRIDE(i, rows) {
        u64 kept = 0;
        for (u64 j = 0; j < cols; j++) {
            uint4 bits = philox(make_uint4((unsigned)i, (unsigned)(i >> 32), (unsigned)j,
                                           (unsigned)(j >> 32) | 0x80000000u), key);
            bool keep = (double)(cols - j) * open_unit(bits.x) < (double)(count - kept);
            real v = x[i + j * rows];
            if (keep) {
                kept++;
                v = (low == high || (bits.y & 1u) == 0u) ? low : high;
            }
            out[i + j * rows] = v;
        }
    }
}
