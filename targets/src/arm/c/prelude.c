/* Floats: never contract a*b+c into a fused multiply-add where the reference rounds both; the
 * float dense layer's dot product is fused on purpose (the reference accumulates with fma):
 * the FPU's VFMA on Cortex-M4F/M7, C99 fmaf elsewhere. */
#if defined(__ARM_FEATURE_FMA) || defined(__FP_FAST_FMAF)
#define SNNC_FMAF(a, b, c) __builtin_fmaf((a), (b), (c))
#else
#include <math.h>
#define SNNC_FMAF(a, b, c) fmaf((a), (b), (c))
#endif
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Kernels stay separate functions that see their buffers only through their parameters: GCC
 * must not specialise them on the constant arena addresses the entry passes (GCC 12's IPA
 * constant propagation through the restrict parameters miscompiles the arena hand-over). */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define SNNC_NOINLINE __attribute__((noipa))
#elif defined(__GNUC__)
#define SNNC_NOINLINE __attribute__((noinline))
#else
#define SNNC_NOINLINE
#endif
#if defined(__GNUC__)
#define SNNC_ALIGNED __attribute__((aligned(16)))
#else
#define SNNC_ALIGNED
#endif

/* Dual 16-bit multiply-accumulate (SMLAD) on cores with the DSP extension; define
 * SNNC_PORTABLE to force the plain C loops (the results are identical). */
#if defined(__ARM_FEATURE_SIMD32) && !defined(SNNC_PORTABLE)
#include <arm_acle.h>
#define SNNC_SIMD32 1
#else
#define SNNC_SIMD32 0
#endif

/* Round to nearest, ties to even, without libm: adding and subtracting 2^23 leaves the integer
 * part in the default rounding mode; |v| >= 2^23, infinities and NaN are returned unchanged. */
static inline float snnc_rne(float v)
{
    float a = v < 0.0f ? -v : v;
    float r;
    if (!(a < 8388608.0f)) {
        return v;
    }
    r = (a + 8388608.0f) - 8388608.0f;
    return v < 0.0f ? -r : r;
}

/* Bit counts of each byte of v (SWAR: 2-, 4-, then 8-bit partial sums). */
static inline uint32_t snnc_pop_bytes(uint32_t v)
{
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    return (v + (v >> 4)) & 0x0F0F0F0Fu;
}

/* Sum of the four bytes of v (each up to 255: byte counts of up to 31 words). */
static inline uint32_t snnc_sum_bytes(uint32_t v)
{
#if SNNC_SIMD32
    return __usada8(v, 0u, 0u);
#else
    v = (v & 0x00FF00FFu) + ((v >> 8) & 0x00FF00FFu);
    return (v + (v >> 16)) & 0xFFFFu;
#endif
}

/* One bit at a time (the baseline SWAR is measured against). */
static inline uint32_t snnc_pop_naive(uint32_t v)
{
    uint32_t c = 0;
    int b;
    for (b = 0; b < 32; b++) {
        c += (v >> b) & 1u;
    }
    return c;
}

/* Integer rescale: (p + 2^(s-1)) >> s without overflowing 64 bits, s >= 1. */
static inline int64_t snnc_round_shift(int64_t p, unsigned s)
{
    unsigned t = s - 1u;
    if (t > 63u) {
        t = 63u;
    }
    return ((p >> t) + 1) >> 1;
}

/* 4-byte unaligned load. */
static inline uint32_t snnc_load4(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Rotate right by 8: the odd bytes move to the even positions SXTB16/UXTB16 extract. */
static inline uint32_t snnc_ror8(uint32_t v)
{
    return (v >> 8) | (v << 24);
}

/* Product of two integers of at most 32 bits, wrapped to 32 bits. */
#define SNNC_MUL(a, b) ((uint32_t)(int32_t)(a) * (uint32_t)(int32_t)(b))
