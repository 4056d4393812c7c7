/*
 * pirq.c - see pirq.h.
 */
#include "vmm/dev/pirq.h"
#include "vmm/vm.h"

#include <string.h>

static int isa_irq(uint8_t route)
{
    /* Bit 7 disables routing; ISA interrupts 0-2, 8 and 13 are reserved by the chipsets. */
    unsigned irq = route & 0x0f;
    if (route & 0x80 || irq < 3 || irq == 8 || irq == 13)
        return -1;
    return (int)irq;
}

void pirq_init(struct pirq_router *r, struct vm *vm, unsigned nr)
{
    memset(r, 0, sizeof(*r));
    r->vm = vm;
    r->nr = nr;
    memset(r->route, 0x80, sizeof(r->route));
    pthread_mutex_init(&r->lock, NULL);
}

void pirq_destroy(struct pirq_router *r)
{
    pthread_mutex_destroy(&r->lock);
}

/* Lock held: ISA interrupt irq gains (+1) or loses (-1) a high PIRQ. */
static void isa_adjust(struct pirq_router *r, int irq, int delta)
{
    if (irq < 0)
        return;
    unsigned before = r->isa_users[irq];
    r->isa_users[irq] = (unsigned)((int)before + delta);
    if ((before == 0) != (r->isa_users[irq] == 0))
        vm_set_irq(r->vm, (unsigned)irq, r->isa_users[irq] != 0);
}

void pirq_set(struct pirq_router *r, unsigned n, bool level)
{
    if (n >= r->nr)
        return;
    pthread_mutex_lock(&r->lock);
    unsigned before = r->users[n];
    if (level)
        r->users[n]++;
    else if (r->users[n])
        r->users[n]--;
    if ((before == 0) != (r->users[n] == 0)) {
        bool high = r->users[n] != 0;
        vm_set_irq(r->vm, PIRQ_GSI_BASE + n, high);
        isa_adjust(r, isa_irq(r->route[n]), high ? 1 : -1);
    }
    pthread_mutex_unlock(&r->lock);
}

void pirq_set_route(struct pirq_router *r, unsigned n, uint8_t v)
{
    if (n >= r->nr)
        return;
    pthread_mutex_lock(&r->lock);
    if (r->users[n] && isa_irq(v) != isa_irq(r->route[n])) {
        isa_adjust(r, isa_irq(r->route[n]), -1);
        isa_adjust(r, isa_irq(v), 1);
    }
    r->route[n] = v;
    pthread_mutex_unlock(&r->lock);
}

void pirq_reset(struct pirq_router *r)
{
    for (unsigned n = 0; n < r->nr; n++)
        pirq_set_route(r, n, 0x80);
}
