/*
 * The receiver's compiled fast path for the common DC-09 frame (see receiver/fastpath.py).
 *
 * It decodes the frames that make up almost all real traffic — hex CRC, ADM-CID / SIA-DCS / NULL, plain or
 * AES-CBC, a valid timestamp inside the window, UTF-8 data without '|' text blocks or SIA ti/da/pi modifiers, no
 * relayed account — straight into the signals table's encoded rows and the ACK's header. X-data is typed by a
 * call back into Python (signal_rows.row_xdata), once per message that has any. Anything else (every error, every
 * odd case) returns None, and the caller runs the pure-Python codec, which stays the reference and decides every
 * rejection. Tests check that wherever this returns a result, the Python codec produces the same rows.
 *
 * No I/O but the kernel's random bytes for ACK pads; no Python-level state beyond the caller's dictionaries.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <openssl/evp.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#define MAX_EVENTS 64
#define MAX_FRAME 4200
#define ROW_CAP 16384

static const unsigned short CRC_TABLE[256] = {
#define R(c) ((c) & 1 ? ((c) >> 1) ^ 0xA001 : (c) >> 1)
#define E(b) R(R(R(R(R(R(R(R(b))))))))
#define E4(b) E(b), E(b + 1), E(b + 2), E(b + 3)
#define E16(b) E4(b), E4(b + 4), E4(b + 8), E4(b + 12)
#define E64(b) E16(b), E16(b + 16), E16(b + 32), E16(b + 48)
    E64(0), E64(64), E64(128), E64(192)
#undef E64
#undef E16
#undef E4
#undef E
#undef R
};

static unsigned crc16_arc(const unsigned char *data, Py_ssize_t length) {
    unsigned crc = 0;
    for (Py_ssize_t i = 0; i < length; i++) crc = (crc >> 8) ^ CRC_TABLE[(crc ^ data[i]) & 0xFF];
    return crc;
}

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
static int is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* ---- the header: CRC, length, "TYPE"seq[Rrcvr]Lline#acct[ ---- */

typedef struct {
    const unsigned char *body; /* from the opening quote */
    Py_ssize_t body_length;
    int encrypted;
    int type; /* 1 ADM-CID, 2 SIA-DCS, 3 NULL */
    Py_ssize_t answer_start, answer_end; /* "seq...[" inside body: what an ACK echoes */
    const unsigned char *account;
    Py_ssize_t account_length;
    const unsigned char *receiver;
    Py_ssize_t receiver_length; /* -1: no R field */
    const unsigned char *line;
    Py_ssize_t line_length;
    const unsigned char *content; /* after the '[' */
    Py_ssize_t content_length;
} Header;

static const unsigned char NOISE[] = "\r\n\0 \t";

/* 1 when the frame has the common shape, its CRC and length check out; 0 otherwise (the slow path decides). */
static int read_header(const unsigned char *frame, Py_ssize_t size, Header *h, int check_crc) {
    Py_ssize_t end = size;
    while (end > 0 && memchr(NOISE, frame[end - 1], 5) != NULL) end--;
    Py_ssize_t p = (size > 0 && frame[0] == '\n') ? 1 : 0;
    if (end - p < 9) return 0;
    int sent = 0;
    for (int i = 0; i < 4; i++) {
        int v = hex_value(frame[p + i]);
        if (v < 0) return 0; /* a binary CRC, or no CRC: not the fast path */
        sent = sent * 16 + v;
    }
    if (frame[p + 4] != '0') return 0;
    int declared = 0;
    for (int i = 5; i < 8; i++) {
        int v = hex_value(frame[p + i]);
        if (v < 0) return 0;
        declared = declared * 16 + v;
    }
    if (frame[p + 8] != '"') return 0;
    const unsigned char *b = frame + p + 8;
    Py_ssize_t n = end - p - 8;
    if (n != declared) return 0;
    if (check_crc && crc16_arc(b, n) != (unsigned)sent) return 0;
    h->body = b;
    h->body_length = n;
    Py_ssize_t i = 1;
    h->encrypted = 0;
    if (i < n && b[i] == '*') {
        h->encrypted = 1;
        i++;
    }
    Py_ssize_t type_start = i;
    while (i < n && b[i] != '"' && i - type_start <= 16) i++;
    if (i >= n || b[i] != '"') return 0;
    Py_ssize_t type_length = i - type_start;
    if (type_length == 7 && memcmp(b + type_start, "ADM-CID", 7) == 0)
        h->type = 1;
    else if (type_length == 7 && memcmp(b + type_start, "SIA-DCS", 7) == 0)
        h->type = 2;
    else if (type_length == 4 && memcmp(b + type_start, "NULL", 4) == 0)
        h->type = 3;
    else
        return 0;
    i++;
    h->answer_start = i;
    if (i + 4 > n) return 0;
    for (int k = 0; k < 4; k++)
        if (!is_digit(b[i + k])) return 0;
    i += 4;
    h->receiver_length = -1;
    if (i < n && b[i] == 'R') {
        Py_ssize_t s = ++i;
        while (i < n && hex_value(b[i]) >= 0) i++;
        if (i - s < 1 || i - s > 6) return 0;
        h->receiver = b + s;
        h->receiver_length = i - s;
    }
    if (i >= n || b[i] != 'L') return 0;
    Py_ssize_t s = ++i;
    while (i < n && hex_value(b[i]) >= 0) i++;
    if (i - s > 6) return 0;
    h->line = b + s;
    h->line_length = i - s;
    if (i >= n || b[i] != '#') return 0;
    s = ++i;
    while (i < n && hex_value(b[i]) >= 0) i++;
    if (i - s < 3 || i - s > 16) return 0;
    h->account = b + s;
    h->account_length = i - s;
    if (i >= n || b[i] != '[') return 0;
    i++;
    h->answer_end = i;
    h->content = b + i;
    h->content_length = n - i;
    if (h->encrypted) {
        if (h->content_length == 0 || h->content_length % 32) return 0;
        for (Py_ssize_t k = 0; k < h->content_length; k++)
            if (hex_value(h->content[k]) < 0) return 0;
    }
    return 1;
}

/* ---- AES-CBC with a zero IV and no padding (DC-09) ---- */

static EVP_CIPHER *AES_CBC[3];

/* Contexts keyed once per account key and reused: setting an IV is cheap, a key schedule and OpenSSL 3's
 * algorithm set-up are not. Direct-mapped on a hash of the key; a collision just re-keys the slot. */
#define KEY_SLOTS 256
typedef struct {
    unsigned char key[32];
    Py_ssize_t length; /* 0: empty */
    EVP_CIPHER_CTX *context[2]; /* decrypt, encrypt */
} KeySlot;
static KeySlot KEY_CACHE[KEY_SLOTS];

static EVP_CIPHER_CTX *keyed_context(const unsigned char *key, Py_ssize_t key_length, int encrypt) {
    static const unsigned char zero_iv[16] = {0};
    int index = key_length == 16 ? 0 : key_length == 24 ? 1 : key_length == 32 ? 2 : -1;
    if (index < 0) return NULL;
    KeySlot *slot = &KEY_CACHE[crc16_arc(key, key_length) % KEY_SLOTS];
    if (slot->length != key_length || memcmp(slot->key, key, (size_t)key_length) != 0) {
        slot->length = 0;
        for (int direction = 0; direction < 2; direction++) {
            if (slot->context[direction] == NULL && (slot->context[direction] = EVP_CIPHER_CTX_new()) == NULL)
                return NULL;
            if (!EVP_CipherInit_ex2(slot->context[direction], AES_CBC[index], key, zero_iv, direction, NULL))
                return NULL;
            EVP_CIPHER_CTX_set_padding(slot->context[direction], 0);
        }
        memcpy(slot->key, key, (size_t)key_length);
        slot->length = key_length;
    }
    EVP_CIPHER_CTX *context = slot->context[encrypt ? 1 : 0];
    /* Every DC-09 message starts its CBC chain from a zero IV: reset it, keeping cipher, key and direction. */
    if (!EVP_CipherInit_ex2(context, NULL, NULL, zero_iv, -1, NULL)) return NULL;
    return context;
}

static int aes_cbc(const unsigned char *key, Py_ssize_t key_length, int encrypt, const unsigned char *in,
                   int length, unsigned char *out) {
    if (length % 16) return 0;
    EVP_CIPHER_CTX *context = keyed_context(key, key_length, encrypt);
    if (context == NULL) return 0;
    int written = 0, final = 0;
    if (!EVP_CipherUpdate(context, out, &written, in, length)) return 0;
    if (!EVP_CipherFinal_ex(context, out + written, &final)) return 0;
    return written + final == length;
}

/* ---- dates ---- */

static long long days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int days_in_month(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return days[m - 1];
}

typedef struct {
    int year, month, day, hour, minute, second;
    long long epoch;
} Stamp;

static int two(const unsigned char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

/* "HH:MM:SS,MM-DD-YYYY" (19 bytes), a real date and time, as Python's datetime accepts it. */
static int read_stamp(const unsigned char *s, Stamp *t) {
    static const char shape[] = "dd:dd:dd,dd-dd-dddd";
    for (int i = 0; i < 19; i++) {
        if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != (unsigned char)shape[i]) return 0;
    }
    t->hour = two(s), t->minute = two(s + 3), t->second = two(s + 6);
    t->month = two(s + 9), t->day = two(s + 12), t->year = two(s + 15) * 100 + two(s + 17);
    if (t->year < 1 || t->month < 1 || t->month > 12 || t->day < 1) return 0;
    if (t->day > days_in_month(t->year, t->month)) return 0;
    if (t->hour > 23 || t->minute > 59 || t->second > 59) return 0;
    t->epoch = days_from_civil(t->year, t->month, t->day) * 86400LL + t->hour * 3600 + t->minute * 60 + t->second;
    return 1;
}

/* ---- the decrypted (or plain) content: data]{[x]}[_timestamp] ---- */

typedef struct {
    const unsigned char *data;
    Py_ssize_t data_length;
    const unsigned char *extended; /* "[a][b]" as sent, or NULL */
    Py_ssize_t extended_length;
    int has_stamp;
    Stamp stamp;
} Content;

/* Strict UTF-8, as Python's decoder takes it (no overlong forms, surrogates or code points past U+10FFFF). */
static int valid_utf8(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int more;
        unsigned char low = 0x80, high = 0xBF; /* the range of the first continuation byte */
        if (c >= 0xC2 && c <= 0xDF)
            more = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            if (c == 0xE0) low = 0xA0;
            if (c == 0xED) high = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            if (c == 0xF0) low = 0x90;
            if (c == 0xF4) high = 0x8F;
        } else
            return 0;
        if (n - i <= more) return 0;
        if (s[i + 1] < low || s[i + 1] > high) return 0;
        for (int k = 2; k <= more; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
        i += more + 1;
    }
    return 1;
}

/* Panel text the fast path takes: no control characters, and ASCII or valid UTF-8 — which wire.text() decodes as
 * UTF-8, so the row holds the very bytes sent. (Anything else, e.g. Windows-1252, is left to the reference.) */
static int text_ok(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    for (; i < n; i++) {
        if (s[i] < 0x20 || s[i] == 0x7F) return 0;
        if (s[i] > 0x7F) break;
    }
    if (i == n) return 1; /* the common case: printable ASCII */
    for (Py_ssize_t k = i; k < n; k++)
        if (s[k] < 0x20 || s[k] == 0x7F) return 0;
    return valid_utf8(s + i, n - i);
}

static int read_content(const unsigned char *c, Py_ssize_t n, Content *out) {
    const unsigned char *close = memchr(c, ']', (size_t)n);
    if (close == NULL) return 0;
    out->data = c;
    out->data_length = close - c;
    Py_ssize_t i = close - c + 1;
    Py_ssize_t x = i;
    while (i < n && c[i] == '[') {
        const unsigned char *end = memchr(c + i, ']', (size_t)(n - i));
        if (end == NULL) return 0;
        i = end - c + 1;
    }
    out->extended = i > x ? c + x : NULL;
    out->extended_length = i - x;
    if (out->extended != NULL && !text_ok(out->extended, out->extended_length)) return 0;
    out->has_stamp = 0;
    if (i == n) return 1;
    if (c[i] == '_') i++;
    if (n - i != 19 || !read_stamp(c + i, &out->stamp)) return 0;
    out->has_stamp = 1;
    return 1;
}

/* ---- events ---- */

typedef struct {
    char code[8];
    char qualifier; /* '1' '3' '6' for Contact ID, 'E' for SIA */
    const unsigned char *address; /* zone or user as sent, or NULL */
    Py_ssize_t address_length;
    const unsigned char *partition;
    Py_ssize_t partition_length;
    const unsigned char *user; /* SIA id modifier */
    Py_ssize_t user_length;
    const unsigned char *text; /* SIA ^text^ naming the event, trimmed (NULL: none) */
    Py_ssize_t text_length;
} Event;

static int decode_cid(const unsigned char *s, Py_ssize_t n, Event *e) {
    Py_ssize_t i = 0;
#define SKIP() while (i < n && s[i] == ' ') i++
#define DIGITS(k) for (int d_ = 0; d_ < (k); d_++) if (i + d_ >= n || !is_digit(s[i + d_])) return 0
    SKIP();
    if (i >= n || (s[i] != '1' && s[i] != '3' && s[i] != '6')) return 0;
    e->qualifier = (char)s[i++];
    SKIP();
    DIGITS(3);
    memcpy(e->code, s + i, 3);
    e->code[3] = 0;
    i += 3;
    SKIP();
    DIGITS(2);
    e->partition = s + i, e->partition_length = 2;
    i += 2;
    SKIP();
    DIGITS(3);
    e->address = s + i, e->address_length = 3;
    i += 3;
    SKIP();
#undef SKIP
#undef DIGITS
    e->user = NULL, e->user_length = 0;
    e->text = NULL, e->text_length = 0;
    return i == n;
}

/* The length of the white space character (as Python's str.isspace says) that starts `s`, or 0. The text has no
 * control characters (text_ok): what is left is ' ' and these, in UTF-8: U+0085, U+00A0, U+1680, U+2000-U+200A,
 * U+2028, U+2029, U+202F, U+205F and U+3000. */
static int space_at_start(const unsigned char *s, Py_ssize_t n) {
    if (n >= 1 && s[0] == ' ') return 1;
    if (n >= 2 && s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0)) return 2;
    if (n < 3) return 0;
    if (s[0] == 0xE1 && s[1] == 0x9A && s[2] == 0x80) return 3;
    if (s[0] == 0xE2 && s[1] == 0x80 &&
        ((s[2] >= 0x80 && s[2] <= 0x8A) || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF))
        return 3;
    if (s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F) return 3;
    if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) return 3;
    return 0;
}

/* The same for the character that ends `s` (valid UTF-8: a lead byte two or three from the end starts it). */
static int space_at_end(const unsigned char *s, Py_ssize_t n) {
    if (n >= 1 && s[n - 1] == ' ') return 1;
    if (n >= 2 && space_at_start(s + n - 2, 2) == 2) return 2;
    if (n >= 3 && space_at_start(s + n - 3, 3) == 3) return 3;
    return 0;
}

/* One SIA-DCS block: [N] then modifiers (ri, id), codes with digits, ^text^, '/' and spaces. The reference skips
 * any other character; of those only non-ASCII ones (valid UTF-8, checked before) are skipped here too. */
static int decode_sia(const unsigned char *s, Py_ssize_t n, Event *events, int *count) {
    Py_ssize_t i = 0;
    if (n >= 2 && s[0] == 'N' && (s[1] == '/' || (n >= 3 && ((is_lower(s[1]) && is_lower(s[2])) ||
                                                             (is_upper(s[1]) && is_upper(s[2]))))))
        i = 1;
    const unsigned char *partition = NULL, *user = NULL;
    Py_ssize_t partition_length = 0, user_length = 0;
    int last_was_event = 0; /* a ^text^ names the event right before it (separators between them aside) */
    *count = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == '/' || is_space(c)) {
            i++;
        } else if (i + 1 < n && is_lower(c) && is_lower(s[i + 1])) {
            Py_ssize_t v = i + 2;
            while (v < n && (is_digit(s[v]) || s[v] == ':' || s[v] == '.' || s[v] == '-')) v++;
            const unsigned char *value = v > i + 2 ? s + i + 2 : NULL;
            if ((c == 't' && s[i + 1] == 'i') || (c == 'd' && s[i + 1] == 'a') || (c == 'p' && s[i + 1] == 'i'))
                return 0; /* time, date, peripheral: the event's xdata, built by the reference alone */
            if (c == 'r' && s[i + 1] == 'i')
                partition = value, partition_length = v - i - 2;
            else if (c == 'i' && s[i + 1] == 'd')
                user = value, user_length = v - i - 2;
            last_was_event = 0;
            i = v;
        } else if (i + 1 < n && is_upper(c) && is_upper(s[i + 1])) {
            if (*count >= MAX_EVENTS) return 0;
            Event *e = &events[(*count)++];
            e->code[0] = (char)c, e->code[1] = (char)s[i + 1], e->code[2] = 0;
            e->qualifier = 'E';
            Py_ssize_t v = i + 2;
            while (v < n && is_digit(s[v])) v++;
            e->address = v > i + 2 ? s + i + 2 : NULL;
            e->address_length = v - i - 2;
            e->partition = partition, e->partition_length = partition_length;
            e->user = user, e->user_length = user_length;
            e->text = NULL, e->text_length = 0;
            last_was_event = 1;
            i = v;
        } else if (c == '^') {
            Py_ssize_t start = i + 1, end = start;
            while (end < n && s[end] != '^') end++;
            if (last_was_event) { /* after a modifier (an area's name) the reference drops it */
                Py_ssize_t a = start, z = end, k;
                while (a < z && (k = space_at_start(s + a, z - a)) > 0) a += k;
                while (z > a && (k = space_at_end(s + a, z - a)) > 0) z -= k;
                Event *e = &events[*count - 1];
                e->text = z > a ? s + a : NULL;
                e->text_length = z - a;
            }
            last_was_event = 0;
            i = end < n ? end + 1 : n; /* an unclosed text runs to the end of the block */
        } else if (c >= 0x80) {
            i++; /* a byte of a non-ASCII character: skipped, as the reference skips the character */
        } else {
            return 0; /* text (^...^) or anything unusual: the reference decoder handles it */
        }
    }
    return *count > 0;
}

/* ---- output buffer ---- */

typedef struct {
    char *p;
    Py_ssize_t n, cap;
} Buffer;

static int put(Buffer *b, const void *s, Py_ssize_t n) {
    if (b->n + n > b->cap) return 0;
    memcpy(b->p + b->n, s, (size_t)n);
    b->n += n;
    return 1;
}

static int put_char(Buffer *b, char c) { return put(b, &c, 1); }

/* `value` as exactly `width` decimal digits (zero-padded), as printf's %0*d for the values used here. */
static void put_digits(char *p, int value, int width) {
    for (int k = width - 1; k >= 0; k--, value /= 10) p[k] = (char)('0' + value % 10);
}

/* YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00, as datetime.isoformat() gives it for a UTC time (printf was a tenth of
   the decoder's time). */
static int put_iso(Buffer *b, int y, int mo, int d, int h, int mi, int s, int us) {
    char text[32];
    put_digits(text, y, 4), text[4] = '-', put_digits(text + 5, mo, 2), text[7] = '-', put_digits(text + 8, d, 2);
    text[10] = 'T', put_digits(text + 11, h, 2), text[13] = ':', put_digits(text + 14, mi, 2), text[16] = ':';
    put_digits(text + 17, s, 2);
    int n = 19;
    if (us) text[n++] = '.', put_digits(text + n, us, 6), n += 6;
    memcpy(text + n, "+00:00", 6), n += 6;
    return put(b, text, n);
}

static const char HEX_LOWER[] = "0123456789abcdef";
static const char HEX_UPPER[] = "0123456789ABCDEF";

/* The catalogue's (qualifier, address_is_user, tail) for one event, memoised in `fragments`. */
static PyObject *fragment(PyObject *fragments, PyObject *classify, int type, const Event *e) {
    char key[16];
    key[0] = type == 1 ? 'C' : 'S', key[1] = e->qualifier;
    int k = 0;
    for (; k < 7 && e->code[k] != '\0'; k++) key[2 + k] = e->code[k];
    key[2 + k] = '\0';
    PyObject *found = PyDict_GetItemString(fragments, key); /* borrowed */
    if (found != NULL) return found;
    const char *qualifier = e->qualifier == '3' ? "restore" : e->qualifier == '6' ? "status" : "event";
    PyObject *made =
        PyObject_CallFunction(classify, "sss", type == 1 ? "ADM-CID" : "SIA-DCS", e->code, qualifier);
    if (made == NULL) return NULL;
    if (!PyTuple_Check(made) || PyTuple_GET_SIZE(made) != 3) {
        Py_DECREF(made);
        PyErr_SetString(PyExc_TypeError, "classify must return (qualifier, address_is_user, tail)");
        return NULL;
    }
    if (PyDict_SetItemString(fragments, key, made) < 0) {
        Py_DECREF(made);
        return NULL;
    }
    Py_DECREF(made);
    return PyDict_GetItemString(fragments, key);
}

/* The row as a str: most rows are ASCII, copied straight into a compact str without a UTF-8 decode. */
static PyObject *row_text(const char *p, Py_ssize_t n) {
    for (Py_ssize_t k = 0; k < n; k++)
        if ((unsigned char)p[k] & 0x80) return PyUnicode_DecodeUTF8(p, n, NULL);
    PyObject *text = PyUnicode_New(n, 127);
    if (text != NULL) memcpy(PyUnicode_1BYTE_DATA(text), p, (size_t)n);
    return text;
}

static int put_str(Buffer *b, PyObject *text) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(text, &n);
    return s != NULL && put(b, s, n);
}

/* The message's xdata field: row_xdata(blocks) for its x-data blocks "[a][b]" (valid UTF-8), a new str. */
static PyObject *message_xdata(PyObject *xdata, const unsigned char *extended, Py_ssize_t length) {
    Py_ssize_t count = 1;
    for (Py_ssize_t k = 1; k < length - 1; k++)
        if (extended[k] == ']' && extended[k + 1] == '[') count++;
    PyObject *blocks = PyTuple_New(count);
    if (blocks == NULL) return NULL;
    Py_ssize_t start = 1, index = 0;
    for (Py_ssize_t k = 1; k <= length - 1; k++) {
        if (k == length - 1 || (extended[k] == ']' && extended[k + 1] == '[')) {
            PyObject *block = PyUnicode_DecodeUTF8((const char *)extended + start, k - start, NULL);
            if (block == NULL) {
                Py_DECREF(blocks);
                return NULL;
            }
            PyTuple_SET_ITEM(blocks, index++, block);
            start = k + 2;
            k++;
        }
    }
    PyObject *text = PyObject_CallOneArg(xdata, blocks);
    Py_DECREF(blocks);
    if (text != NULL && !PyUnicode_Check(text)) {
        Py_DECREF(text);
        PyErr_SetString(PyExc_TypeError, "xdata must return str");
        return NULL;
    }
    return text;
}

/* decode(frame, key, now, enforce_window, head, fragments, classify, xdata)
 *     -> (rows, answer_header, encrypted) | None */
static PyObject *fast_decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "decode takes 8 arguments");
        return NULL;
    }
    PyObject *frame_obj = args[0], *key_obj = args[1], *now = args[2], *head = args[4], *fragments = args[5],
             *classify = args[6], *xdata = args[7];
    int enforce = PyObject_IsTrue(args[3]);
    if (!PyBytes_Check(frame_obj) || !PyDateTime_Check(now) || !PyUnicode_Check(head) ||
        !PyDict_Check(fragments)) {
        PyErr_SetString(PyExc_TypeError, "decode(frame: bytes, key, now: datetime, enforce, head: str, dict, f)");
        return NULL;
    }
    const unsigned char *frame = (const unsigned char *)PyBytes_AS_STRING(frame_obj);
    Py_ssize_t size = PyBytes_GET_SIZE(frame_obj);
    if (size > MAX_FRAME) Py_RETURN_NONE;
    Header h;
    if (!read_header(frame, size, &h, 1)) Py_RETURN_NONE;
    const unsigned char *key = NULL;
    Py_ssize_t key_length = 0;
    if (key_obj != Py_None) {
        if (!PyBytes_Check(key_obj)) Py_RETURN_NONE;
        key = (const unsigned char *)PyBytes_AS_STRING(key_obj);
        key_length = PyBytes_GET_SIZE(key_obj);
    }
    if (h.encrypted != (key != NULL)) Py_RETURN_NONE; /* NO_KEY or UNENCRYPTED: the slow path answers */

    unsigned char plain[MAX_FRAME / 2 + 16];
    Content c;
    if (h.encrypted) {
        int length = (int)(h.content_length / 2);
        unsigned char cipher[MAX_FRAME / 2 + 16];
        for (int k = 0; k < length; k++)
            cipher[k] = (unsigned char)(hex_value(h.content[2 * k]) << 4 | hex_value(h.content[2 * k + 1]));
        if (!aes_cbc(key, key_length, 0, cipher, length, plain)) Py_RETURN_NONE;
        if (!read_content(plain, length, &c) || !c.has_stamp) Py_RETURN_NONE;
        const unsigned char *bar = memchr(c.data, '|', (size_t)(c.data_length < 17 ? c.data_length : 17));
        if (bar != NULL) {
            c.data_length -= bar + 1 - c.data;
            c.data = bar + 1;
        } else if (c.data_length <= 16) {
            c.data_length = 0;
        } else {
            Py_RETURN_NONE;
        }
    } else if (!read_content(h.content, h.content_length, &c)) {
        Py_RETURN_NONE;
    }
    if (!c.has_stamp) Py_RETURN_NONE; /* a plain frame without a time: rare, the slow path stores it */
    if (h.encrypted || enforce) {
        long long reference =
            days_from_civil(PyDateTime_GET_YEAR(now), PyDateTime_GET_MONTH(now), PyDateTime_GET_DAY(now)) * 86400LL +
            PyDateTime_DATE_GET_HOUR(now) * 3600 + PyDateTime_DATE_GET_MINUTE(now) * 60 +
            PyDateTime_DATE_GET_SECOND(now);
        if (c.stamp.epoch < reference - 40 || c.stamp.epoch > reference + 20) Py_RETURN_NONE;
    }
    if (!text_ok(c.data, c.data_length)) Py_RETURN_NONE;

    /* The data block's own "#acct|": only the header's account takes the fast path (relaying needs a lookup). */
    const unsigned char *rest = c.data;
    Py_ssize_t rest_length = c.data_length;
    if (rest_length > 0 && rest[0] == '#') {
        const unsigned char *bar = memchr(rest, '|', (size_t)rest_length);
        Py_ssize_t account_length = (bar ? bar : rest + rest_length) - rest - 1;
        if (account_length > 0 && h.type != 3) { /* a NULL stores nothing: whose account it names is moot */
            if (account_length != h.account_length) Py_RETURN_NONE;
            for (Py_ssize_t k = 0; k < account_length; k++)
                if ((rest[1 + k] | 0x20) != (h.account[k] | 0x20)) Py_RETURN_NONE;
        }
        rest_length = bar ? rest + rest_length - bar - 1 : 0;
        rest = bar ? bar + 1 : rest + rest_length;
    } else if (rest_length > 0 && rest[0] == '|') {
        rest++, rest_length--;
    }

    Event events[MAX_EVENTS];
    int count = 0;
    if (h.type == 1) {
        if (!decode_cid(rest, rest_length, &events[0])) Py_RETURN_NONE;
        count = 1;
    } else if (h.type == 2) {
        if (memchr(rest, '|', (size_t)rest_length) != NULL) Py_RETURN_NONE;
        if (!decode_sia(rest, rest_length, events, &count)) Py_RETURN_NONE;
    }

    PyObject *rows = PyList_New(count);
    if (rows == NULL) return NULL;
    /* The xdata field, the same in every row: no event taken here has modifiers of its own (decode_sia). */
    PyObject *xdata_text = NULL;
    const char *xdata_json = NULL;
    Py_ssize_t xdata_length = 0;
    if (count > 0 && c.extended != NULL) {
        xdata_text = message_xdata(xdata, c.extended, c.extended_length);
        if (xdata_text == NULL || (xdata_json = PyUnicode_AsUTF8AndSize(xdata_text, &xdata_length)) == NULL) {
            Py_XDECREF(xdata_text);
            Py_DECREF(rows);
            return NULL;
        }
    }
    char *memory = PyMem_Malloc(ROW_CAP);
    if (memory == NULL) {
        Py_XDECREF(xdata_text);
        Py_DECREF(rows);
        return PyErr_NoMemory();
    }
    Buffer b = {memory, 0, ROW_CAP};
    /* Shared by every row of the message: head, receiver, line, sequence, panel time, received at. */
    int ok = put_str(&b, head) && put_char(&b, '\x1f');
    if (ok && h.receiver_length > 0) ok = put(&b, h.receiver, h.receiver_length);
    ok = ok && put_char(&b, '\x1f') && put(&b, h.line, h.line_length) && put_char(&b, '\x1f') &&
         put(&b, h.body + h.answer_start, 4) && put_char(&b, '\x1f') &&
         put_iso(&b, c.stamp.year, c.stamp.month, c.stamp.day, c.stamp.hour, c.stamp.minute, c.stamp.second, 0) &&
         put_char(&b, '\x1f') &&
         put_iso(&b, PyDateTime_GET_YEAR(now), PyDateTime_GET_MONTH(now), PyDateTime_GET_DAY(now),
                 PyDateTime_DATE_GET_HOUR(now), PyDateTime_DATE_GET_MINUTE(now), PyDateTime_DATE_GET_SECOND(now),
                 PyDateTime_DATE_GET_MICROSECOND(now)) &&
         put_char(&b, '\x1f');
    Py_ssize_t shared = b.n;
    for (int index = 0; ok && index < count; index++) {
        const Event *e = &events[index];
        PyObject *meaning = fragment(fragments, classify, h.type, e);
        if (meaning == NULL) {
            ok = -1;
            break;
        }
        int address_is_user = PyObject_IsTrue(PyTuple_GET_ITEM(meaning, 1));
        const unsigned char *zone = address_is_user ? NULL : e->address;
        Py_ssize_t zone_length = address_is_user ? 0 : e->address_length;
        const unsigned char *user = address_is_user && e->address ? e->address : e->user;
        Py_ssize_t user_length = address_is_user && e->address ? e->address_length : e->user_length;
        char number[2]; /* index < MAX_EVENTS (64): one or two digits */
        int number_length = index < 10 ? 1 : 2;
        put_digits(number, index, number_length);
        b.n = shared;
        ok = put(&b, number, number_length) && put_char(&b, '\x1f') &&
             put(&b, h.type == 1 ? "ADM-CID" : "SIA-DCS", 7) && put_char(&b, '\x1f') &&
             put(&b, e->code, (Py_ssize_t)strlen(e->code)) && put_char(&b, '\x1f') &&
             put_str(&b, PyTuple_GET_ITEM(meaning, 0)) && put_char(&b, '\x1f') &&
             (zone == NULL || put(&b, zone, zone_length)) && put_char(&b, '\x1f') &&
             (e->partition == NULL || put(&b, e->partition, e->partition_length)) && put_char(&b, '\x1f') &&
             (user == NULL || put(&b, user, user_length)) && put_char(&b, '\x1f') &&
             put_str(&b, PyTuple_GET_ITEM(meaning, 2)) &&
             (e->text == NULL || (put(&b, " \xE2\x80\x94 ", 5) && put(&b, e->text, e->text_length))) &&
             put_char(&b, '\x1f');
        if (ok && c.extended != NULL) { /* "[a][b]" -> "a\x1eb" */
            for (Py_ssize_t k = 1; ok && k < c.extended_length - 1; k++) {
                if (c.extended[k] == ']' && c.extended[k + 1] == '[') {
                    ok = put_char(&b, '\x1e');
                    k++;
                } else {
                    ok = put_char(&b, (char)c.extended[k]);
                }
            }
        }
        ok = ok && put_char(&b, '\x1f');
        if (ok && b.n + 2 * size <= b.cap) {
            for (Py_ssize_t k = 0; k < size; k++) {
                b.p[b.n++] = HEX_LOWER[frame[k] >> 4];
                b.p[b.n++] = HEX_LOWER[frame[k] & 15];
            }
        } else {
            ok = 0;
        }
        ok = ok && put_char(&b, '\x1f') && (xdata_length == 0 || put(&b, xdata_json, xdata_length));
        if (ok) {
            PyObject *row = row_text(b.p, b.n);
            if (row == NULL) {
                ok = -1;
                break;
            }
            PyList_SET_ITEM(rows, index, row);
        }
    }
    PyMem_Free(memory);
    Py_XDECREF(xdata_text);
    if (ok != 1) {
        Py_DECREF(rows);
        if (ok < 0 || PyErr_Occurred()) return NULL;
        Py_RETURN_NONE; /* a row that would not fit: let the slow path deal with it */
    }
    PyObject *answer = PyBytes_FromStringAndSize((const char *)h.body + h.answer_start, h.answer_end - h.answer_start);
    if (answer == NULL) {
        Py_DECREF(rows);
        return NULL;
    }
    return Py_BuildValue("(NNO)", rows, answer, h.encrypted ? Py_True : Py_False);
}

/* peek_account(frame) -> the header's account as sent, or None when the frame is not of the common shape. */
static PyObject *fast_peek_account(PyObject *self, PyObject *frame_obj) {
    if (!PyBytes_Check(frame_obj)) {
        PyErr_SetString(PyExc_TypeError, "peek_account(frame: bytes)");
        return NULL;
    }
    Header h;
    if (PyBytes_GET_SIZE(frame_obj) > MAX_FRAME ||
        !read_header((const unsigned char *)PyBytes_AS_STRING(frame_obj), PyBytes_GET_SIZE(frame_obj), &h, 0))
        Py_RETURN_NONE;
    return PyUnicode_DecodeASCII((const char *)h.account, h.account_length, NULL);
}

/* ---- answers ---- */

static unsigned char PAD_POOL[4096];
static size_t PAD_LEFT = 0;
static const char PAD_ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static int random_pad(unsigned char *out, int length) {
    if (PAD_LEFT < (size_t)length) {
        size_t got = 0;
        while (got < sizeof PAD_POOL) {
            ssize_t r = getrandom(PAD_POOL + got, sizeof PAD_POOL - got, 0);
            if (r < 0 && errno == EINTR) continue; /* above 256 bytes a signal may interrupt it */
            if (r < 0) return 0;
            got += (size_t)r;
        }
        for (size_t k = 0; k < sizeof PAD_POOL; k++) PAD_POOL[k] = (unsigned char)PAD_ALPHABET[PAD_POOL[k] % 62];
        PAD_LEFT = sizeof PAD_POOL;
    }
    PAD_LEFT -= (size_t)length;
    memcpy(out, PAD_POOL + PAD_LEFT, (size_t)length);
    return 1;
}

static PyObject *wrap_frame(const unsigned char *body, Py_ssize_t n) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, n + 10);
    if (out == NULL) return NULL;
    char *p = PyBytes_AS_STRING(out);
    unsigned crc = crc16_arc(body, n);
    p[0] = '\n';
    for (int k = 0; k < 4; k++) p[1 + k] = HEX_UPPER[(crc >> (12 - 4 * k)) & 15];
    p[5] = '0';
    for (int k = 0; k < 3; k++) p[6 + k] = HEX_UPPER[(n >> (8 - 4 * k)) & 15];
    memcpy(p + 9, body, (size_t)n);
    p[9 + n] = '\r';
    return out;
}

/* ack(answer_header, key, now) -> the ACK frame: "ACK"seq[R]L#acct[] or "*ACK"... + AES(pad|]_timestamp). */
static PyObject *fast_ack(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    /* A plain ACK carries no time: `now` may then be None. */
    if (nargs != 3 || !PyBytes_Check(args[0]) || (args[1] != Py_None && !PyDateTime_Check(args[2]))) {
        PyErr_SetString(PyExc_TypeError, "ack(answer_header: bytes, key: bytes | None, now: datetime | None)");
        return NULL;
    }
    const char *header = PyBytes_AS_STRING(args[0]);
    Py_ssize_t header_length = PyBytes_GET_SIZE(args[0]);
    if (header_length > 64) {
        PyErr_SetString(PyExc_ValueError, "answer header too long");
        return NULL;
    }
    unsigned char body[200];
    Py_ssize_t n = 0;
    if (args[1] == Py_None) {
        memcpy(body, "\"ACK\"", 5), n = 5;
        memcpy(body + n, header, (size_t)header_length), n += header_length;
        body[n++] = ']';
        return wrap_frame(body, n);
    }
    if (!PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "key must be bytes or None");
        return NULL;
    }
    PyObject *now = args[2];
    unsigned char plain[32], cipher[32];
    /* pad (10) + "|" + "]" + "_HH:MM:SS,MM-DD-YYYY" (20) = 32 */
    if (!random_pad(plain, 10)) return PyErr_SetFromErrno(PyExc_OSError);
    char stamp[40];
    snprintf(stamp, sizeof stamp, "_%02d:%02d:%02d,%02d-%02d-%04d", PyDateTime_DATE_GET_HOUR(now),
             PyDateTime_DATE_GET_MINUTE(now), PyDateTime_DATE_GET_SECOND(now), PyDateTime_GET_MONTH(now),
             PyDateTime_GET_DAY(now), PyDateTime_GET_YEAR(now));
    plain[10] = '|', plain[11] = ']';
    memcpy(plain + 12, stamp, 20);
    if (!aes_cbc((const unsigned char *)PyBytes_AS_STRING(args[1]), PyBytes_GET_SIZE(args[1]), 1, plain, 32,
                 cipher)) {
        PyErr_SetString(PyExc_ValueError, "AES key must be 16, 24 or 32 bytes");
        return NULL;
    }
    memcpy(body, "\"*ACK\"", 6), n = 6;
    memcpy(body + n, header, (size_t)header_length), n += header_length;
    for (int k = 0; k < 32; k++) {
        body[n++] = (unsigned char)HEX_UPPER[cipher[k] >> 4];
        body[n++] = (unsigned char)HEX_UPPER[cipher[k] & 15];
    }
    return wrap_frame(body, n);
}

static PyMethodDef METHODS[] = {
    {"decode", (PyCFunction)(void (*)(void))fast_decode, METH_FASTCALL,
     "decode(frame, key, now, enforce_window, head, fragments, classify, xdata) -> (rows, answer_header, "
     "encrypted) or None when the frame is not of the common shape"},
    {"peek_account", fast_peek_account, METH_O, "peek_account(frame) -> the header's account, or None"},
    {"ack", (PyCFunction)(void (*)(void))fast_ack, METH_FASTCALL,
     "ack(answer_header, key, now) -> the ACK frame (encrypted when key is given)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_fastpath",
    .m_doc = "The receiver's compiled DC-09 fast path.",
    .m_size = -1,
    .m_methods = METHODS,
};

PyMODINIT_FUNC PyInit__fastpath(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    static const char *names[3] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"};
    for (int k = 0; k < 3; k++) {
        AES_CBC[k] = EVP_CIPHER_fetch(NULL, names[k], NULL);
        if (AES_CBC[k] == NULL) {
            PyErr_SetString(PyExc_ImportError, "OpenSSL has no AES-CBC");
            return NULL;
        }
    }
    return PyModule_Create(&MODULE);
}
