/* The high-memory window of paging.h. */
#include "paging.h"

extern uint64_t pdpt[512];

static uint64_t window_pd[512] __attribute__((aligned(4096)));

bool paging_map_high(uint64_t addr)
{
    uint64_t gib = addr >> 30;
    if (gib < 4)
        return true;
    if (gib >= 512)
        return false;
    for (unsigned i = 4; i < 512; i++)
        pdpt[i] = 0;
    for (uint64_t i = 0; i < 512; i++)
        window_pd[i] = (gib << 30) | (i << 21) | 0x83;
    pdpt[gib] = (uint64_t)(uintptr_t)window_pd | 0x3;
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
    return true;
}
