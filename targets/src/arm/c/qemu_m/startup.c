/* Minimal Cortex-M4 startup for QEMU mps2-an386: vector table, FPU enable, copy .data, then
 * newlib's _start (rdimon.specs: it zeroes .bss, fetches argv over semihosting, calls main and
 * passes main's return value to the host through semihosting exit). */
#include <stdint.h>

extern uint32_t __stack_top;
extern uint32_t __etext, __data_start__, __data_end__;
extern void _start(void);
void snnc_reset(void);
void snnc_fault(void);

void snnc_reset(void)
{
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    uint32_t *src = &__etext;
    uint32_t *dst = &__data_start__;
    *cpacr |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    while (dst < &__data_end__) {
        *dst++ = *src++;
    }
    _start();
    for (;;) {
    }
}

void snnc_fault(void)
{
    /* semihosting SYS_EXIT with ADP_Stopped_RunTimeError: QEMU exits with a failure code */
    register uint32_t op __asm__("r0") = 0x18u;
    register uint32_t arg __asm__("r1") = 0x20023u;
    __asm__ volatile("bkpt 0xab" : : "r"(op), "r"(arg) : "memory");
    for (;;) {
    }
}

/* Initial stack pointer, then the 15 exception handlers of the Cortex-M. */
struct snnc_vectors {
    uint32_t *sp;
    void (*handlers[15])(void);
};

__attribute__((section(".isr_vector"), used)) static const struct snnc_vectors vectors = {
    &__stack_top,
    {snnc_reset, snnc_fault, snnc_fault, snnc_fault, snnc_fault, snnc_fault, 0, 0, 0, 0, snnc_fault,
     snnc_fault, 0, snnc_fault, snnc_fault},
};
