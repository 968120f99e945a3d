/* One pass per logit row, compiled: the row's maximum, then its float64 partition sum
 * S = sum exp(x - max) and, for a pair of rows (baseline, subject), the other row's sum and
 * T = sum exp(x_b - max_b) * (x_b - x_s), from which adapters/logit_rows.py derives the NLL and the KL.
 *
 * The arithmetic is specified, not left to a libm: exp(x) is 2^(k/16) for the integer k nearest x·16/ln 2, a
 * Cody-Waite reduction r = x - k·ln 2/16 (|r| <= ln 2/32), a degree-6 Taylor polynomial of r, the table value
 * 2^((k mod 16)/16) and 2^floor(k/16) built from exponent bits (relative error below 1e-15), every sum runs in
 * eight lanes (element i into lane i % 8, in index order) combined by a fixed tree, and the build turns
 * floating-point contraction off (-ffp-contract=off), so each IEEE operation is rounded on its own.
 * adapters/logit_rows.py carries the same operations in numpy (the reference this module must equal bit for
 * bit, tested), and every CPU, with or without AVX-512, gets the same bits.
 *
 * pair_stats_top also gives each row's five largest logits' indices, found in the same pass: the maximum loop
 * keeps each 64-element block's maximum, and only blocks whose maximum reaches the sixth largest block maximum
 * are searched. A row whose six largest values are not strictly decreasing gets -1s (its top-5 would depend on
 * how ties are broken; the caller asks torch.topk for it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef double v8d __attribute__((vector_size(64)));
typedef uint64_t v8u __attribute__((vector_size(64)));
typedef int64_t v8l __attribute__((vector_size(64)));

#define FLOOR (-700.0)                /* exp(-700) ~ 1e-304: below it a term cannot change a sum >= 1 */
/* x + MAGIC rounds x to an integer held in the low mantissa bits, offset by K_OFFSET = 16 * 1023 so that for every
 * x >= FLOOR (k >= -16158) the bits minus MAGIC_BITS (those of 0x1.8p52) are k + K_OFFSET >= 0: a logical shift by 4
 * (every instruction set has one for 64-bit lanes; AVX2 has no arithmetic one) then gives floor(k / 16) + 1023, the
 * biased exponent of 2^floor(k/16), and the low 4 bits are k mod 16 */
#define K_OFFSET 16368
#define MAGIC (0x1.8p52 + 16368.0)
#define MAGIC_BITS 0x4338000000000000ULL
#define LOG2E_16 0x1.71547652b82fep+4   /* 16 / ln 2 */
#define LN2_16_HI 0x1.62e42fee00000p-5 /* fdlibm's split of ln 2, over 16: k * LN2_16_HI is exact for |k| < 2^20 */
#define LN2_16_LO 0x1.a39ef35793c76p-37

/* 2^(j/16), j = 0..15, correctly rounded */
static const double EXP2_16[16] = {
    0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
    0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
    0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
    0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0,
};

/* 1/k! for k = 6 down to 0, correctly rounded (Horner order) */
#define HORNER(p, r)                                                                                   \
    p = 0x1.6c16c16c16c17p-10 * r + 0x1.1111111111111p-7;                                              \
    p = p * r + 0x1.5555555555555p-5;                                                                  \
    p = p * r + 0x1.5555555555555p-3;                                                                  \
    p = p * r + 0.5;                                                                                   \
    p = p * r + 1.0;                                                                                   \
    p = p * r + 1.0

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif
#define INLINE static inline __attribute__((always_inline))

#if defined(__GNUC__) && !defined(__clang__) && !defined(LOGIT_ROWS_TABLE_LOOP)
#define HAVE_PERMUTE 1
#else
#define HAVE_PERMUTE 0
#endif
/* Whether the CPU has AVX-512, set at import: its two-register permute reads EXP2_16 in one instruction, while AVX2
 * lowers that permute badly (2x slower than the loop, whose loads it vectorizes). Speed only: both select the same
 * values, so the same bits. */
static int permute_table;

/* EXP2_16[index mod 16] lane by lane: one two-register permute where `permute` (permute_table, loop-invariant: the
 * loop is unswitched on it; __builtin_shuffle takes each index modulo 16 itself), else a loop (also where GCC's
 * __builtin_shuffle is missing, clang, or LOGIT_ROWS_TABLE_LOOP is defined, as tests/unit/test_logit_rows_isa.py
 * builds it). */
INLINE v8d table_lanes(v8u index, int permute) {
#if HAVE_PERMUTE
    if (permute) {
        v8d low, high;
        memcpy(&low, EXP2_16, sizeof low);
        memcpy(&high, EXP2_16 + 8, sizeof high);
        return __builtin_shuffle(low, high, index);
    }
#else
    (void)permute;
#endif
    v8d out;
    for (int j = 0; j < 8; j++)
        out[j] = EXP2_16[index[j] & 15];
    return out;
}

INLINE v8d exp_lanes(v8d x, int permute) {
    v8l low = x < FLOOR;
    x = (v8d)(((v8l)x & ~low) | ((v8l)((v8d){0} + FLOOR) & low));
    v8d kd = x * LOG2E_16 + MAGIC;
    v8d k = kd - MAGIC;
    v8d r = x - k * LN2_16_HI;
    r = r - k * LN2_16_LO;
    v8d p;
    HORNER(p, r);
    v8u ki = (v8u)kd - MAGIC_BITS; /* k + K_OFFSET */
    v8u bits = (ki >> 4) << 52;
    return (p * table_lanes(ki, permute)) * (v8d)bits;
}

/* Element by element, which GCC compiles to one widening load on AVX-512 (its __builtin_convertvector of a v8f splits
 * the vector in halves and converts each: four more instructions per load) */
INLINE v8d load8(const float *x) {
    return (v8d){x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]};
}

/* The last n % 8 elements as lanes 0..count-1 of a vector (zeros after them), and the mask of those lanes:
 * a row's tail runs through the same vector operations as its body; the masked-off lanes add +0.0, which
 * leaves every lane sum as it was (the reference pads with zeros the same way). */
INLINE v8d load_tail(const float *x, Py_ssize_t count) {
    float v[8] = {0};
    memcpy(v, x, (size_t)count * sizeof(float));
    return load8(v);
}

INLINE v8d keep_lanes(v8d a, Py_ssize_t count) {
    v8l lane = {0, 1, 2, 3, 4, 5, 6, 7};
    return (v8d)((v8l)a & (lane < count));
}

INLINE double tree(v8d a) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

CLONES static float row_max(const float *x, Py_ssize_t n) {
    v8f best = (v8f){0} - __builtin_inff();
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f v;
        memcpy(&v, x + i, sizeof v);
        v8i more = v > best;
        best = (v8f)(((v8i)v & more) | ((v8i)best & ~more));
    }
    float m = -__builtin_inff();
    for (int j = 0; j < 8; j++)
        m = best[j] > m ? best[j] : m;
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

#define BLOCK 64
#define TOP 5

/* row_max's maximum, the same comparisons in the same order, and each BLOCK-element block's maximum into blocks
 * (ceil(n / BLOCK) of them; NaN ignored in both, as a block of NaN and -inf only gives -inf). */
CLONES static float row_max_blocks(const float *x, Py_ssize_t n, float *blocks) {
    v8f best = (v8f){0} - __builtin_inff();
    Py_ssize_t i = 0, b = 0;
    for (; i + 8 <= n; b++) {
        v8f block = (v8f){0} - __builtin_inff();
        Py_ssize_t end = i + BLOCK < n ? i + BLOCK : n;
        for (; i + 8 <= end; i += 8) {
            v8f v;
            memcpy(&v, x + i, sizeof v);
            v8i more = v > best, above = v > block;
            best = (v8f)(((v8i)v & more) | ((v8i)best & ~more));
            block = (v8f)(((v8i)v & above) | ((v8i)block & ~above));
        }
        float top = -__builtin_inff();
        for (int j = 0; j < 8; j++)
            top = block[j] > top ? block[j] : top;
        blocks[b] = top;
    }
    for (Py_ssize_t k = b; k * BLOCK < n; k++) /* the tail's block when it starts one */
        blocks[k] = -__builtin_inff();
    float m = -__builtin_inff();
    for (int j = 0; j < 8; j++)
        m = best[j] > m ? best[j] : m;
    for (; i < n; i++) {
        m = x[i] > m ? x[i] : m;
        blocks[i / BLOCK] = x[i] > blocks[i / BLOCK] ? x[i] : blocks[i / BLOCK];
    }
    return m;
}

/* Insert (value, at) into the sorted (descending) six-entry lists when it beats the last entry. */
static void keep_six(float *values, int64_t *at, float value, int64_t index) {
    if (!(value > values[TOP]))
        return;
    int k = TOP;
    for (; k > 0 && value > values[k - 1]; k--) {
        values[k] = values[k - 1];
        at[k] = at[k - 1];
    }
    values[k] = value;
    at[k] = index;
}

/* The indices of the row's TOP largest values, largest first, into top; -1s unless its TOP + 1 largest values
 * (NaN ignored) are strictly decreasing. Every one of those six values is at least the sixth largest block
 * maximum (six distinct elements reach it), so only blocks reaching it are searched. */
static void row_top(const float *x, Py_ssize_t n, const float *blocks, int64_t *top) {
    Py_ssize_t count = (n + BLOCK - 1) / BLOCK;
    float values[TOP + 1], block_values[TOP + 1];
    int64_t at[TOP + 1], block_at[TOP + 1];
    for (int k = 0; k <= TOP; k++) {
        values[k] = block_values[k] = -__builtin_inff();
        at[k] = block_at[k] = -1;
        if (k < TOP)
            top[k] = -1;
    }
    if (n <= TOP)
        return;
    for (Py_ssize_t b = 0; b < count; b++)
        keep_six(block_values, block_at, blocks[b], b);
    float reach = block_values[TOP];
    for (Py_ssize_t b = 0; b < count; b++) {
        if (!(blocks[b] >= reach))
            continue;
        Py_ssize_t end = (b + 1) * BLOCK < n ? (b + 1) * BLOCK : n;
        for (Py_ssize_t i = b * BLOCK; i < end; i++)
            keep_six(values, at, x[i], i);
    }
    for (int k = 0; k < TOP; k++)
        if (!(values[k] > values[k + 1]))
            return;
    for (int k = 0; k < TOP; k++)
        top[k] = at[k];
}

/* Where the next row of a call starts (the current one for its last row): the sum loops below ask for it in L2 while
 * they compute, so that the next row's maximum loop, which only reads, finds it there instead of waiting on memory.
 * Speed only: a prefetch changes no value. */
INLINE void prefetch_line(const float *next, Py_ssize_t i) {
    __builtin_prefetch(next + i, 0, 2);
}

/* S of one row; `permute` a constant in each caller, so the loop is compiled once for each table lookup */
INLINE double row_sum(const float *x, Py_ssize_t n, double m, const float *next, int permute) {
    v8d s = {0};
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        prefetch_line(next, i);
        s += exp_lanes(load8(x + i) - m, permute);
    }
    if (i < n)
        s += keep_lanes(exp_lanes(load_tail(x + i, n - i) - m, permute), n - i);
    return tree(s);
}

/* out: max, S */
CLONES static void one_row(const float *x, Py_ssize_t n, const float *next, double *out) {
    double m = row_max(x, n);
    out[0] = m;
    out[1] = permute_table ? row_sum(x, n, m, next, 1) : row_sum(x, n, m, next, 0);
}

INLINE void pair_sums_with(const float *b, const float *s, Py_ssize_t n, const float *next_b, const float *next_s,
                           double *out, int permute) {
    double mb = out[0], ms = out[2];
    v8d sb = {0}, ss = {0}, t = {0};
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        prefetch_line(next_b, i);
        prefetch_line(next_s, i);
        v8d xb = load8(b + i), xs = load8(s + i);
        v8d eb = exp_lanes(xb - mb, permute);
        sb += eb;
        ss += exp_lanes(xs - ms, permute);
        t += eb * (xb - xs);
    }
    if (i < n) {
        v8d xb = load_tail(b + i, n - i), xs = load_tail(s + i, n - i);
        v8d eb = keep_lanes(exp_lanes(xb - mb, permute), n - i);
        sb += eb;
        ss += keep_lanes(exp_lanes(xs - ms, permute), n - i);
        t += eb * (xb - xs);
    }
    out[1] = tree(sb);
    out[3] = tree(ss);
    out[4] = tree(t);
}

/* out: max_b, S_b, max_s, S_s, T, from out[0] = max_b and out[2] = max_s set by the caller */
CLONES static void pair_sums(const float *b, const float *s, Py_ssize_t n, const float *next_b, const float *next_s,
                             double *out) {
    if (permute_table)
        pair_sums_with(b, s, n, next_b, next_s, out, 1);
    else
        pair_sums_with(b, s, n, next_b, next_s, out, 0);
}

/* Row r of a call and where the next one starts: row r itself for the last row */
INLINE const float *row_at(const void *buf, Py_ssize_t r, Py_ssize_t vocab) {
    return (const float *)buf + r * vocab;
}

INLINE const float *next_row(const void *buf, Py_ssize_t r, Py_ssize_t rows, Py_ssize_t vocab) {
    return row_at(buf, r + 1 < rows ? r + 1 : r, vocab);
}

static void pair_row(const float *b, const float *s, Py_ssize_t n, const float *next_b, const float *next_s,
                     double *out) {
    out[0] = row_max(b, n);
    out[2] = row_max(s, n);
    pair_sums(b, s, n, next_b, next_s, out);
}

/* pair_row's out, and top: each row's row_top (baseline's, then subject's); blocks holds 2 * ceil(n / BLOCK) */
static void pair_row_top(const float *b, const float *s, Py_ssize_t n, const float *next_b, const float *next_s,
                         double *out, int64_t *top, float *blocks) {
    float *blocks_s = blocks + (n + BLOCK - 1) / BLOCK;
    out[0] = row_max_blocks(b, n, blocks);
    out[2] = row_max_blocks(s, n, blocks_s);
    pair_sums(b, s, n, next_b, next_s, out);
    row_top(b, n, blocks, top);
    row_top(s, n, blocks_s, top + TOP);
}

static int check(Py_buffer *buf, Py_ssize_t bytes, const char *what) {
    if (buf->len != bytes) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected %zd", what, buf->len, bytes);
        return 0;
    }
    return 1;
}

/* rows >= 0, vocab > 0, and rows * vocab * 8 (the widest buffer) within Py_ssize_t */
static int dims_ok(Py_ssize_t rows, Py_ssize_t vocab) {
    if (rows >= 0 && vocab > 0 && vocab <= PY_SSIZE_T_MAX / 40 && rows <= PY_SSIZE_T_MAX / (vocab * 8))
        return 1;
    PyErr_Format(PyExc_ValueError, "rows must be >= 0 and vocab > 0 within memory, got %zd x %zd", rows, vocab);
    return 0;
}

static PyObject *none_or_null(int ok) {
    if (!ok)
        return NULL;
    Py_INCREF(Py_None);
    return Py_None;
}

static PyObject *row_stats(PyObject *self, PyObject *args) {
    Py_buffer x, out;
    Py_ssize_t rows, vocab;
    if (!PyArg_ParseTuple(args, "y*nnw*", &x, &rows, &vocab, &out))
        return NULL;
    int ok = dims_ok(rows, vocab) && check(&x, rows * vocab * 4, "logits") && check(&out, rows * 16, "out");
    if (ok) {
        Py_BEGIN_ALLOW_THREADS;
        for (Py_ssize_t r = 0; r < rows; r++)
            one_row(row_at(x.buf, r, vocab), vocab, next_row(x.buf, r, rows, vocab), (double *)out.buf + 2 * r);
        Py_END_ALLOW_THREADS;
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&out);
    return none_or_null(ok);
}

static PyObject *pair_stats(PyObject *self, PyObject *args) {
    Py_buffer b, s, out;
    Py_ssize_t rows, vocab;
    if (!PyArg_ParseTuple(args, "y*y*nnw*", &b, &s, &rows, &vocab, &out))
        return NULL;
    int ok = dims_ok(rows, vocab) && check(&b, rows * vocab * 4, "baseline logits") &&
             check(&s, rows * vocab * 4, "subject logits") && check(&out, rows * 40, "out");
    if (ok) {
        Py_BEGIN_ALLOW_THREADS;
        for (Py_ssize_t r = 0; r < rows; r++)
            pair_row(row_at(b.buf, r, vocab), row_at(s.buf, r, vocab), vocab, next_row(b.buf, r, rows, vocab),
                     next_row(s.buf, r, rows, vocab), (double *)out.buf + 5 * r);
        Py_END_ALLOW_THREADS;
    }
    PyBuffer_Release(&b);
    PyBuffer_Release(&s);
    PyBuffer_Release(&out);
    return none_or_null(ok);
}

static PyObject *pair_stats_top(PyObject *self, PyObject *args) {
    Py_buffer b, s, out, top;
    Py_ssize_t rows, vocab;
    if (!PyArg_ParseTuple(args, "y*y*nnw*w*", &b, &s, &rows, &vocab, &out, &top))
        return NULL;
    int ok = dims_ok(rows, vocab) && check(&b, rows * vocab * 4, "baseline logits") &&
             check(&s, rows * vocab * 4, "subject logits") && check(&out, rows * 40, "out") &&
             check(&top, rows * 2 * TOP * 8, "top");
    float *blocks = ok ? malloc((size_t)(2 * ((vocab + BLOCK - 1) / BLOCK)) * sizeof(float)) : NULL;
    if (ok && blocks == NULL) {
        PyErr_NoMemory();
        ok = 0;
    }
    if (ok) {
        Py_BEGIN_ALLOW_THREADS;
        for (Py_ssize_t r = 0; r < rows; r++)
            pair_row_top(row_at(b.buf, r, vocab), row_at(s.buf, r, vocab), vocab, next_row(b.buf, r, rows, vocab),
                         next_row(s.buf, r, rows, vocab), (double *)out.buf + 5 * r, (int64_t *)top.buf + 2 * TOP * r,
                         blocks);
        Py_END_ALLOW_THREADS;
    }
    free(blocks);
    PyBuffer_Release(&b);
    PyBuffer_Release(&s);
    PyBuffer_Release(&out);
    PyBuffer_Release(&top);
    return none_or_null(ok);
}

static PyMethodDef methods[] = {
    {"row_stats", row_stats, METH_VARARGS,
     "row_stats(logits, rows, vocab, out): per row (max, S) of float32 rows into float64 out (rows x 2)"},
    {"pair_stats", pair_stats, METH_VARARGS,
     "pair_stats(base, subj, rows, vocab, out): per row (max_b, S_b, max_s, S_s, T) into out (rows x 5)"},
    {"pair_stats_top", pair_stats_top, METH_VARARGS,
     "pair_stats_top(base, subj, rows, vocab, out, top): pair_stats' out, and each row's top-5 indices (or -1s "
     "where its six largest values tie) into int64 top (rows x 2 x 5)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_logit_rows", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__logit_rows(void) {
#if HAVE_PERMUTE && defined(__x86_64__)
    __builtin_cpu_init();
    permute_table = __builtin_cpu_supports("avx512f");
#endif
    return PyModule_Create(&module);
}
