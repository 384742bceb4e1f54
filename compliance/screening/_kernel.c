/*
 * The name index's kernel in C: the score bounds (steps 2 and 3 of compliance/screening/index.py) and the
 * similarities of a looked-up word to the list words its keys reach (step 1; `Kernel.similarities`: the
 * scorer's `token_similarity`, to the bit, for ASCII words).
 *
 * `index.py` computes the same two bounds with numpy (a first bound over the generating rows' postings)
 * and in plain Python (each candidate's bound); per query that is some twenty numpy calls and a Python
 * loop over every candidate's tokens, most of a warm query's time. This module does both in one call:
 *
 *   - the first bound in float32, summing each generating row's postings per form in row and posting
 *     order, as `np.add.at` over the concatenated postings does, so that the same forms pass. A row whose
 *     postings the Python side did not materialise (a word found through its lookup keys) is read from
 *     the index's own CSR postings, in the order `NameIndex.expanded` would concatenate them;
 *   - the candidate bound in double, as `NameIndex._bound_small` computes it, for every candidate (the
 *     Python code switches to a vectorised float32 variant above 48 candidates; here one path serves all).
 *     Similarities are read as the rows store them (float32); the Python bound reads a looked-up word's
 *     similarities as computed (double), so the two bounds may differ in the seventh decimal. Both stay
 *     upper bounds of the score with the same slack.
 *
 * Written for this project; it uses only the CPython and NumPy C APIs. The Python code stays the reference
 * and the fallback wherever this extension is not built (`compliance/native.py`), and the test suite
 * compares the two on real list names (tests/screening/test_index_kernel.py).
 *
 * Input is checked (types, lengths, every id and posting in range) before any scratch is touched.
 *
 * Thread safety: a `Kernel` owns scratch arrays the size of the index. The work that uses them runs with
 * the GIL held and makes no Python object, so no other thread's call can run in between; a call that finds
 * the scratch in use anyway (re-entry) takes temporary scratch of its own.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_SIM 0.6
#define N_ARRAYS 15

typedef struct {
    PyObject_HEAD
    PyObject *keep;             /* the arrays below, kept alive */
    const int64_t *form_off;    /* per form: its tokens in form_tok (CSR) */
    const int32_t *form_tok;    /* vocabulary ids */
    const double *form_w;       /* per form token: its weight */
    const int64_t *form_moff;   /* per form: its merge tokens in form_mtok (CSR) */
    const int32_t *form_mtok;   /* n_vocab + merge id */
    const double *form_mw;      /* per merge token: the weight of the words it joins */
    const double *form_total;
    const float *form_total32;
    const npy_bool *form_org;
    const npy_bool *form_single; /* whether the form has a one-letter token */
    const int32_t *vocab_first;  /* per vocabulary id: its first letter's code */
    const npy_bool *vocab_single;
    const int64_t *all_off;     /* per token id (vocabulary, then merge tokens): its postings (CSR) */
    const int32_t *all_form;    /* the forms holding the token */
    const double *all_w;        /* the token's weight in that form */
    Py_ssize_t n_forms;
    Py_ssize_t n_tokens;        /* vocabulary ids and merge ids */
    Py_ssize_t n_vocab;
    Py_ssize_t max_toks;        /* the most tokens (or merge tokens) of one form */
    /* scratch: all zeros (heads all -1, marks all below `epoch`) between calls */
    float *acc_q;
    float *acc_e;
    uint32_t *mark;             /* a form's first sight in a call: its mark set to that call's epoch */
    uint32_t epoch;
    int32_t *head;
    int busy;
    /* the vocabulary and the scorer's constants, for word similarities */
    PyObject *vocab;            /* tuple of str */
    PyObject *vocab_ph;         /* tuple of str: each word's phonetic key */
    double initial_sim;
    double phonetic_rescue;
    Py_ssize_t min_phonetic;
} Kernel;

typedef struct {
    const int32_t *ids;
    const float *sims;
    Py_ssize_t n;
    double weight;
    long first;
    int initial;
    const int32_t *postings;    /* NULL: read the postings of `ids` from the index */
    const float *values;        /* complex64 as (similarity, credit) pairs */
    Py_ssize_t n_postings;
} Row;

typedef struct {
    int32_t row;
    int32_t next;
    double sim;
} Reach;

typedef struct {
    int32_t form;
    double bound;
} Bounded;

static PyArrayObject *
checked_array(PyObject *obj, int typenum, const char *what)
{
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a numpy array, got %.100s", what, Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyArrayObject *arr = (PyArrayObject *)obj;
    if (PyArray_TYPE(arr) != typenum || PyArray_NDIM(arr) != 1 || !PyArray_IS_C_CONTIGUOUS(arr)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a contiguous one-dimensional array of the right dtype", what);
        return NULL;
    }
    return arr;
}

/* Two one-dimensional arrays of the given dtypes and of one length (a row's ids and sims, its postings and
   values); -1 with an exception naming them otherwise. */
static int
checked_pair(PyObject *first, int first_type, const char *first_name, PyObject *second, int second_type,
             const char *second_name, PyArrayObject **first_out, PyArrayObject **second_out)
{
    *first_out = checked_array(first, first_type, first_name);
    *second_out = *first_out ? checked_array(second, second_type, second_name) : NULL;
    if (*second_out == NULL) {
        return -1;
    }
    if (PyArray_DIM(*first_out, 0) != PyArray_DIM(*second_out, 0)) {
        PyErr_Format(PyExc_ValueError, "rows: %s and %s differ in length", first_name, second_name);
        return -1;
    }
    return 0;
}

static void
Kernel_dealloc(Kernel *self)
{
    Py_XDECREF(self->keep);
    Py_XDECREF(self->vocab);
    Py_XDECREF(self->vocab_ph);
    free(self->acc_q);
    free(self->acc_e);
    free(self->mark);
    free(self->head);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Kernel_init(Kernel *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {
        "form_off", "form_tok", "form_w", "form_moff", "form_mtok", "form_mw", "form_total", "form_total32",
        "form_org", "form_single", "vocab_first", "vocab_single", "all_off", "all_form", "all_w",
        "vocab", "vocab_ph", "initial_sim", "phonetic_rescue", "min_phonetic", NULL,
    };
    PyObject *o[N_ARRAYS];
    PyObject *vocab, *vocab_ph;
    double initial_sim, phonetic_rescue;
    Py_ssize_t min_phonetic;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOOOOOOOOOOOOO!O!ddn", kwlist, &o[0], &o[1], &o[2], &o[3],
                                     &o[4], &o[5], &o[6], &o[7], &o[8], &o[9], &o[10], &o[11], &o[12], &o[13],
                                     &o[14], &PyTuple_Type, &vocab, &PyTuple_Type, &vocab_ph, &initial_sim,
                                     &phonetic_rescue, &min_phonetic)) {
        return -1;
    }
    static const int types[N_ARRAYS] = {
        NPY_INT64, NPY_INT32, NPY_FLOAT64, NPY_INT64, NPY_INT32, NPY_FLOAT64, NPY_FLOAT64, NPY_FLOAT32,
        NPY_BOOL, NPY_BOOL, NPY_INT32, NPY_BOOL, NPY_INT64, NPY_INT32, NPY_FLOAT64,
    };
    PyArrayObject *a[N_ARRAYS];
    for (int i = 0; i < N_ARRAYS; i++) {
        a[i] = checked_array(o[i], types[i], kwlist[i]);
        if (a[i] == NULL) {
            return -1;
        }
    }
    Py_ssize_t n_forms = PyArray_DIM(a[6], 0);
    Py_ssize_t n_vocab = PyArray_DIM(a[10], 0);
    Py_ssize_t n_tokens = PyArray_DIM(a[12], 0) - 1;
    if (PyTuple_GET_SIZE(vocab) != n_vocab || PyTuple_GET_SIZE(vocab_ph) != n_vocab) {
        PyErr_SetString(PyExc_ValueError, "Kernel: vocab and vocab_ph need one entry per vocabulary word");
        return -1;
    }
    for (Py_ssize_t v = 0; v < n_vocab; v++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(vocab, v)) || !PyUnicode_Check(PyTuple_GET_ITEM(vocab_ph, v))) {
            PyErr_SetString(PyExc_TypeError, "Kernel: vocab and vocab_ph hold strings");
            return -1;
        }
    }
    if (PyArray_DIM(a[0], 0) != n_forms + 1 || PyArray_DIM(a[3], 0) != n_forms + 1
        || PyArray_DIM(a[7], 0) != n_forms || PyArray_DIM(a[8], 0) != n_forms || PyArray_DIM(a[9], 0) != n_forms
        || PyArray_DIM(a[11], 0) != n_vocab || PyArray_DIM(a[2], 0) != PyArray_DIM(a[1], 0)
        || PyArray_DIM(a[5], 0) != PyArray_DIM(a[4], 0) || n_tokens < n_vocab
        || PyArray_DIM(a[14], 0) != PyArray_DIM(a[13], 0)) {
        PyErr_SetString(PyExc_ValueError, "Kernel: the index arrays' lengths do not agree");
        return -1;
    }
    const int64_t *off = (const int64_t *)PyArray_DATA(a[0]);
    const int64_t *moff = (const int64_t *)PyArray_DATA(a[3]);
    const int32_t *tok = (const int32_t *)PyArray_DATA(a[1]);
    const int32_t *mtok = (const int32_t *)PyArray_DATA(a[4]);
    if (off[0] != 0 || moff[0] != 0 || off[n_forms] != PyArray_DIM(a[1], 0) || moff[n_forms] != PyArray_DIM(a[4], 0)) {
        PyErr_SetString(PyExc_ValueError, "Kernel: the form offsets do not span the token arrays");
        return -1;
    }
    Py_ssize_t max_toks = 1;
    for (Py_ssize_t f = 0; f < n_forms; f++) {
        if (off[f + 1] < off[f] || moff[f + 1] < moff[f]) {
            PyErr_SetString(PyExc_ValueError, "Kernel: the form offsets are not ascending");
            return -1;
        }
        if (off[f + 1] - off[f] > max_toks) {
            max_toks = off[f + 1] - off[f];
        }
        if (moff[f + 1] - moff[f] > max_toks) {
            max_toks = moff[f + 1] - moff[f];
        }
    }
    for (Py_ssize_t k = 0; k < PyArray_DIM(a[1], 0); k++) {
        if (tok[k] < 0 || tok[k] >= n_vocab) {
            PyErr_SetString(PyExc_ValueError, "Kernel: a form token is not a vocabulary id");
            return -1;
        }
    }
    for (Py_ssize_t k = 0; k < PyArray_DIM(a[4], 0); k++) {
        if (mtok[k] < n_vocab || mtok[k] >= n_tokens) {
            PyErr_SetString(PyExc_ValueError, "Kernel: a merge token is out of range");
            return -1;
        }
    }
    const int64_t *all_off = (const int64_t *)PyArray_DATA(a[12]);
    const int32_t *all_form = (const int32_t *)PyArray_DATA(a[13]);
    if (all_off[0] != 0 || all_off[n_tokens] != PyArray_DIM(a[13], 0)) {
        PyErr_SetString(PyExc_ValueError, "Kernel: the token offsets do not span the postings");
        return -1;
    }
    for (Py_ssize_t t = 0; t < n_tokens; t++) {
        if (all_off[t + 1] < all_off[t]) {
            PyErr_SetString(PyExc_ValueError, "Kernel: the token offsets are not ascending");
            return -1;
        }
    }
    for (Py_ssize_t k = 0; k < PyArray_DIM(a[13], 0); k++) {
        if (all_form[k] < 0 || all_form[k] >= n_forms) {
            PyErr_SetString(PyExc_ValueError, "Kernel: a posting is not a form");
            return -1;
        }
    }
    PyObject *keep = PyTuple_New(N_ARRAYS);
    if (keep == NULL) {
        return -1;
    }
    for (int i = 0; i < N_ARRAYS; i++) {
        Py_INCREF(o[i]);
        PyTuple_SET_ITEM(keep, i, o[i]);
    }
    float *acc_q = calloc((size_t)n_forms + 1, sizeof(float));
    float *acc_e = calloc((size_t)n_forms + 1, sizeof(float));
    uint32_t *mark = calloc((size_t)n_forms + 1, sizeof(uint32_t));
    int32_t *head = malloc(((size_t)n_tokens + 1) * sizeof(int32_t));
    if (acc_q == NULL || acc_e == NULL || mark == NULL || head == NULL) {
        free(acc_q);
        free(acc_e);
        free(mark);
        free(head);
        Py_DECREF(keep);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t t = 0; t <= n_tokens; t++) {
        head[t] = -1;
    }
    /* __init__ again on the same object: let go of the first call's state */
    Py_XDECREF(self->keep);
    free(self->acc_q);
    free(self->acc_e);
    free(self->mark);
    free(self->head);
    self->keep = keep;
    self->form_off = off;
    self->form_tok = tok;
    self->form_w = (const double *)PyArray_DATA(a[2]);
    self->form_moff = moff;
    self->form_mtok = mtok;
    self->form_mw = (const double *)PyArray_DATA(a[5]);
    self->form_total = (const double *)PyArray_DATA(a[6]);
    self->form_total32 = (const float *)PyArray_DATA(a[7]);
    self->form_org = (const npy_bool *)PyArray_DATA(a[8]);
    self->form_single = (const npy_bool *)PyArray_DATA(a[9]);
    self->vocab_first = (const int32_t *)PyArray_DATA(a[10]);
    self->vocab_single = (const npy_bool *)PyArray_DATA(a[11]);
    self->all_off = all_off;
    self->all_form = all_form;
    self->all_w = (const double *)PyArray_DATA(a[14]);
    self->n_forms = n_forms;
    self->n_tokens = n_tokens;
    self->n_vocab = n_vocab;
    self->max_toks = max_toks;
    self->acc_q = acc_q;
    self->acc_e = acc_e;
    self->mark = mark;
    self->epoch = 0;
    self->head = head;
    self->busy = 0;
    Py_INCREF(vocab);
    Py_INCREF(vocab_ph);
    Py_XSETREF(self->vocab, vocab);
    Py_XSETREF(self->vocab_ph, vocab_ph);
    self->initial_sim = initial_sim;
    self->phonetic_rescue = phonetic_rescue;
    self->min_phonetic = min_phonetic;
    return 0;
}

/* ---- word similarity: compliance.screening.scorer.token_similarity, for ASCII words ------------------- */

/* rapidfuzz's Levenshtein.normalized_similarity (unit weights): 1 - distance / max(len), to the bit */
static double
normalized_similarity(const char *a, Py_ssize_t la, const char *b, Py_ssize_t lb)
{
    Py_ssize_t longest = la > lb ? la : lb;
    if (longest == 0) {
        return 1.0;
    }
    Py_ssize_t stack[128];
    Py_ssize_t *row = lb < 128 ? stack : malloc(((size_t)lb + 1) * sizeof(Py_ssize_t));
    if (row == NULL) {
        return -1.0;
    }
    for (Py_ssize_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (Py_ssize_t i = 1; i <= la; i++) {
        Py_ssize_t diagonal = row[0];
        row[0] = i;
        for (Py_ssize_t j = 1; j <= lb; j++) {
            Py_ssize_t above = row[j];
            Py_ssize_t best = diagonal + (a[i - 1] != b[j - 1]);
            if (above + 1 < best) {
                best = above + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            diagonal = above;
            row[j] = best;
        }
    }
    Py_ssize_t distance = row[lb];
    if (row != stack) {
        free(row);
    }
    return 1.0 - (double)distance / (double)longest;
}

/* scorer.singular: ``-ies`` -> ``-y``, a final ``s`` (not ``ss``) dropped, for words of five letters or more */
static Py_ssize_t
singular(const char *t, Py_ssize_t n, char *out)
{
    if (n > 4 && t[n - 3] == 'i' && t[n - 2] == 'e' && t[n - 1] == 's') {
        memcpy(out, t, (size_t)n - 3);
        out[n - 3] = 'y';
        return n - 2;
    }
    if (n > 4 && t[n - 1] == 's' && t[n - 2] != 's') {
        memcpy(out, t, (size_t)n - 1);
        return n - 1;
    }
    memcpy(out, t, (size_t)n);
    return n;
}

static int
is_vowel(char c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

/* scorer.token_similarity, step by step; -1 when out of memory */
static double
word_similarity(const Kernel *self, const char *a, Py_ssize_t la, const char *b, Py_ssize_t lb, const char *pa,
                Py_ssize_t lpa, const char *pb, Py_ssize_t lpb)
{
    if (la == lb && memcmp(a, b, (size_t)la) == 0) {
        return 1.0;
    }
    if (la == 1 || lb == 1) {
        return a[0] == b[0] ? self->initial_sim : 0.0;
    }
    Py_ssize_t longest = la > lb ? la : lb;
    if (longest <= 3) {
        return 0.0;
    }
    double cutoff = longest <= 5 ? 0.75 : 0.7;
    double sim = normalized_similarity(a, la, b, lb);
    if (sim < 0.0) {
        return -1.0;
    }
    if (sim >= cutoff) {
        return sim;
    }
    if (longest >= 6 && (a[la - 1] == 's' || b[lb - 1] == 's')) {
        char sa_stack[128], sb_stack[128];
        char *sa = la < 128 ? sa_stack : malloc((size_t)la);
        char *sb = lb < 128 ? sb_stack : malloc((size_t)lb);
        double rescued = -2.0;  /* no rescue */
        if (sa == NULL || sb == NULL) {
            rescued = -1.0;
        } else {
            Py_ssize_t lsa = singular(a, la, sa), lsb = singular(b, lb, sb);
            int changed = lsa != la || memcmp(sa, a, (size_t)la) != 0 || lsb != lb || memcmp(sb, b, (size_t)lb) != 0;
            if (changed) {
                double sim2 = normalized_similarity(sa, lsa, sb, lsb);
                Py_ssize_t ls = lsa > lsb ? lsa : lsb;
                double cut2 = ls <= 3 ? 1.01 : (ls <= 5 ? 0.75 : 0.7);
                if (sim2 < 0.0) {
                    rescued = -1.0;
                } else if (sim2 >= cut2) {
                    rescued = sim2 < sim + 0.1 ? sim2 : sim + 0.1;
                }
            }
        }
        if (sa != sa_stack) {
            free(sa);
        }
        if (sb != sb_stack) {
            free(sb);
        }
        if (rescued != -2.0) {
            return rescued;
        }
    }
    if (lpa > 0 && lpa == lpb && memcmp(pa, pb, (size_t)lpa) == 0 && lpa >= self->min_phonetic && sim >= 0.4
        && (a[0] == b[0] || (is_vowel(a[0]) && is_vowel(b[0])))) {
        return self->phonetic_rescue;
    }
    return 0.0;
}

PyDoc_STRVAR(Kernel_similarities_doc,
"similarities(token, phonetic, ids) -> dict[int, float] | None\n\n"
"The scorer's token_similarity of `token` (with its phonetic key) to each vocabulary word in `ids`, for the\n"
"words where it is above 0; None when a word or the token is not ASCII (the caller computes it in Python).");

static PyObject *
Kernel_similarities(Kernel *self, PyObject *args)
{
    PyObject *tok_obj, *ph_obj, *ids_obj;
    if (self->vocab == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Kernel: not initialised");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "UUO", &tok_obj, &ph_obj, &ids_obj)) {
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(tok_obj) || !PyUnicode_IS_ASCII(ph_obj) || PyUnicode_GET_LENGTH(tok_obj) == 0) {
        Py_RETURN_NONE;
    }
    const char *a = (const char *)PyUnicode_1BYTE_DATA(tok_obj);
    Py_ssize_t la = PyUnicode_GET_LENGTH(tok_obj);
    const char *pa = (const char *)PyUnicode_1BYTE_DATA(ph_obj);
    Py_ssize_t lpa = PyUnicode_GET_LENGTH(ph_obj);
    PyObject *iter = PyObject_GetIter(ids_obj);
    if (iter == NULL) {
        return NULL;
    }
    PyObject *out = PyDict_New();
    if (out == NULL) {
        Py_DECREF(iter);
        return NULL;
    }
    PyObject *item;
    while ((item = PyIter_Next(iter)) != NULL) {
        Py_ssize_t v = PyLong_AsSsize_t(item);
        if (v == -1 && PyErr_Occurred()) {
            goto fail;
        }
        if (v < 0 || v >= PyTuple_GET_SIZE(self->vocab)) {
            PyErr_SetString(PyExc_ValueError, "similarities: not a vocabulary id");
            goto fail;
        }
        PyObject *word = PyTuple_GET_ITEM(self->vocab, v), *wph = PyTuple_GET_ITEM(self->vocab_ph, v);
        if (!PyUnicode_IS_ASCII(word) || !PyUnicode_IS_ASCII(wph) || PyUnicode_GET_LENGTH(word) == 0) {
            Py_DECREF(item);
            Py_DECREF(iter);
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
        double sim = word_similarity(self, a, la, (const char *)PyUnicode_1BYTE_DATA(word), PyUnicode_GET_LENGTH(word),
                                     pa, lpa, (const char *)PyUnicode_1BYTE_DATA(wph), PyUnicode_GET_LENGTH(wph));
        if (sim < 0.0) {
            PyErr_NoMemory();
            goto fail;
        }
        if (sim > 0.0) {
            PyObject *value = PyFloat_FromDouble(sim);
            if (value == NULL || PyDict_SetItem(out, item, value) < 0) {
                Py_XDECREF(value);
                goto fail;
            }
            Py_DECREF(value);
        }
        Py_DECREF(item);
    }
    Py_DECREF(iter);
    if (PyErr_Occurred()) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
fail:
    Py_DECREF(item);
    Py_DECREF(iter);
    Py_DECREF(out);
    return NULL;
}

/* Read `rows`: a sequence of (ids int32, sims float32, weight, first, initial, postings int32 or None,
   values complex64 or None). */
static Row *
read_rows(Kernel *self, PyObject *seq, Py_ssize_t *count, Py_ssize_t *entries)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Row *rows = malloc(((size_t)n + 1) * sizeof(Row));
    if (rows == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = items[i];
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 7) {
            PyErr_SetString(PyExc_TypeError,
                            "rows: each row is (ids, sims, weight, first, initial, postings, values)");
            goto fail;
        }
        PyArrayObject *ids, *sims;
        if (checked_pair(PyTuple_GET_ITEM(t, 0), NPY_INT32, "row ids", PyTuple_GET_ITEM(t, 1), NPY_FLOAT32,
                         "row sims", &ids, &sims) < 0) {
            goto fail;
        }
        Py_ssize_t len = PyArray_DIM(ids, 0);
        const int32_t *id = (const int32_t *)PyArray_DATA(ids);
        for (Py_ssize_t k = 0; k < len; k++) {
            if (id[k] < 0 || id[k] >= self->n_tokens) {
                PyErr_SetString(PyExc_ValueError, "rows: a token id is out of range");
                goto fail;
            }
        }
        rows[i].ids = id;
        rows[i].sims = (const float *)PyArray_DATA(sims);
        rows[i].n = len;
        rows[i].postings = NULL;
        rows[i].values = NULL;
        rows[i].n_postings = 0;
        PyObject *post_obj = PyTuple_GET_ITEM(t, 5), *vals_obj = PyTuple_GET_ITEM(t, 6);
        if (post_obj != Py_None || vals_obj != Py_None) {
            PyArrayObject *post, *vals;
            if (checked_pair(post_obj, NPY_INT32, "postings", vals_obj, NPY_COMPLEX64, "values", &post, &vals) < 0) {
                goto fail;
            }
            Py_ssize_t n_post = PyArray_DIM(post, 0);
            /* (its postings are checked if it generates candidates: read_gen) */
            rows[i].postings = (const int32_t *)PyArray_DATA(post);
            rows[i].values = (const float *)PyArray_DATA(vals);
            rows[i].n_postings = n_post;
        } else {
            for (Py_ssize_t k = 0; k < len; k++) {
                rows[i].n_postings += self->all_off[id[k] + 1] - self->all_off[id[k]];
            }
        }
        rows[i].weight = PyFloat_AsDouble(PyTuple_GET_ITEM(t, 2));
        rows[i].first = PyLong_AsLong(PyTuple_GET_ITEM(t, 3));
        rows[i].initial = PyObject_IsTrue(PyTuple_GET_ITEM(t, 4));
        if (PyErr_Occurred() || rows[i].initial < 0) {
            goto fail;
        }
        total += len;
    }
    *count = n;
    *entries = total;
    return rows;
fail:
    free(rows);
    return NULL;
}

/* Read `gen`: the positions in `rows` of the rows that generate candidates, and check their postings (the
   only postings read: a frequent word skipped for candidates has thousands, checked for nothing). */
static Py_ssize_t *
read_gen(Kernel *self, PyObject *seq, const Row *rows, Py_ssize_t n_rows, Py_ssize_t *count)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_ssize_t *gen = malloc(((size_t)n + 1) * sizeof(Py_ssize_t));
    if (gen == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t at = PyLong_AsSsize_t(items[i]);
        if (at == -1 && PyErr_Occurred()) {
            free(gen);
            return NULL;
        }
        if (at < 0 || at >= n_rows) {
            PyErr_SetString(PyExc_ValueError, "gen: not the position of a row");
            free(gen);
            return NULL;
        }
        const int32_t *p = rows[at].postings;
        for (Py_ssize_t k = 0; p != NULL && k < rows[at].n_postings; k++) {
            if (p[k] < 0 || p[k] >= self->n_forms) {
                PyErr_SetString(PyExc_ValueError, "rows: a posting is not a form");
                free(gen);
                return NULL;
            }
        }
        gen[i] = at;
    }
    *count = n;
    return gen;
}

static int
compare_int32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* best bound first; equal bounds in ascending form order (a stable sort of ascending forms) */
static int
compare_bounded(const void *a, const void *b)
{
    const Bounded *x = a, *y = b;
    if (x->bound != y->bound) {
        return x->bound < y->bound ? 1 : -1;
    }
    return (x->form > y->form) - (x->form < y->form);
}

/* Apply `visit(p, similarity, credit)` to each posting of row `r`, in the order the Python bounds concatenate
   them: the precomputed postings, or the postings of each token of `ids` in turn (ascending ids), with the
   token's similarity and the similarity x the list token's weight (double, stored as float32). */
#define FOR_EACH_POSTING(self, r, P, SIM, CREDIT, BODY)                                                      \
    do {                                                                                                   \
        if ((r)->postings != NULL) {                                                                       \
            for (Py_ssize_t k_ = 0; k_ < (r)->n_postings; k_++) {                                          \
                const int32_t P = (r)->postings[k_];                                                       \
                const float SIM = (r)->values[2 * k_];                                                     \
                const float CREDIT = (r)->values[2 * k_ + 1];                                              \
                (void)SIM;                                                                                 \
                (void)CREDIT;                                                                              \
                BODY                                                                                       \
            }                                                                                              \
        } else {                                                                                           \
            for (Py_ssize_t j_ = 0; j_ < (r)->n; j_++) {                                                   \
                const int32_t tok_ = (r)->ids[j_];                                                         \
                const float SIM = (r)->sims[j_];                                                           \
                for (int64_t k_ = (self)->all_off[tok_]; k_ < (self)->all_off[tok_ + 1]; k_++) {           \
                    const int32_t P = (self)->all_form[k_];                                                \
                    const float CREDIT = (float)((self)->all_w[k_] * (double)SIM);                         \
                    (void)CREDIT;                                                                          \
                    BODY                                                                                   \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
    } while (0)

/* Step 2: the forms whose first bound reaches the threshold, ascending, each once. Returns their count. */
static Py_ssize_t
first_bound(Kernel *self, const Row *rows, const Py_ssize_t *gen, Py_ssize_t n_gen, float *acc_q, float *acc_e,
            uint32_t *mark, uint32_t epoch, double const_q, double const_e, double wq, int q_org, double t,
            int32_t *cand)
{
    for (Py_ssize_t g = 0; g < n_gen; g++) {
        const Row *r = &rows[gen[g]];
        const float w = (float)r->weight;
        FOR_EACH_POSTING(self, r, p, sim, credit, {
            acc_q[p] += sim * w;
            acc_e[p] += credit;
        });
    }
    const float wq32 = (float)wq, cq = (float)const_q, ce = (float)const_e;
    const float t_org = (float)t, t_person = (float)(t / (2.0 - t));
    Py_ssize_t n_cand = 0;
    for (Py_ssize_t g = 0; g < n_gen; g++) {
        const Row *r = &rows[gen[g]];
        FOR_EACH_POSTING(self, r, p, sim, credit, {
            if (mark[p] != epoch) {
                /* the form's first posting in this pass: its sums are complete; read, then zero them */
                mark[p] = epoch;
                float mq = acc_q[p];
                if (const_q != 0.0) {
                    mq = mq + cq;
                }
                float me = acc_e[p];
                if (const_e != 0.0) {
                    me = me + ce;
                }
                acc_q[p] = 0.0f;
                acc_e[p] = 0.0f;
                const float we = self->form_total32[p];
                float m = mq < wq32 ? mq : wq32;
                m += me < we ? me : we;
                float total = we + wq32;
                total *= (q_org || self->form_org[p]) ? t_org : t_person;
                if (m >= total) {
                    cand[n_cand++] = p;
                }
            }
        });
    }
    qsort(cand, (size_t)n_cand, sizeof(int32_t), compare_int32);
    return n_cand;
}

/* The best similarity of any query row to one candidate token (the rows reaching it: the list from `first`),
   raising each of those rows' best on the candidate as it goes. */
static double
best_reaching(int32_t first, const Reach *reach, double *row_best)
{
    double best = 0.0;
    for (int32_t e = first; e >= 0; e = reach[e].next) {
        if (reach[e].sim > row_best[reach[e].row]) {
            row_best[reach[e].row] = reach[e].sim;
        }
        if (reach[e].sim > best) {
            best = reach[e].sim;
        }
    }
    return best;
}

/* Step 3: each candidate's score bound, as NameIndex._bound_small computes it. Returns the kept count. */
static Py_ssize_t
candidate_bound(Kernel *self, const Row *rows, Py_ssize_t n_rows, int32_t *head, Reach *reach,
                const int32_t *cand, Py_ssize_t n_cand, double wq, int q_org, double floor, double *scratch,
                Bounded *out)
{
    /* token -> the rows reaching it, with their similarity */
    int32_t n_reach = 0;
    for (Py_ssize_t i = 0; i < n_rows; i++) {
        for (Py_ssize_t k = 0; k < rows[i].n; k++) {
            if (rows[i].sims[k] > 0.0f) {
                int32_t tok = rows[i].ids[k];
                reach[n_reach].row = (int32_t)i;
                reach[n_reach].sim = (double)rows[i].sims[k];
                reach[n_reach].next = head[tok];
                head[tok] = n_reach++;
            }
        }
    }
    double *row_best = scratch;
    double *best_e = row_best + n_rows;
    double *best_m = best_e + self->max_toks;
    Py_ssize_t kept = 0;
    for (Py_ssize_t c = 0; c < n_cand; c++) {
        const int32_t v = cand[c];
        const int64_t a = self->form_off[v], b = self->form_off[v + 1];
        const int64_t ma = self->form_moff[v], mb = self->form_moff[v + 1];
        for (Py_ssize_t i = 0; i < n_rows; i++) {
            row_best[i] = 0.0;
        }
        for (int64_t j = a; j < b; j++) {
            best_e[j - a] = best_reaching(head[self->form_tok[j]], reach, row_best);
        }
        for (int64_t k = ma; k < mb; k++) {
            best_m[k - ma] = best_reaching(head[self->form_mtok[k]], reach, row_best);
        }
        /* an initial aligns at 0.6 with a word that starts with its letter (either side): a query initial's
           row with any such candidate word, any query word's row with such a one-letter candidate token */
        const int single = self->form_single[v];
        for (Py_ssize_t i = 0; i < n_rows; i++) {
            const Row *r = &rows[i];
            if (!(r->initial || (single && r->first >= 0))) {
                continue;
            }
            for (int64_t j = a; j < b; j++) {
                int32_t tok = self->form_tok[j];
                if (self->vocab_first[tok] == r->first && (r->initial || self->vocab_single[tok])) {
                    if (INITIAL_SIM > row_best[i]) {
                        row_best[i] = INITIAL_SIM;
                    }
                    if (INITIAL_SIM > best_e[j - a]) {
                        best_e[j - a] = INITIAL_SIM;
                    }
                }
            }
        }
        double mq = 0.0;
        for (Py_ssize_t i = 0; i < n_rows; i++) {
            mq += rows[i].weight * row_best[i];
        }
        double me = 0.0;
        for (int64_t j = a; j < b; j++) {
            me += self->form_w[j] * best_e[j - a];
        }
        for (int64_t k = ma; k < mb; k++) {
            me += self->form_mw[k] * best_m[k - ma];
        }
        const double we = self->form_total[v];
        const double m = (mq < wq ? mq : wq) + (me < we ? me : we);
        const double total = wq + we;
        double bound;
        if (q_org || self->form_org[v]) {
            bound = total > 0 ? m / total : 0.0;
        } else {
            const double denom = 0.5 * total + 0.5 * m;
            bound = denom > 0 ? m / denom : 0.0;
        }
        if (bound >= floor) {
            out[kept].form = v;
            out[kept].bound = bound;
            kept++;
        }
    }
    for (Py_ssize_t i = 0; i < n_rows; i++) {
        for (Py_ssize_t k = 0; k < rows[i].n; k++) {
            head[rows[i].ids[k]] = -1;
        }
    }
    qsort(out, (size_t)kept, sizeof(Bounded), compare_bounded);
    return kept;
}

PyDoc_STRVAR(Kernel_bound_doc,
"bound(rows, gen, const_q, const_e, wq, q_org, threshold, slack) -> list[tuple[int, float]]\n\n"
"(form, score bound) for every form whose bound reaches threshold - slack, best first: the first bound over\n"
"the postings of the rows at the positions `gen`, then each candidate's bound over all rows\n"
"(NameIndex.bounded_forms). A row is (ids, sims, weight, first, initial, postings, values); postings and\n"
"values None: the postings of its tokens, read from the index.");

static PyObject *
Kernel_bound(Kernel *self, PyObject *args)
{
    PyObject *rows_obj, *gen_obj;
    double const_q, const_e, wq, threshold, slack;
    int q_org;
    if (self->keep == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Kernel: not initialised");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OOdddpdd", &rows_obj, &gen_obj, &const_q, &const_e, &wq, &q_org, &threshold,
                          &slack)) {
        return NULL;
    }
    PyObject *gen_seq = PySequence_Fast(gen_obj, "gen must be a sequence");
    if (gen_seq == NULL) {
        return NULL;
    }
    PyObject *rows_seq = PySequence_Fast(rows_obj, "rows must be a sequence");
    if (rows_seq == NULL) {
        Py_DECREF(gen_seq);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n_gen = 0, n_rows = 0, n_entries = 0, n_post = 0;
    Row *rows = NULL;
    Py_ssize_t *gen = NULL;
    int32_t *cand = NULL;
    Reach *reach = NULL;
    double *scratch = NULL;
    Bounded *out = NULL;
    float *acc_q = NULL, *acc_e = NULL;
    uint32_t *mark = NULL;
    uint32_t epoch = 1;
    int32_t *head = NULL;
    int own_scratch = 0;
    Py_ssize_t kept = 0;

    rows = read_rows(self, rows_seq, &n_rows, &n_entries);
    if (rows == NULL) {
        goto done;
    }
    gen = read_gen(self, gen_seq, rows, n_rows, &n_gen);
    if (gen == NULL) {
        goto done;
    }
    for (Py_ssize_t g = 0; g < n_gen; g++) {
        n_post += rows[gen[g]].n_postings;
    }
    if (n_post == 0) {
        result = PyList_New(0);
        goto done;
    }
    cand = malloc((size_t)n_post * sizeof(int32_t));
    reach = malloc(((size_t)n_entries + 1) * sizeof(Reach));
    scratch = malloc(((size_t)n_rows + 2 * (size_t)self->max_toks + 1) * sizeof(double));
    out = malloc((size_t)n_post * sizeof(Bounded));
    if (cand == NULL || reach == NULL || scratch == NULL || out == NULL || n_entries >= INT32_MAX) {
        PyErr_NoMemory();
        goto done;
    }
    if (self->busy) {
        /* re-entered (not expected: no Python code runs below): work in scratch of this call's own */
        own_scratch = 1;
        acc_q = calloc((size_t)self->n_forms + 1, sizeof(float));
        acc_e = calloc((size_t)self->n_forms + 1, sizeof(float));
        mark = calloc((size_t)self->n_forms + 1, sizeof(uint32_t));
        head = malloc(((size_t)self->n_tokens + 1) * sizeof(int32_t));
        if (acc_q == NULL || acc_e == NULL || mark == NULL || head == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t t = 0; t <= self->n_tokens; t++) {
            head[t] = -1;
        }
    } else {
        acc_q = self->acc_q;
        acc_e = self->acc_e;
        mark = self->mark;
        head = self->head;
        self->busy = 1;
        epoch = ++self->epoch;
        if (epoch == 0) {
            /* wrapped after 2^32 calls: marks from long ago could equal the new epochs */
            memset(mark, 0, ((size_t)self->n_forms + 1) * sizeof(uint32_t));
            epoch = self->epoch = 1;
        }
    }
    Py_ssize_t n_cand = first_bound(self, rows, gen, n_gen, acc_q, acc_e, mark, epoch, const_q, const_e, wq, q_org,
                                    threshold - slack, cand);
    kept = candidate_bound(self, rows, n_rows, head, reach, cand, n_cand, wq, q_org, threshold - slack,
                           scratch, out);
    if (!own_scratch) {
        self->busy = 0;
    }
    result = PyList_New(kept);
    if (result == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < kept; i++) {
        PyObject *pair = Py_BuildValue("(id)", (int)out[i].form, out[i].bound);
        if (pair == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, pair);
    }
done:
    if (own_scratch) {
        free(acc_q);
        free(acc_e);
        free(mark);
        free(head);
    }
    free(rows);
    free(gen);
    free(cand);
    free(reach);
    free(scratch);
    free(out);
    Py_DECREF(gen_seq);
    Py_DECREF(rows_seq);
    return result;
}

static PyMethodDef Kernel_methods[] = {
    {"bound", (PyCFunction)Kernel_bound, METH_VARARGS, Kernel_bound_doc},
    {"similarities", (PyCFunction)Kernel_similarities, METH_VARARGS, Kernel_similarities_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(Kernel_doc,
"Kernel(form_off, form_tok, form_w, form_moff, form_mtok, form_mw, form_total, form_total32, form_org,\n"
"       form_single, vocab_first, vocab_single, all_off, all_form, all_w, vocab, vocab_ph, initial_sim,\n"
"       phonetic_rescue, min_phonetic)\n\n"
"The score bounds over one name index's per-form arrays (compliance.screening.index.NameIndex).");

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "compliance.screening._kernel.Kernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_dealloc = (destructor)Kernel_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Kernel_doc,
    .tp_methods = Kernel_methods,
    .tp_init = (initproc)Kernel_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "compliance.screening._kernel",
    .m_doc = "The name index's score bounds in C (see compliance/screening/index.py).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__kernel(void)
{
    import_array();
    if (PyType_Ready(&KernelType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&kernel_module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&KernelType);
    if (PyModule_AddObject(m, "Kernel", (PyObject *)&KernelType) < 0) {
        Py_DECREF(&KernelType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
