/*
 * snnc_pe.c - the snnc SpiNNaker2 PE kernel (see snnc_pe.h for the calling sequence).
 *
 * Arithmetic notes (why the code looks the way it does):
 *  - Requant and the LIF leak use exact 64-bit products: |acc| < 2^31 and multiplier < 2^31, so
 *    x*m + 2^61 < 2^63; |v|, |decay| <= 2^31, so v*decay + 2^29 < 2^63.
 *  - C leaves `>>` of a negative signed value implementation-defined, so rounding shifts go
 *    through snnc_floor_shift, which only shifts non-negative values.
 *  - Accumulation is done in uint32_t and converted back: the compiler proves the exact sums fit
 *    int32 (else compile error), so this equals the exact sum and avoids signed-overflow UB
 *    (the uint32 -> int32 conversion is modular on gcc/clang, the only compilers targeted).
 */
#include "snnc_pe.h"

#include <string.h>

int64_t snnc_floor_shift(int64_t x, uint32_t s)
{
    if (x >= 0) {
        return x >> s;
    }
    /* floor(x / 2^s) = -((-x - 1) >> s) - 1 for x < 0; -(x + 1) >= 0 never overflows. */
    return -((-(x + 1)) >> s) - 1;
}

static int64_t clamp64(int64_t x, int64_t lo, int64_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

int32_t snnc_requant(int32_t x, int32_t m, uint32_t s, int32_t zp, int32_t lo, int32_t hi)
{
    int64_t p = (int64_t)x * (int64_t)m;
    if (s > 0) {
        p += (int64_t)1 << (s - 1);
    }
    p = snnc_floor_shift(p, s) + (int64_t)zp;
    return (int32_t)clamp64(p, (int64_t)lo, (int64_t)hi);
}

/* Reads the header into `st` without touching RAM; returns SNNC_OK or an error code. */
static int read_header(const uint32_t *w, size_t words, snnc_pe_state *st)
{
    uint64_t lif_neuron, lif_requant, need;
    if (w == NULL || words < SNNC_HEADER_WORDS) {
        return SNNC_E_SIZE;
    }
    if (w[SNNC_H_MAGIC] != SNNC_MAGIC) {
        return SNNC_E_MAGIC;
    }
    if (w[SNNC_H_VERSION] != SNNC_VERSION) {
        return SNNC_E_VERSION;
    }
    if ((size_t)w[SNNC_H_TOTAL] != words) {
        return SNNC_E_SIZE;
    }
    st->image = w;
    st->role = w[SNNC_H_ROLE];
    st->n = w[SNNC_H_N];
    st->key_base = w[SNNC_H_KEY_BASE];
    st->flags = w[SNNC_H_FLAGS];
    st->start_tick = w[SNNC_H_START_TICK];
    st->state_bits = w[SNNC_H_STATE_BITS];
    st->frac_bits = w[SNNC_H_FRAC_BITS];
    st->k = w[SNNC_H_K];
    st->d = w[SNNC_H_D];
    st->m = w[SNNC_H_M];
    st->s = w[SNNC_H_S];
    st->first = w[SNNC_H_FIRST];
    if (st->role > SNNC_ROLE_LIF || st->n == 0 || st->n > SNNC_MAX_NEURONS ||
        st->k > SNNC_MAX_TYPES || st->d == 0 || st->d > SNNC_MAX_SLOTS ||
        (st->d & (st->d - 1u)) != 0) {
        return SNNC_E_HEADER;
    }
    if (st->role == SNNC_ROLE_LIF &&
        (st->state_bits < 2 || st->state_bits > 32 || st->frac_bits > 30)) {
        return SNNC_E_HEADER;
    }
    /* SYNAPSES_DRAM only says where the loader put the synapse section; `syn` reaches it
     * either way. Unknown flags mean an image this kernel does not understand. */
    if ((st->flags & ~SNNC_FLAGS_KNOWN) != 0u) {
        return SNNC_E_HEADER;
    }
    /* The sections must sit exactly where the layout puts them (as the host loader checks). */
    lif_neuron = st->role == SNNC_ROLE_LIF ? 4u * (uint64_t)st->n : 0u;
    lif_requant = st->role == SNNC_ROLE_LIF ? 5u * (uint64_t)st->k * st->n : 0u;
    need = SNNC_HEADER_WORDS;
    if (w[SNNC_H_OFF_NEURON] != need) {
        return SNNC_E_LAYOUT;
    }
    need += lif_neuron;
    if ((uint64_t)w[SNNC_H_OFF_REQUANT] != need) {
        return SNNC_E_LAYOUT;
    }
    need += lif_requant;
    if ((uint64_t)w[SNNC_H_OFF_MASTER] != need) {
        return SNNC_E_LAYOUT;
    }
    need += 5u * (uint64_t)st->m;
    if ((uint64_t)w[SNNC_H_OFF_SYNAPSE] != need) {
        return SNNC_E_LAYOUT;
    }
    need += st->s;
    if (need != (uint64_t)words) {
        return SNNC_E_LAYOUT;
    }
    st->neuron = w + w[SNNC_H_OFF_NEURON];
    st->requant = w + w[SNNC_H_OFF_REQUANT];
    st->master = w + w[SNNC_H_OFF_MASTER];
    st->syn = w + w[SNNC_H_OFF_SYNAPSE];
    return SNNC_OK;
}

static size_t ram_of(const snnc_pe_state *st)
{
    if (st->role != SNNC_ROLE_LIF) {
        return 0;
    }
    return 4u * (size_t)st->n * (1u + (size_t)st->d * st->k);
}

size_t snnc_pe_ram_bytes(const uint32_t *image, size_t words)
{
    snnc_pe_state st;
    if (read_header(image, words, &st) != SNNC_OK) {
        return 0;
    }
    return ram_of(&st);
}

int snnc_pe_init(const uint32_t *image, size_t words, snnc_pe_state *st, void *ram,
                 size_t ram_bytes)
{
    size_t need;
    int rc;
    memset(st, 0, sizeof *st);
    rc = read_header(image, words, st);
    if (rc != SNNC_OK) {
        return rc;
    }
    need = ram_of(st);
    if (need > 0) {
        if (ram == NULL || ram_bytes < need || ((uintptr_t)ram & 3u) != 0) {
            return SNNC_E_RAM;
        }
        memset(ram, 0, need);
        st->v = (int32_t *)ram;
        st->acc = st->v + st->n;
    }
    return SNNC_OK;
}

/* Index of the master entry matching `key`, or -1. Entries are sorted by key with disjoint
 * prefix-mask blocks, so the only candidate is the last entry whose key is <= `key`. */
static int32_t find_entry(const snnc_pe_state *st, uint32_t key)
{
    uint32_t lo = 0, hi = st->m; /* first entry with entry.key > key lies in [lo, hi] */
    const uint32_t *e;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2u;
        if (st->master[5u * mid] <= key) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    if (lo == 0) {
        return -1;
    }
    e = st->master + 5u * (lo - 1u);
    return (key & e[1]) == e[0] ? (int32_t)(lo - 1u) : -1;
}

/* Set bits of `x` (portable; the Cortex-M4 has no population-count instruction). */
static uint32_t popcount32(uint32_t x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0f0f0f0fu;
    return (x * 0x01010101u) >> 24;
}

/* Word offset of row `j`'s pointer for a BITMAP entry `e`: 1 on success, 0 for an absent
 * (empty) row, -1 when a word lies outside the synapse section. */
static int bitmap_pointer(const snnc_pe_state *st, const uint32_t *e, uint32_t j,
                          uint32_t *at)
{
    uint32_t nbw = e[3] / 32u + ((e[3] % 32u) != 0u), wi, rank = 0, bits;
    if ((uint64_t)e[2] + nbw > st->s) {
        return -1;
    }
    bits = st->syn[e[2] + j / 32u];
    if ((bits & (1u << (j % 32u))) == 0u) {
        return 0;
    }
    for (wi = 0; wi < j / 32u; wi++) {
        rank += popcount32(st->syn[e[2] + wi]);
    }
    rank += popcount32(bits & ((1u << (j % 32u)) - 1u));
    if ((uint64_t)e[2] + nbw + rank >= st->s) {
        return -1;
    }
    *at = e[2] + nbw + rank;
    return 1;
}

void snnc_pe_receive(snnc_pe_state *st, uint32_t tick, uint32_t key, uint32_t payload)
{
    const uint32_t *e, *row;
    uint32_t j, ptr, count, c, base, slot_mask, at;
    int32_t idx;
    int with_payload;
    if (st->role != SNNC_ROLE_LIF) {
        return;
    }
    st->packets++;
    idx = find_entry(st, key);
    if (idx < 0) {
        st->unmatched++;
        return;
    }
    e = st->master + 5u * (uint32_t)idx;
    j = key & ~e[1];
    /* Row pointer and row must lie in the synapse section (cheap per-packet guard). */
    if (j >= e[3]) {
        st->out_of_range++;
        return;
    }
    if (e[4] & SNNC_MASTER_BITMAP) {
        int found = bitmap_pointer(st, e, j, &at);
        if (found < 0) {
            st->out_of_range++;
            return;
        }
        if (found == 0) {
            return; /* no row: nothing to add */
        }
    } else {
        if ((uint64_t)e[2] + j >= st->s) {
            st->out_of_range++;
            return;
        }
        at = e[2] + j;
    }
    ptr = st->syn[at];
    if (ptr >= st->s || (uint64_t)ptr + 1u + st->syn[ptr] > st->s) {
        st->out_of_range++;
        return;
    }
    count = st->syn[ptr];
    row = st->syn + ptr + 1u;
    with_payload = (e[4] & SNNC_MASTER_PAYLOAD) != 0;
    /* Slot of delay `dl`: (tick - 1 + dl) mod D; D divides 2^32, so unsigned wrap is exact. */
    base = tick - 1u;
    slot_mask = st->d - 1u;
    for (c = 0; c < count; c++) {
        uint32_t word = row[c];
        uint32_t post = word & 0x3ffu;
        uint32_t delay = (word >> 10) & 0xfu;
        uint32_t type = (word >> 14) & 0x3u;
        /* Portable sign extension of the 16-bit weight. */
        int32_t w = (int32_t)((word >> 16) ^ 0x8000u) - 0x8000;
        uint32_t slot = (base + delay) & slot_mask;
        uint32_t add = with_payload ? (uint32_t)w * payload : (uint32_t)w;
        int32_t *a = st->acc + ((size_t)slot * st->k + type) * st->n + post;
        *a = (int32_t)((uint32_t)*a + add);
    }
    st->synapses += count;
}

void snnc_pe_tick(snnc_pe_state *st, uint32_t tick, const snnc_pe_io *io)
{
    uint32_t i, t;
    uint32_t slot;
    int active;
    int64_t vlo, vhi;
    if (st->role != SNNC_ROLE_LIF) {
        return;
    }
    slot = tick & (st->d - 1u);
    active = tick >= st->start_tick;
    vlo = -((int64_t)1 << (st->state_bits - 1u));
    vhi = ((int64_t)1 << (st->state_bits - 1u)) - 1;
    for (i = 0; i < st->n; i++) {
        int64_t current = 0;
        for (t = 0; t < st->k; t++) {
            int32_t *a = st->acc + ((size_t)slot * st->k + t) * st->n + i;
            if (active) {
                const uint32_t *r = st->requant + 5u * ((size_t)t * st->n + i);
                current += snnc_requant(*a, (int32_t)r[0], r[1], (int32_t)r[2], (int32_t)r[3],
                                        (int32_t)r[4]);
            }
            *a = 0;
        }
        if (active) {
            const uint32_t *p = st->neuron + 4u * (size_t)i;
            int32_t decay = (int32_t)p[0], bias = (int32_t)p[1];
            int32_t threshold = (int32_t)p[2], v_reset = (int32_t)p[3];
            int64_t leak = (int64_t)st->v[i] * (int64_t)decay;
            int64_t u;
            if (st->frac_bits > 0) {
                leak = snnc_floor_shift(leak + ((int64_t)1 << (st->frac_bits - 1u)),
                                        st->frac_bits);
            }
            u = clamp64(leak + current + (int64_t)bias, vlo, vhi);
            if (u > (int64_t)threshold) {
                if (st->flags & SNNC_FLAG_RESET_SUBTRACT) {
                    u = clamp64(u - (int64_t)threshold, vlo, vhi);
                } else {
                    u = (int64_t)v_reset;
                }
                st->spikes++;
                if ((st->flags & SNNC_FLAG_SENDS) && io != NULL && io->send != NULL) {
                    io->send(io->ctx, st->key_base + i, 0u, 0);
                }
                if ((st->flags & SNNC_FLAG_RECORD) && io != NULL && io->record != NULL) {
                    io->record(io->ctx, i);
                }
            }
            st->v[i] = (int32_t)u;
        }
    }
}

void snnc_pe_source(snnc_pe_state *st, const int32_t *values, const snnc_pe_io *io)
{
    uint32_t i;
    int with_payload;
    if (st->role != SNNC_ROLE_SOURCE || values == NULL) {
        return;
    }
    with_payload = (st->flags & SNNC_FLAG_PAYLOAD) != 0;
    for (i = 0; i < st->n; i++) {
        if (values[i] == 0) {
            continue;
        }
        st->spikes++;
        if ((st->flags & SNNC_FLAG_SENDS) && io != NULL && io->send != NULL) {
            io->send(io->ctx, st->key_base + i, with_payload ? (uint32_t)values[i] : 0u,
                     with_payload);
        }
        if ((st->flags & SNNC_FLAG_RECORD) && io != NULL && io->record != NULL) {
            io->record(io->ctx, i);
        }
    }
}
