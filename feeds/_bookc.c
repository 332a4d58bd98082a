/* The order book's two hot loops in C: applying a side's levels and rebuilding its cached top.

   feeds/book.py owns the data (a dict key -> Decimal qty, a sorted list of the best keys, the
   text -> number caches) and the rules; these functions run the same loops over the same
   Python objects without the interpreter's per-statement cost, so every other method of
   OrderBook reads what they leave exactly as it reads what the pure-Python loops leave (the
   tests run the book's whole suite both ways, plus a randomised comparison).

   Nothing here holds the book's state between calls (the one thing kept is where _Side's slots
   are, found once from its type). Keys are Python ints within +-2**62.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#define NO_CHANGE (-(1LL << 62))

/* The value of an int, as PyLong_AsLongLong gives it (-1 with an exception set for what is not
   an int or is out of range). On CPython 3.11 an int of up to three 30-bit digits below 2**63 in
   magnitude is read from its digits directly: bisect reads eight or so keys per insert or
   removal (one digit each, for a price below ~10**8 ticks), and the sides' ``hi`` and ``floor``
   and the book's ids, read every event, are often the marker NO_CHANGE (-2**62: three digits,
   where PyLong_AsLongLong takes a slow path); the call costs more than the read. */
static inline long long
key_value(PyObject *v)
{
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 && PYLONG_BITS_IN_DIGIT == 30
    if (PyLong_CheckExact(v)) {
        Py_ssize_t size = Py_SIZE(v);
        const digit *d = ((PyLongObject *)v)->ob_digit;
        long long m;
        switch (size < 0 ? -size : size) {
        case 0:
            return 0;
        case 1:
            m = (long long)d[0];
            return size < 0 ? -m : m;
        case 2:
            m = (long long)d[0] | (long long)d[1] << 30;
            return size < 0 ? -m : m;
        case 3:
            if (d[2] < 8) { /* below 2**63 */
                m = (long long)d[0] | (long long)d[1] << 30 | (long long)d[2] << 60;
                return size < 0 ? -m : m;
            }
            break;
        }
    }
#endif
    return PyLong_AsLongLong(v);
}

/* bisect_right (``right``: the first key > k) or bisect_left (the first key >= k) over a list
   of int keys; -1 with an exception set. */
static Py_ssize_t
bisect_ll(PyObject *keys, long long k, int right)
{
    Py_ssize_t lo = 0, hi = PyList_GET_SIZE(keys);
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        long long v = key_value(PyList_GET_ITEM(keys, mid));
        if (v == -1 && PyErr_Occurred())
            return -1;
        if (right ? k < v : k <= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* One level's price and quantity texts, borrowed from ``item`` or from ``*hold`` (a new
   reference the caller releases). Unpacks as ``p, q = item`` would: TypeError for something
   that is not iterable, ValueError for the wrong number of values. */
static int
unpack_pair(PyObject *item, PyObject **hold, PyObject **p, PyObject **q)
{
    PyObject *seq = item;
    *hold = NULL;
    if (!PyList_CheckExact(item) && !PyTuple_CheckExact(item)) {
        seq = PySequence_Fast(item, "a level is not a [price, qty] pair");
        if (seq == NULL)
            return -1;
        *hold = seq;
    }
    if (PySequence_Fast_GET_SIZE(seq) != 2) {
        PyErr_Format(PyExc_ValueError, "a level has %zd values, not 2", PySequence_Fast_GET_SIZE(seq));
        Py_CLEAR(*hold);
        return -1;
    }
    *p = PySequence_Fast_GET_ITEM(seq, 0);
    *q = PySequence_Fast_GET_ITEM(seq, 1);
    return 0;
}

/* Ticks of a plain price text such as "9517.6" (OrderBook.price_to_ticks's success path):
   ASCII digits with at most one '.', on the tick grid, positive, at most 18 digits. Returns -1
   for anything else, which the caller hands to the Python method (it raises the right error,
   or handles what is merely unusual). */
static long long
plain_ticks_of(const char *c, Py_ssize_t n, int places, long long units)
{
    long long scaled = 0;
    int digits = 0, frac = -1; /* frac: digits seen after the point, -1 before it */
    for (Py_ssize_t i = 0; i < n; i++) {
        char ch = c[i];
        if (ch == '.') {
            if (frac >= 0)
                return -1;
            frac = 0;
            continue;
        }
        if (ch < '0' || ch > '9')
            return -1;
        if (frac >= 0) {
            if (frac >= places) { /* past the tick's places: only zeros are on the grid */
                if (ch != '0')
                    return -1;
                continue;
            }
            frac++;
        }
        if (++digits > 18)
            return -1;
        scaled = scaled * 10 + (ch - '0');
    }
    if (n == 0 || (n == 1 && frac == 0))
        return -1; /* "" or "." */
    for (int f = frac < 0 ? 0 : frac; f < places; f++) {
        if (++digits > 18)
            return -1;
        scaled *= 10;
    }
    if (scaled <= 0 || scaled % units)
        return -1;
    return scaled / units;
}

static long long
plain_ticks(PyObject *p, int places, long long units)
{
    if (!PyUnicode_CheckExact(p) || !PyUnicode_IS_ASCII(p))
        return -1;
    return plain_ticks_of((const char *)PyUnicode_DATA(p), PyUnicode_GET_LENGTH(p), places, units);
}

/* A depth event's side as the JSON text received (a msgspec.Raw: the decoder kept the span of
   bytes instead of building a list of [str, str] lists): the next [price, qty] pair of the
   compact form the venue and the simulator write, ``[["9517.6","10"],["9517.4","7"]]``, each
   text a non-empty run of digits and points. ``*cur`` starts after the opening '['; ``first``
   is whether no pair was read yet. 1 with the texts' spans set and ``*cur`` past the pair, 0 at
   the closing ']' (the buffer's last byte), -1 for anything else (whitespace, escapes, other
   values, a number where a text belongs): feeds.depthwire takes a side this way only when
   compact_levels() said yes, and decodes any other side into lists. */
static int
raw_next(const char **cur, const char *end, int first, const char **pc, Py_ssize_t *pn, const char **qc,
         Py_ssize_t *qn)
{
    const char *c = *cur;
    if (c >= end)
        return -1;
    if (*c == ']') {
        *cur = c + 1;
        return c + 1 == end ? 0 : -1;
    }
    if (!first) {
        if (*c != ',')
            return -1;
        c++;
    }
    if (end - c < 2 || c[0] != '[' || c[1] != '"')
        return -1;
    c += 2;
    *pc = c;
    while (c < end && ((*c >= '0' && *c <= '9') || *c == '.'))
        c++;
    *pn = c - *pc;
    if (*pn == 0 || end - c < 3 || c[0] != '"' || c[1] != ',' || c[2] != '"')
        return -1;
    c += 3;
    *qc = c;
    while (c < end && ((*c >= '0' && *c <= '9') || *c == '.'))
        c++;
    *qn = c - *qc;
    if (*qn == 0 || end - c < 2 || c[0] != '"' || c[1] != ']')
        return -1;
    *cur = c + 2;
    return 1;
}

/* Whether a buffer is a whole compact side (raw_next reads every pair to the closing ']'). */
static int
raw_compact(const char *c, Py_ssize_t n)
{
    if (n < 2 || c[0] != '[')
        return 0;
    const char *cur = c + 1, *end = c + n, *pc, *qc;
    Py_ssize_t pn, qn;
    int r, first = 1;
    while ((r = raw_next(&cur, end, first, &pc, &pn, &qc, &qn)) == 1)
        first = 0;
    return r == 0;
}

/* Attribute names of feeds.book._Side, interned once at import. */
static PyObject *s_fixed, *s_floor, *s_hi, *s_top, *s_last_update_id,
    *s_prev_final_update_id, *s_final_update_id, *s_version, *s_bids, *s_asks, *s_qty_whole, *s_qty_places;

static int
get_ll(PyObject *obj, PyObject *name, long long *out)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    *out = key_value(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int
set_ll(PyObject *obj, PyObject *name, long long value)
{
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL)
        return -1;
    int rc = PyObject_SetAttr(obj, name, v);
    Py_DECREF(v);
    return rc;
}

/* feeds.book._Side has __slots__: its attributes the loops use on every event are read and
   written at their slots' offsets (what the slots' member descriptors do, without the generic
   attribute lookup around them). The offsets are taken from the type's member descriptors the
   first time a side is seen, and only when each is a writable slot of object type; anything
   else (another type, a property in a subclass) goes through getattr/setattr. */
enum { SLOT_FIXED, SLOT_FLOOR, SLOT_HI, SLOT_TOP, N_SLOTS };
static PyObject **slot_names[N_SLOTS] = {&s_fixed, &s_floor, &s_hi, &s_top};
static PyObject *slots_type; /* a strong reference to the type the offsets are for */
static Py_ssize_t slot_off[N_SLOTS];

static int
has_slots(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if ((PyObject *)tp == slots_type)
        return 1;
    Py_ssize_t off[N_SLOTS];
    for (int i = 0; i < N_SLOTS; i++) {
        PyObject *d = PyObject_GetAttr((PyObject *)tp, *slot_names[i]);
        if (d == NULL) {
            PyErr_Clear();
            return 0;
        }
        PyMemberDef *m = Py_IS_TYPE(d, &PyMemberDescr_Type) ? ((PyMemberDescrObject *)d)->d_member : NULL;
        int ok = m != NULL && m->type == T_OBJECT_EX && !(m->flags & READONLY) && m->offset > 0;
        if (ok)
            off[i] = m->offset;
        Py_DECREF(d);
        if (!ok)
            return 0;
    }
    Py_INCREF(tp);
    Py_XSETREF(slots_type, (PyObject *)tp);
    memcpy(slot_off, off, sizeof(off));
    return 1;
}

/* side.<slot> (a new reference), or NULL with AttributeError when unset */
static PyObject *
side_get(PyObject *side, int slot)
{
    if (!has_slots(side))
        return PyObject_GetAttr(side, *slot_names[slot]);
    PyObject *v = *(PyObject **)((char *)side + slot_off[slot]);
    if (v == NULL) {
        PyErr_SetObject(PyExc_AttributeError, *slot_names[slot]);
        return NULL;
    }
    Py_INCREF(v);
    return v;
}

static int
side_get_ll(PyObject *side, int slot, long long *out)
{
    PyObject *v = side_get(side, slot);
    if (v == NULL)
        return -1;
    *out = key_value(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int
side_set_ll(PyObject *side, int slot, long long value)
{
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL)
        return -1;
    if (!has_slots(side)) {
        int rc = PyObject_SetAttr(side, *slot_names[slot], v);
        Py_DECREF(v);
        return rc;
    }
    PyObject **at = (PyObject **)((char *)side + slot_off[slot]);
    PyObject *old = *at;
    *at = v; /* the new reference moves into the slot */
    Py_XDECREF(old);
    return 0;
}

/* A quantity text in the usual spelling ("125", "0.5": digits, then optionally '.' and digits)
   whose whole digits (leading zeros aside) and decimal places are within the book's widest so
   far: the Decimal for it, added to ``qty_of`` (a new reference). NULL without an exception for
   anything else (the caller hands it to OrderBook._qty_miss, which widens, empties a full cache,
   or rejects); NULL with one on an error. */
static PyObject *
plain_qty(PyObject *q, PyObject *qty_of, PyObject *fixed)
{
    if (!PyUnicode_CheckExact(q) || !PyUnicode_IS_ASCII(q))
        return NULL;
    const char *c = (const char *)PyUnicode_DATA(q);
    Py_ssize_t n = PyUnicode_GET_LENGTH(q), i = 0, point = -1;
    for (; i < n; i++) {
        if (c[i] == '.' && point < 0 && i > 0)
            point = i;
        else if (c[i] < '0' || c[i] > '9')
            return NULL;
    }
    if (n == 0 || point == n - 1)
        return NULL;
    Py_ssize_t int_len = point < 0 ? n : point, places = point < 0 ? 0 : n - point - 1, lead = 0;
    while (lead < int_len && c[lead] == '0')
        lead++;
    Py_ssize_t limit = PyLong_AsSsize_t(PyTuple_GET_ITEM(fixed, 12));
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    if (PyDict_GET_SIZE(qty_of) >= limit)
        return NULL;
    PyObject *owner = PyTuple_GET_ITEM(fixed, 13);
    long long widest_whole, widest_places;
    if (get_ll(owner, s_qty_whole, &widest_whole) < 0 || get_ll(owner, s_qty_places, &widest_places) < 0)
        return NULL;
    if (int_len - lead > widest_whole || places > widest_places)
        return NULL;
    PyObject *qd = PyObject_CallOneArg(PyTuple_GET_ITEM(fixed, 11), q);
    if (qd == NULL)
        return NULL;
    if (PyDict_SetItem(qty_of, q, qd) < 0) {
        Py_DECREF(qd);
        return NULL;
    }
    return qd;
}

/* The value of a quantity text made of digits only ("125", "0040"), when it is below ``limit``;
   -1 for any other text (a point, a sign, a space, too many digits, not an ASCII str). */
static long
small_int_of(const char *c, Py_ssize_t n, Py_ssize_t limit)
{
    if (n == 0 || n > 9)
        return -1;
    long v = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (c[i] < '0' || c[i] > '9')
            return -1;
        v = v * 10 + (c[i] - '0');
    }
    return v < limit ? v : -1;
}

static long
small_int_qty(PyObject *q, Py_ssize_t limit)
{
    if (!PyUnicode_CheckExact(q) || !PyUnicode_IS_ASCII(q))
        return -1;
    return small_int_of((const char *)PyUnicode_DATA(q), PyUnicode_GET_LENGTH(q), limit);
}

PyDoc_STRVAR(apply_side_doc,
"apply_side(side, levels) -> None\n\n"
"OrderBook._apply_side's loop: set or remove each [price, qty] of ``levels`` in ``side.qty`` (and\n"
"in the sorted ``side.keys`` for keys >= ``side.floor``), raise ``side.hi`` to the best key\n"
"changed at or above the floor (a deeper one cannot be in a cached top), then call rebalance(side) if ``side.keys`` grew past near_max or fell below near_min\n"
"with deeper levels left. ``side.fixed`` is the side's tuple of what changes only when a wider\n"
"top is asked for (qty, keys, key_of, qty_of, key_miss, side, qty_miss, places, units, sign,\n"
"rebalance, Decimal, the qty_of cache's limit, the book, qty_ints, near_min, near_max).\n"
"A plain price is parsed here (no cache: parsing costs what a lookup of a fresh text does, and\n"
"a cache of every price seen only holds memory); any other is looked up in ``key_of``, else\n"
"key_miss(side, p) parses or rejects it. A quantity missing from qty_of in the usual spelling and\n"
"within the widest seen (book._qty_whole, book._qty_places) is made here, any other goes to\n"
"qty_miss(q). A quantity text of digits only whose value v is below len(qty_ints) is first looked\n"
"up as qty_ints[v] (no hashing: the usual whole-contract sizes), and a qty_ints[v] that is None\n"
"is set to the Decimal the other ways made (Decimal(q): the same for every spelling of v).\n"
"``levels`` may also be a side's JSON text (bytes-like: a msgspec.Raw) in the compact form\n"
"compact_levels() accepts; its pairs are read in place, the same way (a text becomes a str only\n"
"where a cache or key_miss/qty_miss needs one), and anything else in it is a ValueError.\n"
"On an error\n"
"the levels before the bad one stay applied and ``side.hi`` is left as it was (the caller\n"
"drops the side's cached top).");

static int
apply_levels(PyObject *side_obj, PyObject *levels)
{
    PyObject *fixed = side_get(side_obj, SLOT_FIXED);
    if (fixed == NULL)
        return -1;
    Py_DECREF(fixed); /* the side keeps it alive */
    if (!PyTuple_CheckExact(fixed) || PyTuple_GET_SIZE(fixed) != 17) {
        PyErr_SetString(PyExc_TypeError, "apply_side(): side.fixed is not the 17-tuple");
        return -1;
    }
    PyObject *book = PyTuple_GET_ITEM(fixed, 0), *keys = PyTuple_GET_ITEM(fixed, 1);
    PyObject *key_of = PyTuple_GET_ITEM(fixed, 2), *qty_of = PyTuple_GET_ITEM(fixed, 3);
    PyObject *key_miss = PyTuple_GET_ITEM(fixed, 4), *side = PyTuple_GET_ITEM(fixed, 5);
    PyObject *qty_miss = PyTuple_GET_ITEM(fixed, 6), *rebalance = PyTuple_GET_ITEM(fixed, 10);
    PyObject *qty_ints = PyTuple_GET_ITEM(fixed, 14);
    if (!PyDict_CheckExact(book) || !PyList_CheckExact(keys) || !PyDict_Check(key_of) || !PyDict_Check(qty_of)
        || !PyList_CheckExact(qty_ints)) {
        PyErr_SetString(PyExc_TypeError, "apply_side(): qty, key_of and qty_of must be dicts, keys and qty_ints lists");
        return -1;
    }
    long places = PyLong_AsLong(PyTuple_GET_ITEM(fixed, 7));
    long long units = PyLong_AsLongLong(PyTuple_GET_ITEM(fixed, 8));
    long long sign = PyLong_AsLongLong(PyTuple_GET_ITEM(fixed, 9));
    long long near_min = PyLong_AsLongLong(PyTuple_GET_ITEM(fixed, 15));
    long long near_max = PyLong_AsLongLong(PyTuple_GET_ITEM(fixed, 16));
    if (PyErr_Occurred())
        return -1;
    long long floor, hi;
    if (side_get_ll(side_obj, SLOT_FLOOR, &floor) < 0 || side_get_ll(side_obj, SLOT_HI, &hi) < 0)
        return -1;
    if (units <= 0 || places < 0 || places > 18) {
        PyErr_SetString(PyExc_ValueError, "apply_side(): bad plain-price parameters");
        return -1;
    }
    long long hi_before = hi;

    /* a list (what decoders make) is walked by index, the JSON text of a compact side (a
       msgspec.Raw, or any bytes-like object) pair by pair (raw_next), anything else through an
       iterator. A raw pair's texts become str objects only where a cache or the Python methods
       need them (a price that is not plain, a quantity that is not a small whole number). */
    int by_index = PyList_CheckExact(levels);
    int raw = !by_index && !PyTuple_CheckExact(levels) && PyObject_CheckBuffer(levels);
    Py_buffer view;
    const char *cur = NULL, *end = NULL;
    PyObject *it = NULL;
    if (raw) {
        if (PyObject_GetBuffer(levels, &view, PyBUF_SIMPLE) < 0)
            return -1;
        cur = (const char *)view.buf;
        end = cur + view.len;
        if (view.len < 2 || *cur != '[') {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_ValueError, "a side's levels are not a JSON array");
            return -1;
        }
        cur++;
    } else if (!by_index && (it = PyObject_GetIter(levels)) == NULL) {
        return -1;
    }
    Py_ssize_t next = 0;
    PyObject *item = NULL;
    int first = 1;
    while (1) {
        PyObject *hold = NULL, *p = NULL, *q = NULL, *k, *qd, *p_made = NULL, *q_made = NULL;
        const char *pc = NULL, *qc = NULL;
        Py_ssize_t pn = 0, qn = 0;
        if (raw) {
            int r = raw_next(&cur, end, first, &pc, &pn, &qc, &qn);
            if (r == 0)
                break;
            if (r < 0) {
                PyErr_SetString(PyExc_ValueError, "a level is not a [price, qty] pair of plain decimal texts");
                goto fail_item;
            }
            first = 0;
        } else {
            if (by_index) {
                if (next >= PyList_GET_SIZE(levels))
                    break;
                item = PyList_GET_ITEM(levels, next++);
                Py_INCREF(item);
            } else if ((item = PyIter_Next(it)) == NULL) {
                break;
            }
            if (unpack_pair(item, &hold, &p, &q) < 0)
                goto fail_item;
        }
        /* key: new from a plain price, else borrowed from the cache or new from key_miss */
        PyObject *k_new = NULL;
        long long ticks = raw ? plain_ticks_of(pc, pn, (int)places, units) : plain_ticks(p, (int)places, units);
        long long kv = ticks * sign;
        if (ticks >= 0) {
            k = k_new = PyLong_FromLongLong(kv);
            if (k == NULL)
                goto fail_pair;
        } else {
            if (raw && (p = p_made = PyUnicode_FromStringAndSize(pc, pn)) == NULL)
                goto fail_pair;
            k = PyDict_GetItemWithError(key_of, p);
            if (k == NULL) {
                if (PyErr_Occurred())
                    goto fail_pair;
                k = k_new = PyObject_CallFunctionObjArgs(key_miss, side, p, NULL);
                if (k == NULL)
                    goto fail_pair;
            }
        }
        Py_INCREF(k);
        Py_XDECREF(k_new);
        /* quantity: a whole number below len(qty_ints) by index, else by text */
        long small = raw ? small_int_of(qc, qn, PyList_GET_SIZE(qty_ints))
                         : small_int_qty(q, PyList_GET_SIZE(qty_ints));
        qd = small >= 0 ? PyList_GET_ITEM(qty_ints, small) : NULL;
        if (qd != NULL && qd != Py_None) {
            Py_INCREF(qd);
        } else if (raw && (q = q_made = PyUnicode_FromStringAndSize(qc, qn)) == NULL) {
            goto fail_key;
        } else if ((qd = PyDict_GetItemWithError(qty_of, q)) == NULL) {
            if (PyErr_Occurred())
                goto fail_key;
            qd = plain_qty(q, qty_of, fixed);
            if (qd == NULL) {
                if (PyErr_Occurred())
                    goto fail_key;
                qd = PyObject_CallOneArg(qty_miss, q);
                if (qd == NULL)
                    goto fail_key;
            }
        } else {
            Py_INCREF(qd);
        }
        if (small >= 0 && PyList_GET_ITEM(qty_ints, small) == Py_None) {
            /* the Decimal of a digits-only text: Decimal(q), exponent 0, whatever the spelling */
            Py_INCREF(qd);
            if (PyList_SetItem(qty_ints, small, qd) < 0) /* steals qd, releases the None */
                goto fail_qty;
        }
        if (ticks < 0 && (kv = key_value(k)) == -1 && PyErr_Occurred())
            goto fail_qty;
        int nonzero = small >= 0 ? small != 0 : PyObject_IsTrue(qd); /* whole: Decimal(small) */
        if (nonzero < 0)
            goto fail_qty;
        int changed = 1;
        if (nonzero) {
            Py_ssize_t size = PyDict_GET_SIZE(book);
            if (PyDict_SetItem(book, k, qd) < 0)
                goto fail_qty;
            if (kv >= floor && PyDict_GET_SIZE(book) != size) { /* a new level (one hash lookup) */
                Py_ssize_t at = bisect_ll(keys, kv, 1);
                if (at < 0 || PyList_Insert(keys, at, k) < 0)
                    goto fail_qty;
            }
        } else {
            PyObject *old = PyDict_GetItemWithError(book, k);
            if (old == NULL) {
                if (PyErr_Occurred())
                    goto fail_qty;
                changed = 0; /* removing a level that is not there: nothing to do */
            } else {
                if (PyDict_DelItem(book, k) < 0)
                    goto fail_qty;
                if (kv >= floor) {
                    Py_ssize_t at = bisect_ll(keys, kv, 0);
                    if (at < 0 || PyList_SetSlice(keys, at, at + 1, NULL) < 0)
                        goto fail_qty;
                }
            }
        }
        if (changed && kv >= floor && kv > hi) /* only the ordered part reaches a cached top */
            hi = kv;
        Py_DECREF(qd);
        Py_DECREF(k);
        Py_XDECREF(p_made);
        Py_XDECREF(q_made);
        Py_XDECREF(hold);
        Py_XDECREF(item);
        item = NULL;
        continue;
    fail_qty:
        Py_DECREF(qd);
    fail_key:
        Py_DECREF(k);
    fail_pair:
        Py_XDECREF(p_made);
        Py_XDECREF(q_made);
        Py_XDECREF(hold);
    fail_item:
        Py_XDECREF(item);
        Py_XDECREF(it);
        if (raw)
            PyBuffer_Release(&view);
        return -1;
    }
    Py_XDECREF(it);
    if (raw)
        PyBuffer_Release(&view);
    if (PyErr_Occurred())
        return -1;
    if (hi != hi_before && side_set_ll(side_obj, SLOT_HI, hi) < 0)
        return -1;
    Py_ssize_t n = PyList_GET_SIZE(keys);
    if (n > near_max || (n < near_min && PyDict_GET_SIZE(book) > n)) {
        PyObject *r = PyObject_CallOneArg(rebalance, side_obj);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
    }
    return 0;
}

static PyObject *
apply_side(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "apply_side() takes (side, levels)");
        return NULL;
    }
    if (apply_levels(args[0], args[1]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(apply_event_doc,
"apply_event(fixed, ev) -> 0, 1 or 2\n\n"
"BookSync.on_event's usual case in one call: ``fixed`` is (book, bids side, asks side, failed,\n"
"bids.keys, asks.keys).\n"
"When ``ev.prev_final_update_id`` is the book's ``last_update_id`` and ``ev.final_update_id`` is\n"
"newer, bump ``book.version`` and apply ``ev.bids`` then ``ev.asks`` as apply_side does; then\n"
"return 2 if the book is crossed, else set ``book.last_update_id`` and return 1. Otherwise return\n"
"0 and change nothing (the caller's general path decides). On an error in a side's levels, that\n"
"side is appended to the list ``failed`` and the exception propagates.");

static PyObject *
apply_event(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != 6
        || !PyList_CheckExact(PyTuple_GET_ITEM(args[0], 3)) || !PyList_CheckExact(PyTuple_GET_ITEM(args[0], 4))
        || !PyList_CheckExact(PyTuple_GET_ITEM(args[0], 5))) {
        PyErr_SetString(PyExc_TypeError, "apply_event() takes (fixed 6-tuple, ev)");
        return NULL;
    }
    PyObject *book = PyTuple_GET_ITEM(args[0], 0), *bids = PyTuple_GET_ITEM(args[0], 1);
    PyObject *asks = PyTuple_GET_ITEM(args[0], 2), *failed = PyTuple_GET_ITEM(args[0], 3), *ev = args[1];
    long long last, pu, u, version;
    if (get_ll(book, s_last_update_id, &last) < 0 || get_ll(ev, s_prev_final_update_id, &pu) < 0
        || get_ll(ev, s_final_update_id, &u) < 0)
        return NULL;
    if (pu != last || u <= last)
        return PyLong_FromLong(0);
    if (get_ll(book, s_version, &version) < 0 || set_ll(book, s_version, version + 1) < 0)
        return NULL;
    PyObject *sides[2] = {bids, asks}, *names[2] = {s_bids, s_asks};
    for (int i = 0; i < 2; i++) {
        PyObject *levels = PyObject_GetAttr(ev, names[i]);
        if (levels == NULL)
            return NULL;
        int rc = apply_levels(sides[i], levels);
        Py_DECREF(levels);
        if (rc < 0) {
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            int appended = PyList_Append(failed, sides[i]);
            PyErr_Restore(type, value, tb);
            (void)appended; /* the level's error is the one to report */
            return NULL;
        }
    }
    /* crossed: the best bid at or above the best ask (keys are ticks, negated for asks) */
    PyObject *bid_keys = PyTuple_GET_ITEM(args[0], 4), *ask_keys = PyTuple_GET_ITEM(args[0], 5);
    int crossed = 0;
    if (PyList_GET_SIZE(bid_keys) && PyList_GET_SIZE(ask_keys)) {
        long long best_bid = PyLong_AsLongLong(PyList_GET_ITEM(bid_keys, PyList_GET_SIZE(bid_keys) - 1));
        long long best_ask = PyLong_AsLongLong(PyList_GET_ITEM(ask_keys, PyList_GET_SIZE(ask_keys) - 1));
        crossed = best_bid >= -best_ask;
    }
    if (PyErr_Occurred())
        return NULL;
    if (crossed)
        return PyLong_FromLong(2);
    if (set_ll(book, s_last_update_id, u) < 0)
        return NULL;
    return PyLong_FromLong(1);
}

#define OLD_ROWS 64 /* rebuilt rows whose keys and prices fit on the stack */

/* list[i] = item when the list has an i-th item, else append it (i == len); steals item.
   0, or -1 with an exception set. */
static int
put_at(PyObject *list, Py_ssize_t i, PyObject *item)
{
    if (i < PyList_GET_SIZE(list))
        return PyList_SetItem(list, i, item);
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

/* The rebuild of OrderBook.top's Python loop: keep the cached levels of ``top`` better than ``hi`` (the best
   key changed since the last build), rebuild the rest down to ``want`` levels as plain tuples
   (price_of[k], qty[k], cum). ``add`` is NULL for Decimal's own + (the current context) or a
   callable (a wider context's add). ``top_keys`` holds the key of each row of ``top`` when it is
   as long as ``top`` (this function keeps it so; the Python loop empties it when it rebuilds):
   a rebuilt row whose key was already a row (the rows below a change mostly shift, or stay)
   takes that row's price instead of looking it up in price_of. 0, or -1 with an exception set. */
static int
build_side(PyObject *top, PyObject *top_keys, PyObject *keys, PyObject *qty, PyObject *price_of, long long hi,
           Py_ssize_t want, PyObject *add, PyObject *multiply, PyObject *tick, Py_ssize_t price_limit,
           PyObject *price_miss)
{
    if (!PyList_CheckExact(top) || !PyList_CheckExact(top_keys) || !PyList_CheckExact(keys) || !PyDict_Check(qty)) {
        PyErr_SetString(PyExc_TypeError, "read_top(): a side's top, top_keys or keys is not a list, or qty not a dict");
        return -1;
    }
    Py_ssize_t total = PyList_GET_SIZE(keys);
    Py_ssize_t count = want < total ? want : total;
    Py_ssize_t have = PyList_GET_SIZE(top);
    Py_ssize_t valid = have;
    if (hi != NO_CHANGE) {
        Py_ssize_t at = bisect_ll(keys, hi, 1);
        if (at < 0)
            return -1;
        if (total - at < valid)
            valid = total - at;
    }
    if (!(valid < count || have != count))
        return 0;

    /* the keys and prices of the rows about to be rebuilt (borrowed prices made owned) */
    int trusted = PyList_GET_SIZE(top_keys) == have;
    long long okeys_buf[OLD_ROWS], *okeys = okeys_buf;
    PyObject *oprices_buf[OLD_ROWS], **oprices = oprices_buf;
    Py_ssize_t nold = trusted && have > valid ? have - valid : 0, o = 0;
    if (nold > OLD_ROWS) {
        okeys = PyMem_Malloc(nold * sizeof(long long));
        oprices = PyMem_Malloc(nold * sizeof(PyObject *));
        if (okeys == NULL || oprices == NULL) {
            if (okeys != okeys_buf)
                PyMem_Free(okeys);
            if (oprices != oprices_buf)
                PyMem_Free(oprices);
            PyErr_NoMemory();
            return -1;
        }
    }
    for (Py_ssize_t t = 0; t < nold; t++) {
        PyObject *row = PyList_GET_ITEM(top, valid + t);
        okeys[t] = key_value(PyList_GET_ITEM(top_keys, valid + t));
        oprices[t] = PyTuple_Check(row) && PyTuple_GET_SIZE(row) == 3 ? PyTuple_GET_ITEM(row, 0) : NULL;
        if (oprices[t] == NULL)
            okeys[t] = NO_CHANGE; /* never a key: no row matches it */
        Py_XINCREF(oprices[t]);
    }
    if (PyErr_Occurred())
        goto fail_old;

    PyObject *cum = NULL;
    if (valid) {
        PyObject *last = PyList_GET_ITEM(top, valid - 1);
        if (!PyTuple_Check(last) || PyTuple_GET_SIZE(last) != 3) {
            PyErr_SetString(PyExc_TypeError, "read_top(): a cached level is not a 3-tuple");
            return -1;
        }
        cum = PyTuple_GET_ITEM(last, 2);
        Py_INCREF(cum);
    }
    Py_ssize_t j = valid; /* the row being rebuilt */
    for (Py_ssize_t i = total - 1 - valid; i >= total - count; i--, j++) {
        PyObject *k = PyList_GET_ITEM(keys, i);
        PyObject *q = PyDict_GetItemWithError(qty, k);
        if (q == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetObject(PyExc_KeyError, k);
            goto fail;
        }
        Py_INCREF(q);
        PyObject *next;
        if (cum == NULL) {
            next = q;
            Py_INCREF(next);
        } else if (add == NULL) {
            /* Decimal + Decimal: the type's own add, without PyNumber_Add's dispatch (which calls
               the same slot when both operands are of one type) */
            binaryfunc nb_add = Py_TYPE(cum) == Py_TYPE(q) && Py_TYPE(q)->tp_as_number != NULL
                ? Py_TYPE(q)->tp_as_number->nb_add : NULL;
            next = nb_add != NULL ? nb_add(cum, q) : PyNumber_Add(cum, q);
            if (next == Py_NotImplemented) {
                Py_DECREF(next);
                next = PyNumber_Add(cum, q);
            }
        } else {
            next = PyObject_CallFunctionObjArgs(add, cum, q, NULL);
        }
        Py_XDECREF(cum);
        cum = next;
        if (cum == NULL) {
            Py_DECREF(q);
            goto fail;
        }
        /* rows descend in key, as the old rows do: walk them alongside */
        long long kv = key_value(k);
        if (kv == -1 && PyErr_Occurred()) {
            Py_DECREF(q);
            goto fail;
        }
        while (o < nold && okeys[o] > kv)
            o++;
        PyObject *price = o < nold && okeys[o] == kv ? oprices[o] : PyDict_GetItemWithError(price_of, k);
        if (price != NULL) {
            Py_INCREF(price);
        } else if (PyErr_Occurred()) {
            Py_DECREF(q);
            goto fail;
        } else {
            if (PyDict_GET_SIZE(price_of) < price_limit) {
                /* what price_miss does below the limit, without its Python frame */
                PyObject *ticks = PyNumber_Absolute(k);
                price = ticks == NULL ? NULL : PyObject_CallFunctionObjArgs(multiply, ticks, tick, NULL);
                Py_XDECREF(ticks);
                if (price != NULL && PyDict_SetItem(price_of, k, price) < 0)
                    Py_CLEAR(price);
            } else {
                price = PyObject_CallOneArg(price_miss, k); /* empties the full cache first */
            }
            if (price == NULL) {
                Py_DECREF(q);
                goto fail;
            }
        }
        PyObject *old = j < PyList_GET_SIZE(top) ? PyList_GET_ITEM(top, j) : NULL;
        Py_INCREF(cum);
        if (old != NULL && Py_REFCNT(old) == 1 && PyTuple_CheckExact(old) && PyTuple_GET_SIZE(old) == 3) {
            /* Nothing but this cache holds the old row, so nothing can see it change: refill it
               instead of freeing it and allocating another (as zip() reuses its result tuple). */
            PyObject *o0 = PyTuple_GET_ITEM(old, 0), *o1 = PyTuple_GET_ITEM(old, 1), *o2 = PyTuple_GET_ITEM(old, 2);
            PyTuple_SET_ITEM(old, 0, price); /* steals the references */
            PyTuple_SET_ITEM(old, 1, q);
            PyTuple_SET_ITEM(old, 2, cum);
            Py_DECREF(o0);
            Py_DECREF(o1);
            Py_DECREF(o2);
            continue;
        }
        PyObject *lv = PyTuple_New(3);
        if (lv == NULL) {
            Py_DECREF(cum);
            Py_DECREF(price);
            Py_DECREF(q);
            goto fail;
        }
        PyTuple_SET_ITEM(lv, 0, price); /* steals the references */
        PyTuple_SET_ITEM(lv, 1, q);
        PyTuple_SET_ITEM(lv, 2, cum);
        /* Decimals cannot form cycles: keep the collector from walking these (as it would
           decide for itself, later, for a plain tuple of them) */
        if (PyObject_GC_IsTracked(lv) && !PyObject_GC_IsTracked(price) && !PyObject_GC_IsTracked(q)
            && !PyObject_GC_IsTracked(cum))
            PyObject_GC_UnTrack(lv);
        if (put_at(top, j, lv) < 0) /* releases the old row */
            goto fail;
    }
    if (PyList_GET_SIZE(top) > j && PyList_SetSlice(top, j, PyList_GET_SIZE(top), NULL) < 0)
        goto fail;
    /* top_keys: the key of each row (row r is keys[total - 1 - r]); the kept rows' keys stand */
    for (Py_ssize_t r = trusted ? valid : 0; r < j; r++) {
        PyObject *k = PyList_GET_ITEM(keys, total - 1 - r);
        Py_INCREF(k);
        if (put_at(top_keys, r, k) < 0)
            goto fail;
    }
    if (PyList_GET_SIZE(top_keys) > j && PyList_SetSlice(top_keys, j, PyList_GET_SIZE(top_keys), NULL) < 0)
        goto fail;
    Py_XDECREF(cum);
    for (Py_ssize_t t = 0; t < nold; t++)
        Py_XDECREF(oprices[t]);
    if (okeys != okeys_buf)
        PyMem_Free(okeys);
    if (oprices != oprices_buf)
        PyMem_Free(oprices);
    return 0;
fail:
    Py_XDECREF(cum);
    /* the rows and their keys may disagree now: forget the keys (the next build looks prices up) */
    if (PyList_GET_SIZE(top_keys)) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (PyList_SetSlice(top_keys, 0, PyList_GET_SIZE(top_keys), NULL) < 0)
            PyErr_Clear();
        PyErr_Restore(type, value, tb);
    }
fail_old:
    for (Py_ssize_t t = 0; t < nold; t++)
        Py_XDECREF(oprices[t]);
    if (okeys != okeys_buf)
        PyMem_Free(okeys);
    if (oprices != oprices_buf)
        PyMem_Free(oprices);
    return -1;
}

/* One side of read_top: rebuild the side's cached ``top`` if a change reached it (or it is
   shorter than ``want``), mark it clean, and return a new list of its best ``n`` levels. */
static PyObject *
read_side(PyObject *side, PyObject *top_keys, PyObject *keys, PyObject *qty, PyObject *price_of, Py_ssize_t want,
          Py_ssize_t n, PyObject *add, PyObject *multiply, PyObject *tick, Py_ssize_t price_limit, PyObject *price_miss)
{
    long long hi;
    if (side_get_ll(side, SLOT_HI, &hi) < 0)
        return NULL;
    PyObject *top = side_get(side, SLOT_TOP);
    if (top == NULL)
        return NULL;
    if (!PyList_CheckExact(top)) {
        Py_DECREF(top);
        PyErr_SetString(PyExc_TypeError, "read_top(): side.top is not a list");
        return NULL;
    }
    if (hi != NO_CHANGE || PyList_GET_SIZE(top) < want) {
        int rc = build_side(top, top_keys, keys, qty, price_of, hi, want, add, multiply, tick, price_limit, price_miss);
        if (rc < 0 || (hi != NO_CHANGE && side_set_ll(side, SLOT_HI, NO_CHANGE) < 0)) {
            Py_DECREF(top);
            return NULL;
        }
    }
    Py_ssize_t have = PyList_GET_SIZE(top);
    PyObject *out = PyList_GetSlice(top, 0, n < have ? n : have);
    Py_DECREF(top);
    return out;
}

PyDoc_STRVAR(read_top_doc,
"read_top(fixed, n, add) -> BookTop\n\n"
"OrderBook.top's read: ``fixed`` is (bids side, asks side, price_of, BookTop, want, multiply,\n"
"tick, price_of's limit, bids.keys, bids.qty, asks.keys, asks.qty, bids.top_keys, asks.top_keys,\n"
"price_miss) (top_keys: the key of each row of the side's top, kept by this function); a price\n"
"missing from price_of is multiply(abs(key), tick), stored, or price_miss(key) once price_of holds\n"
"its limit (it empties the cache first). Each side's\n"
"cached top (``want`` levels) is rebuilt below ``side.hi``, the best key changed since it was\n"
"built (kept as it is when nothing reached it), as plain tuples (price, qty, cum); the result holds\n"
"new lists of the best ``n`` of each. ``add`` is None for Decimal's own + or a wider context's add.");

static PyObject *
read_top(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != 15) {
        PyErr_SetString(PyExc_TypeError, "read_top() takes (fixed 15-tuple, n, add)");
        return NULL;
    }
    PyObject *fixed = args[0];
    PyObject *price_of = PyTuple_GET_ITEM(fixed, 2), *book_top = PyTuple_GET_ITEM(fixed, 3);
    if (!PyDict_Check(price_of) || !PyType_Check(book_top) || !PyType_IsSubtype((PyTypeObject *)book_top, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "read_top(): bad argument types");
        return NULL;
    }
    Py_ssize_t want = PyLong_AsSsize_t(PyTuple_GET_ITEM(fixed, 4));
    PyObject *multiply = PyTuple_GET_ITEM(fixed, 5), *tick = PyTuple_GET_ITEM(fixed, 6);
    Py_ssize_t price_limit = PyLong_AsSsize_t(PyTuple_GET_ITEM(fixed, 7));
    PyObject *price_miss = PyTuple_GET_ITEM(fixed, 14);
    Py_ssize_t n = PyLong_AsSsize_t(args[1]);
    if (PyErr_Occurred())
        return NULL;
    if (n < 0)
        n = 0;
    PyObject *add = args[2] == Py_None ? NULL : args[2];
    PyTypeObject *top_type = (PyTypeObject *)book_top;
    PyObject *bids = read_side(PyTuple_GET_ITEM(fixed, 0), PyTuple_GET_ITEM(fixed, 12), PyTuple_GET_ITEM(fixed, 8),
                               PyTuple_GET_ITEM(fixed, 9), price_of, want, n, add, multiply, tick, price_limit, price_miss);
    if (bids == NULL)
        return NULL;
    PyObject *asks = read_side(PyTuple_GET_ITEM(fixed, 1), PyTuple_GET_ITEM(fixed, 13), PyTuple_GET_ITEM(fixed, 10),
                               PyTuple_GET_ITEM(fixed, 11), price_of, want, n, add, multiply, tick, price_limit, price_miss);
    if (asks == NULL) {
        Py_DECREF(bids);
        return NULL;
    }
    PyObject *out = top_type->tp_alloc(top_type, 2);
    if (out == NULL) {
        Py_DECREF(bids);
        Py_DECREF(asks);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, bids); /* steals the references */
    PyTuple_SET_ITEM(out, 1, asks);
    return out;
}

PyDoc_STRVAR(compact_levels_doc,
"compact_levels(bids, asks) -> bool\n\n"
"Whether both sides (bytes-like: a msgspec.Raw of a depth event's \"b\" and \"a\") are in the\n"
"compact form apply_side reads without building lists: ``[]`` or ``[[\"P\",\"Q\"],...]`` with no\n"
"whitespace, each text a non-empty run of digits and points. feeds.depthwire decodes any other\n"
"side into lists (msgspec's typed decoder), which accepts or declines it as before.");

static PyObject *
compact_levels(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "compact_levels() takes (bids, asks)");
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        Py_buffer view;
        if (PyObject_GetBuffer(args[i], &view, PyBUF_SIMPLE) < 0)
            return NULL;
        int ok = raw_compact((const char *)view.buf, view.len);
        PyBuffer_Release(&view);
        if (!ok)
            Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"compact_levels", (PyCFunction)(void (*)(void))compact_levels, METH_FASTCALL, compact_levels_doc},
    {"apply_side", (PyCFunction)(void (*)(void))apply_side, METH_FASTCALL, apply_side_doc},
    {"apply_event", (PyCFunction)(void (*)(void))apply_event, METH_FASTCALL, apply_event_doc},
    {"read_top", (PyCFunction)(void (*)(void))read_top, METH_FASTCALL, read_top_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "feeds._bookc",
    "The order book's hot loops (see feeds/book.py, which falls back to Python without this).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

/* Bumped whenever a function's arguments change: feeds/book.py uses the extension only when
   the built module's ABI matches the one it was written for (a stale build falls back to the
   Python loops instead of failing on every update). */
#define BOOKC_ABI 12

PyMODINIT_FUNC
PyInit__bookc(void)
{
    static PyObject **names[] = {&s_fixed, &s_floor, &s_hi, &s_top,
                                 &s_last_update_id, &s_prev_final_update_id, &s_final_update_id, &s_version,
                                 &s_bids, &s_asks, &s_qty_whole, &s_qty_places};
    static const char *texts[] = {"fixed", "floor", "hi", "top",
                                  "last_update_id", "prev_final_update_id", "final_update_id", "version",
                                  "bids", "asks", "_qty_whole", "_qty_places"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i] == NULL && (*names[i] = PyUnicode_InternFromString(texts[i])) == NULL)
            return NULL;
    }
    PyObject *m = PyModule_Create(&module_def);
    if (m != NULL && PyModule_AddIntConstant(m, "ABI", BOOKC_ABI) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
