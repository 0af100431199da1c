/* Histogram bucketing for modelops.runtime.telemetry, one request's values at a time.
 *
 * count(values, edges, counts, sums, histograms, width)
 *   values: float64, C-contiguous, rows x histograms (a request's feature matrix as it is)
 *   edges:  float64, C-contiguous, histograms x width; each row sorted, padded with +inf
 *   counts: int64, C-contiguous, writable, histograms x (width + 1): counts[f][k] += 1 where k
 *           is the number of edges of histogram f strictly below the value (Prometheus `le`: a
 *           value equal to an edge counts in that edge's bucket; +inf padding is never exceeded)
 *   sums:   float64, C-contiguous, writable, histograms; NaN is neither counted nor summed
 *
 * Why C: numpy needs a copy into a buffer, a sort and a binary search per histogram to do this
 * (about 8.5 us per request of 32 rows x 20 features of 12 buckets, and a buffer that pushes
 * the server's own data out of the CPU caches at every flush); compared one edge at a time along
 * a block of values, which the compiler vectorises, it takes about 2.3 us with AVX2 (5.7 us with
 * SSE2 only). The numpy
 * path stays as the fallback where this does not build, and as the reference the tests hold
 * this to. On x86-64 Linux the loop is compiled twice (AVX2 and baseline) and the CPU picks.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define BLOCK 256 /* values of one histogram compared at a time: 2 KB + 2 KB, in L1 */

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

CLONES static void bucket_rows(const double *values, Py_ssize_t rows, const double *edges, int64_t *counts,
                               double *sums, Py_ssize_t histograms, Py_ssize_t width) {
    double column[BLOCK];
    int64_t bucket[BLOCK];
    for (Py_ssize_t start = 0; start < rows; start += BLOCK) {
        Py_ssize_t n = rows - start < BLOCK ? rows - start : BLOCK;
        for (Py_ssize_t f = 0; f < histograms; f++) {
            const double *fe = edges + f * width;
            for (Py_ssize_t i = 0; i < n; i++) {
                column[i] = values[(start + i) * histograms + f];
                bucket[i] = 0;
            }
            for (Py_ssize_t j = 0; j < width; j++) {
                const double edge = fe[j];
                for (Py_ssize_t i = 0; i < n; i++) {
                    bucket[i] += column[i] > edge;
                }
            }
            int64_t *fc = counts + f * (width + 1);
            double sum = 0.0;
            for (Py_ssize_t i = 0; i < n; i++) {
                if (column[i] == column[i]) { /* not NaN */
                    fc[bucket[i]] += 1;
                    sum += column[i];
                }
            }
            sums[f] += sum;
        }
    }
}

static PyObject *count(PyObject *self, PyObject *args) {
    Py_buffer values, edges, counts, sums;
    Py_ssize_t histograms, width;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*w*w*nn", &values, &edges, &counts, &sums, &histograms, &width)) {
        return NULL;
    }
    PyObject *result = NULL;
    const Py_ssize_t real = (Py_ssize_t)sizeof(double), whole = (Py_ssize_t)sizeof(int64_t);
    if (histograms <= 0 || width < 0 || values.len % (real * histograms)) {
        PyErr_SetString(PyExc_ValueError, "values must be whole float64 rows of `histograms` (> 0) values");
    } else if (edges.len != histograms * width * real || counts.len != histograms * (width + 1) * whole ||
               sums.len != histograms * real) {
        PyErr_SetString(PyExc_ValueError, "edges, counts or sums do not match histograms x width");
    } else {
        bucket_rows((const double *)values.buf, values.len / (real * histograms), (const double *)edges.buf,
                    (int64_t *)counts.buf, (double *)sums.buf, histograms, width);
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&values);
    PyBuffer_Release(&edges);
    PyBuffer_Release(&counts);
    PyBuffer_Release(&sums);
    return result;
}

static PyMethodDef methods[] = {
    {"count", count, METH_VARARGS, "count(values, edges, counts, sums, histograms, width): bucket values in place."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_bucketing", "Histogram bucketing for modelops telemetry.", -1, methods, NULL, NULL, NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__bucketing(void) { return PyModule_Create(&module); }
