/*
 * snnc_pe.h - the snnc SpiNNaker2 PE kernel (Cortex-M4F, C99).
 *
 * One PE runs one slice of a population from a binary data image written by
 * `snnc compile --target spinnaker2` (layout: docs/spinnaker2.md, "PE data image").
 * The kernel is the same for every model; only the image differs.
 *
 * Per tick t the platform (or the host test driver) does, for a LIF PE:
 *   for each packet sent at tick t-1 that reached this PE, in arrival order:
 *       snnc_pe_receive(st, t, key, payload);
 *   snnc_pe_tick(st, t, io);
 * and for a source PE, while t < T:
 *   snnc_pe_source(st, values_of_step_t, io);
 *
 * Integer semantics are exactly those of snnc's reference interpreter (Requant and IntLif,
 * docs/semantics.md section 7): the emulator and the reference agree bit for bit.
 *
 * No heap, no libc beyond <stdint.h>/<stddef.h>/<string.h>; runtime state lives in a RAM block
 * the caller provides (snnc_pe_ram_bytes tells how big).
 */
#ifndef SNNC_PE_H
#define SNNC_PE_H

#include <stddef.h>
#include <stdint.h>

#define SNNC_MAGIC 0x324E4E53u /* "SNN2" little-endian */
#define SNNC_VERSION 1u
#define SNNC_HEADER_WORDS 20u
#define SNNC_MAX_NEURONS 1024u
#define SNNC_MAX_TYPES 4u
#define SNNC_MAX_SLOTS 16u

/* Header word indices. */
#define SNNC_H_MAGIC 0
#define SNNC_H_VERSION 1
#define SNNC_H_ROLE 2
#define SNNC_H_N 3
#define SNNC_H_KEY_BASE 4
#define SNNC_H_FLAGS 5
#define SNNC_H_START_TICK 6
#define SNNC_H_STATE_BITS 7
#define SNNC_H_FRAC_BITS 8
#define SNNC_H_K 9
#define SNNC_H_D 10
#define SNNC_H_M 11
#define SNNC_H_S 12
#define SNNC_H_OFF_NEURON 13
#define SNNC_H_OFF_REQUANT 14
#define SNNC_H_OFF_MASTER 15
#define SNNC_H_OFF_SYNAPSE 16
#define SNNC_H_TOTAL 17
#define SNNC_H_FIRST 18
#define SNNC_H_CHECKSUM 19

#define SNNC_ROLE_SOURCE 0u
#define SNNC_ROLE_LIF 1u

/* Header flags (word 5). */
#define SNNC_FLAG_RECORD 1u
#define SNNC_FLAG_PAYLOAD 2u
#define SNNC_FLAG_RESET_SUBTRACT 4u
#define SNNC_FLAG_SENDS 8u
/* The synapse section (row pointers, bitmaps, rows) lives in the chip's DRAM, not the PE's
 * SRAM. On the chip the loader places it there and each row a packet selects is fetched by
 * DMA (the cost model charges that); this portable kernel reads it through `syn` wherever the
 * caller put it, so the flag changes no result. */
#define SNNC_FLAG_SYNAPSES_DRAM 16u
/* Every header flag this kernel knows; snnc_pe_init refuses others (SNNC_E_HEADER). */
#define SNNC_FLAGS_KNOWN 31u

/* Master entry flags (word 4 of an entry). */
#define SNNC_MASTER_PAYLOAD 1u
/* index_off points at ceil(n_rows / 32) bitmap words (bit j set: row j exists) followed by
 * one row pointer per set bit in row order; a clear bit is an empty row. */
#define SNNC_MASTER_BITMAP 2u

/* Return codes of snnc_pe_init. */
#define SNNC_OK 0
#define SNNC_E_SIZE (-1)    /* image shorter than its header or its total-words field */
#define SNNC_E_MAGIC (-2)   /* not an snnc image */
#define SNNC_E_VERSION (-3) /* unsupported layout version */
#define SNNC_E_HEADER (-4)  /* a header field out of range */
#define SNNC_E_LAYOUT (-5)  /* sections do not fit the image */
#define SNNC_E_RAM (-6)     /* RAM block too small or misaligned */

/* Where spikes go: the platform's packet send and the output recorder. */
typedef struct {
    /* Sends a multicast packet (with_payload: the packet carries `payload`). */
    void (*send)(void *ctx, uint32_t key, uint32_t payload, int with_payload);
    /* Records a spike of slice-local neuron `neuron` (only called on RECORD slices). */
    void (*record)(void *ctx, uint32_t neuron);
    void *ctx;
} snnc_pe_io;

/* Runtime state of one PE: decoded header, section pointers into the image, and the
 * membrane and delay-ring accumulators in the caller's RAM block. */
typedef struct {
    const uint32_t *image;
    uint32_t role, n, key_base, flags, start_tick, state_bits, frac_bits, k, d, m, s, first;
    const uint32_t *neuron;  /* n x {decay, bias, threshold, v_reset} */
    const uint32_t *requant; /* k x n x {multiplier, shift, zero_point, lo, hi} */
    const uint32_t *master;  /* m x {key, mask, index_off, n_rows, flags} */
    const uint32_t *syn;     /* s words: row-pointer arrays, bitmaps and rows (SRAM or DRAM) */
    int32_t *v;              /* n membranes */
    int32_t *acc;            /* d x k x n accumulators: acc[(slot * k + type) * n + i] */
    /* Counters for the platform's diagnostics. */
    uint32_t packets;     /* packets received */
    uint32_t unmatched;   /* packets matching no master entry */
    uint32_t out_of_range; /* packets whose row index is >= n_rows, or a bad row pointer */
    uint32_t synapses;    /* synapse words processed */
    uint32_t spikes;      /* spikes emitted (LIF) or non-zero elements injected (source) */
} snnc_pe_state;

/* Bytes of RAM a PE needs for the image's runtime state (0 if the header is unreadable). */
size_t snnc_pe_ram_bytes(const uint32_t *image, size_t words);

/* Binds `st` to `image` (`words` 32-bit words) and zeroes the state in `ram` (4-byte aligned,
 * at least snnc_pe_ram_bytes). Checks the header and that every section lies in the image;
 * synapse words are trusted (the host loader validated them). Returns SNNC_OK or SNNC_E_*. */
int snnc_pe_init(const uint32_t *image, size_t words, snnc_pe_state *st, void *ram,
                 size_t ram_bytes);

/* Processes one packet sent at tick `tick - 1`, before snnc_pe_tick(st, tick, ...). */
void snnc_pe_receive(snnc_pe_state *st, uint32_t tick, uint32_t key, uint32_t payload);

/* The LIF neuron update of tick `tick`: spiking neurons are sent (SENDS) and recorded
 * (RECORD) through `io`. Does nothing on a source PE. */
void snnc_pe_tick(snnc_pe_state *st, uint32_t tick, const snnc_pe_io *io);

/* Injects one step of input on a source PE: `values` holds the slice's n values (already
 * quantized); each non-zero value is sent (with payload when PAYLOAD) and recorded. */
void snnc_pe_source(snnc_pe_state *st, const int32_t *values, const snnc_pe_io *io);

/* Exposed for tests: floor(x / 2^s) for 0 <= s <= 62, defined for negative x. */
int64_t snnc_floor_shift(int64_t x, uint32_t s);

/* Exposed for tests: clamp(((x*m + 2^(s-1)) >> s) + zp, lo, hi), exact in 64 bits. */
int32_t snnc_requant(int32_t x, int32_t m, uint32_t s, int32_t zp, int32_t lo, int32_t hi);

#endif /* SNNC_PE_H */
