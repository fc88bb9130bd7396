/*
 * host_driver.c - runs snnc PE images on the host with the real kernel (snnc_pe.c), to check the
 * shipped C against the Rust reference and emulator. Not part of the artifact.
 *
 * Build:  cc -O2 -std=c99 host_driver.c snnc_pe.c -o snnc_host
 * Run:    ./snnc_host DESCRIPTION > spikes.txt      (DESCRIPTION "-" reads stdin)
 *
 * DESCRIPTION is text: whitespace-separated tokens, `#` starts a comment to the end of the line.
 *
 *     snnc-host 1             format name and version
 *     latency L               output step s is recorded at tick s + L
 *     steps T                 steps of input; the run lasts T + L ticks
 *     pe PATH                 one line per PE image (PATH as given, relative to the working
 *     pe PATH                 directory); order = delivery order
 *     ...
 *     values                  then T x (sum of n over the source PEs) integers: for each step,
 *     v v v ...               the values of every source PE in `pe` order, each PE's n values
 *                             (its slice of the step's already quantized input)
 *
 * Delivery is ideal: at tick t, source PEs inject step t (t < T); every packet sent at tick t-1
 * (in PE order, then emission order) is offered to every LIF PE (its master table filters) and
 * then every LIF PE runs its tick t update. Images are read as little-endian words, so the host
 * must be little-endian (x86, ARM).
 *
 * Output: T lines (steps 0..T-1), each the recorded output vector as space-separated 0/1; the
 * vector's length is the largest `first + n` over RECORD PEs and element `first + i` is neuron
 * i of a RECORD PE. Counters (packets, unmatched, ...) go to stderr. Exit 0 on success, 1 on a
 * bad description or image (message on stderr).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snnc_pe.h"

typedef struct {
    uint32_t key, payload;
} packet;

typedef struct {
    packet *items;
    size_t len, cap;
} packet_list;

typedef struct {
    uint32_t *image;
    size_t words;
    void *ram;
    snnc_pe_state st;
} pe_slot;

typedef struct {
    packet_list *out;    /* packets sent this tick */
    uint8_t *recorded;   /* this tick's output vector */
    uint32_t first;      /* first element of the current PE */
} emit_ctx;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "snnc_host: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        die("out of memory", NULL);
    }
    return q;
}

/* Next token of `f` into buf (comments skipped); 0 at end of input. */
static int next_token(FILE *f, char *buf, size_t cap)
{
    int c;
    size_t len = 0;
    for (;;) {
        c = fgetc(f);
        if (c == '#') {
            while (c != EOF && c != '\n') {
                c = fgetc(f);
            }
        }
        if (c == EOF) {
            return 0;
        }
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            break;
        }
    }
    while (c != EOF && c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '#') {
        if (len + 1 >= cap) {
            die("token too long", NULL);
        }
        buf[len++] = (char)c;
        c = fgetc(f);
    }
    if (c == '#') {
        ungetc(c, f);
    }
    buf[len] = '\0';
    return 1;
}

static long long parse_int(const char *tok, const char *what)
{
    char *end;
    long long v = strtoll(tok, &end, 10);
    if (*tok == '\0' || *end != '\0') {
        die(what, tok);
    }
    return v;
}

static void expect(FILE *f, const char *word)
{
    char tok[4096];
    if (!next_token(f, tok, sizeof tok) || strcmp(tok, word) != 0) {
        die("expected keyword", word);
    }
}

static void load_image(const char *path, pe_slot *pe)
{
    FILE *f = fopen(path, "rb");
    long size;
    size_t i;
    uint8_t *bytes;
    int rc;
    if (f == NULL) {
        die("cannot open image", path);
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        die("cannot size image", path);
    }
    if (size % 4 != 0) {
        die("image is not a whole number of words", path);
    }
    bytes = xrealloc(NULL, (size_t)size);
    if (fread(bytes, 1, (size_t)size, f) != (size_t)size) {
        die("cannot read image", path);
    }
    fclose(f);
    pe->words = (size_t)size / 4;
    pe->image = xrealloc(NULL, pe->words * 4);
    for (i = 0; i < pe->words; i++) {
        pe->image[i] = (uint32_t)bytes[4 * i] | (uint32_t)bytes[4 * i + 1] << 8 |
                       (uint32_t)bytes[4 * i + 2] << 16 | (uint32_t)bytes[4 * i + 3] << 24;
    }
    free(bytes);
    pe->ram = xrealloc(NULL, snnc_pe_ram_bytes(pe->image, pe->words) + 4);
    rc = snnc_pe_init(pe->image, pe->words, &pe->st, pe->ram,
                      snnc_pe_ram_bytes(pe->image, pe->words) + 4);
    if (rc != SNNC_OK) {
        char msg[64];
        snprintf(msg, sizeof msg, "snnc_pe_init failed with %d", rc);
        die(msg, path);
    }
}

static void on_send(void *vctx, uint32_t key, uint32_t payload, int with_payload)
{
    emit_ctx *ctx = vctx;
    packet_list *l = ctx->out;
    (void)with_payload;
    if (l->len == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->items = xrealloc(l->items, l->cap * sizeof *l->items);
    }
    l->items[l->len].key = key;
    l->items[l->len].payload = payload;
    l->len++;
}

static void on_record(void *vctx, uint32_t neuron)
{
    emit_ctx *ctx = vctx;
    ctx->recorded[ctx->first + neuron] = 1;
}

int main(int argc, char **argv)
{
    char tok[4096];
    FILE *f;
    pe_slot *pes = NULL;
    size_t npes = 0, i, source_width = 0, out_width = 0;
    long long latency, steps, t, s;
    int32_t *values;
    packet_list lists[2] = {{NULL, 0, 0}, {NULL, 0, 0}};
    uint8_t *recorded;
    emit_ctx ctx;
    snnc_pe_io io;

    if (argc != 2) {
        die("usage: snnc_host DESCRIPTION", NULL);
    }
    f = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "r");
    if (f == NULL) {
        die("cannot open description", argv[1]);
    }
    expect(f, "snnc-host");
    if (!next_token(f, tok, sizeof tok) || parse_int(tok, "bad version") != 1) {
        die("unsupported description version", tok);
    }
    expect(f, "latency");
    if (!next_token(f, tok, sizeof tok) || (latency = parse_int(tok, "bad latency")) < 0) {
        die("bad latency", tok);
    }
    expect(f, "steps");
    if (!next_token(f, tok, sizeof tok) || (steps = parse_int(tok, "bad steps")) < 0) {
        die("bad steps", tok);
    }
    for (;;) {
        if (!next_token(f, tok, sizeof tok)) {
            die("missing `values`", NULL);
        }
        if (strcmp(tok, "values") == 0) {
            break;
        }
        if (strcmp(tok, "pe") != 0) {
            die("expected `pe` or `values`", tok);
        }
        if (!next_token(f, tok, sizeof tok)) {
            die("missing image path", NULL);
        }
        pes = xrealloc(pes, (npes + 1) * sizeof *pes);
        load_image(tok, &pes[npes]);
        if (pes[npes].st.role == SNNC_ROLE_SOURCE) {
            source_width += pes[npes].st.n;
        }
        if (pes[npes].st.flags & SNNC_FLAG_RECORD) {
            size_t end = (size_t)pes[npes].st.first + pes[npes].st.n;
            out_width = end > out_width ? end : out_width;
        }
        npes++;
    }
    values = xrealloc(NULL, (size_t)steps * source_width * sizeof *values);
    for (i = 0; i < (size_t)steps * source_width; i++) {
        if (!next_token(f, tok, sizeof tok)) {
            die("too few values", NULL);
        }
        long long v = parse_int(tok, "bad value");
        if (v < INT32_MIN || v > INT32_MAX) {
            die("value out of int32 range", tok);
        }
        values[i] = (int32_t)v;
    }
    if (next_token(f, tok, sizeof tok)) {
        die("extra tokens after the values", tok);
    }
    if (f != stdin) {
        fclose(f);
    }

    recorded = xrealloc(NULL, out_width + 1);
    io.send = on_send;
    io.record = on_record;
    io.ctx = &ctx;
    ctx.recorded = recorded;
    for (t = 0; t < steps + latency; t++) {
        packet_list *prev = &lists[(t + 1) % 2], *cur = &lists[t % 2];
        size_t col = 0;
        cur->len = 0;
        ctx.out = cur;
        memset(recorded, 0, out_width + 1);
        for (i = 0; i < npes; i++) {
            snnc_pe_state *st = &pes[i].st;
            ctx.first = st->first;
            if (st->role == SNNC_ROLE_SOURCE) {
                if (t < steps) {
                    snnc_pe_source(st, values + (size_t)t * source_width + col, &io);
                }
                col += st->n;
            } else {
                size_t p;
                for (p = 0; p < prev->len; p++) {
                    snnc_pe_receive(st, (uint32_t)t, prev->items[p].key, prev->items[p].payload);
                }
                snnc_pe_tick(st, (uint32_t)t, &io);
            }
        }
        s = t - latency;
        if (s >= 0) {
            for (i = 0; i < out_width; i++) {
                printf(i ? " %d" : "%d", recorded[i]);
            }
            printf("\n");
        }
    }
    for (i = 0; i < npes; i++) {
        snnc_pe_state *st = &pes[i].st;
        fprintf(stderr, "pe %zu: packets %u unmatched %u out_of_range %u synapses %u spikes %u\n",
                i, st->packets, st->unmatched, st->out_of_range, st->synapses, st->spikes);
        free(pes[i].image);
        free(pes[i].ram);
    }
    free(pes);
    free(values);
    free(recorded);
    free(lists[0].items);
    free(lists[1].items);
    return 0;
}
