/* snnc harness driver (host and Cortex-M under QEMU semihosting).
 * usage: prog N T [skip]
 * Reads in.bin (N x T x the inputs' bytes, sample-major, step within sample), for each sample
 * calls snnc_model_init() then T times snnc_model_run/step, and writes every step's outputs to
 * out.bin. With "skip" the model is not called (same I/O): the instruction-count baseline.
 * Exit code 0 on success, 2 bad arguments, 3 file error, 4 short input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#if SNNC_NUM_INPUTS > 4 || SNNC_NUM_OUTPUTS > 4
#error "the driver handles up to 4 inputs and 4 outputs"
#endif

#define WORDS(b) (((b) + 3) / 4 + 1)
static uint32_t in0[WORDS(SNNC_INPUT0_BYTES)];
#if SNNC_NUM_INPUTS > 1
static uint32_t in1[WORDS(SNNC_INPUT1_BYTES)];
#endif
#if SNNC_NUM_INPUTS > 2
static uint32_t in2[WORDS(SNNC_INPUT2_BYTES)];
#endif
#if SNNC_NUM_INPUTS > 3
static uint32_t in3[WORDS(SNNC_INPUT3_BYTES)];
#endif
static uint32_t out0[WORDS(SNNC_OUTPUT0_BYTES)];
#if SNNC_NUM_OUTPUTS > 1
static uint32_t out1[WORDS(SNNC_OUTPUT1_BYTES)];
#endif
#if SNNC_NUM_OUTPUTS > 2
static uint32_t out2[WORDS(SNNC_OUTPUT2_BYTES)];
#endif
#if SNNC_NUM_OUTPUTS > 3
static uint32_t out3[WORDS(SNNC_OUTPUT3_BYTES)];
#endif

static void *const ins[] = {
    in0,
#if SNNC_NUM_INPUTS > 1
    in1,
#endif
#if SNNC_NUM_INPUTS > 2
    in2,
#endif
#if SNNC_NUM_INPUTS > 3
    in3,
#endif
};
static const size_t in_bytes[] = {
    SNNC_INPUT0_BYTES,
#if SNNC_NUM_INPUTS > 1
    SNNC_INPUT1_BYTES,
#endif
#if SNNC_NUM_INPUTS > 2
    SNNC_INPUT2_BYTES,
#endif
#if SNNC_NUM_INPUTS > 3
    SNNC_INPUT3_BYTES,
#endif
};
static void *const outs[] = {
    out0,
#if SNNC_NUM_OUTPUTS > 1
    out1,
#endif
#if SNNC_NUM_OUTPUTS > 2
    out2,
#endif
#if SNNC_NUM_OUTPUTS > 3
    out3,
#endif
};
static const size_t out_bytes[] = {
    SNNC_OUTPUT0_BYTES,
#if SNNC_NUM_OUTPUTS > 1
    SNNC_OUTPUT1_BYTES,
#endif
#if SNNC_NUM_OUTPUTS > 2
    SNNC_OUTPUT2_BYTES,
#endif
#if SNNC_NUM_OUTPUTS > 3
    SNNC_OUTPUT3_BYTES,
#endif
};

int main(int argc, char **argv)
{
    long n, t, s, k;
    int i, skip;
    FILE *fi;
    FILE *fo;
    if (argc < 3) {
        return 2;
    }
    n = strtol(argv[1], NULL, 10);
    t = strtol(argv[2], NULL, 10);
    skip = argc > 3 && strcmp(argv[3], "skip") == 0;
    if (n < 0 || t < 1) {
        return 2;
    }
    fi = fopen("in.bin", "rb");
    fo = fopen("out.bin", "wb");
    if (fi == NULL || fo == NULL) {
        return 3;
    }
    for (s = 0; s < n; s++) {
        if (!skip) {
            snnc_model_init();
        }
        for (k = 0; k < t; k++) {
            for (i = 0; i < SNNC_NUM_INPUTS; i++) {
                if (in_bytes[i] > 0 && fread(ins[i], 1, in_bytes[i], fi) != in_bytes[i]) {
                    return 4;
                }
            }
            if (!skip) {
#if SNNC_STATEFUL
                snnc_model_step((const void *const *)ins, outs);
#else
                snnc_model_run((const void *const *)ins, outs);
#endif
            }
            for (i = 0; i < SNNC_NUM_OUTPUTS; i++) {
                if (out_bytes[i] > 0 && fwrite(outs[i], 1, out_bytes[i], fo) != out_bytes[i]) {
                    return 3;
                }
            }
        }
    }
    if (fclose(fo) != 0) {
        return 3;
    }
    fclose(fi);
    return 0;
}
