/*
 * test-emulate.c - the completion plans of vmm/kvm/emulate.c: int3 moves RIP
 * past itself and raises #BP; fwait is a no-op, or raises #NM (CR0.TS and MP)
 * or #MF (an unmasked x87 exception pending, CR0.NE) without moving RIP; any
 * other instruction, a prefixed one, or no bytes at all is left alone.
 */
#include "../tap.h"
#include "vmm/kvm/emulate.h"

#define CR0_PE      0x1ull
#define CR0_MP      0x2ull
#define CR0_TS      0x8ull
#define CR0_NE      0x20ull
#define CR0_PG      0x80000000ull
#define FCW_DEFAULT 0x37f /* every x87 exception masked */

static void is_plan(struct emulate_plan p, enum emulate_insn insn, unsigned length, int vector,
                    const char *what)
{
    ok(p.insn == insn && p.length == length && p.vector == vector, "%s", what);
    if (p.insn != insn || p.length != length || p.vector != vector)
        printf("#   got insn %d length %u vector %d, want %d %u %d\n", p.insn, p.length, p.vector,
               insn, length, vector);
}

int main(void)
{
    const uint64_t cr0 = CR0_PE | CR0_NE | CR0_PG | CR0_MP;
    const uint8_t int3[] = {0xcc, 0x90, 0x90};
    const uint8_t fwait[] = {0x9b};
    const uint8_t fwait_fninit[] = {0x9b, 0xdb, 0xe3}; /* finit = fwait; fninit */

    is_plan(emulate_plan(int3, sizeof(int3), cr0, 0, FCW_DEFAULT), EMULATE_INT3, 1,
            EMULATE_VECTOR_BP, "int3: RIP moves past it, #BP is raised (a trap)");
    is_plan(emulate_plan(int3, 1, 0x10, 0, FCW_DEFAULT), EMULATE_INT3, 1, EMULATE_VECTOR_BP,
            "int3 in real mode: the same");
    is_plan(emulate_plan(fwait, 1, cr0, 0, FCW_DEFAULT), EMULATE_FWAIT, 1, -1,
            "fwait with nothing pending: a no-op, RIP moves on");
    is_plan(emulate_plan(fwait_fninit, 3, cr0, 0, FCW_DEFAULT), EMULATE_FWAIT, 1, -1,
            "finit's fwait half alone is completed (fninit is left to KVM)");
    is_plan(emulate_plan(fwait, 1, cr0 | CR0_TS, 0, FCW_DEFAULT), EMULATE_FWAIT, 0,
            EMULATE_VECTOR_NM, "fwait with CR0.TS and CR0.MP: #NM, RIP stays (a fault)");
    is_plan(emulate_plan(fwait, 1, (cr0 | CR0_TS) & ~CR0_MP, 0, FCW_DEFAULT), EMULATE_FWAIT, 1, -1,
            "fwait with CR0.TS but not CR0.MP: no #NM");
    is_plan(emulate_plan(fwait, 1, cr0, 0x0081 /* IE, ES */, FCW_DEFAULT), EMULATE_FWAIT, 1, -1,
            "fwait with a masked exception flag set: a no-op");
    is_plan(emulate_plan(fwait, 1, cr0, 0x0081, FCW_DEFAULT & ~1u), EMULATE_FWAIT, 0,
            EMULATE_VECTOR_MF, "fwait with an unmasked invalid-operation flag: #MF, RIP stays");
    is_plan(emulate_plan(fwait, 1, cr0 & ~CR0_NE, 0x0004, FCW_DEFAULT & ~4u), EMULATE_NONE, 0, -1,
            "fwait with a pending exception and CR0.NE clear (FERR#): not completed");

    const uint8_t xrstor[] = {0x48, 0x0f, 0xae, 0x2f};
    const uint8_t popcnt[] = {0xf3, 0x48, 0x0f, 0xb8, 0xc7};
    const uint8_t prefixed_int3[] = {0x66, 0xcc};
    const uint8_t int_imm3[] = {0xcd, 0x03};
    is_plan(emulate_plan(xrstor, sizeof(xrstor), cr0, 0, FCW_DEFAULT), EMULATE_NONE, 0, -1,
            "xrstor is not completed");
    is_plan(emulate_plan(popcnt, sizeof(popcnt), cr0, 0, FCW_DEFAULT), EMULATE_NONE, 0, -1,
            "popcnt is not completed");
    is_plan(emulate_plan(prefixed_int3, 2, cr0, 0, FCW_DEFAULT), EMULATE_NONE, 0, -1,
            "a prefixed int3 is not completed");
    is_plan(emulate_plan(int_imm3, 2, cr0, 0, FCW_DEFAULT), EMULATE_NONE, 0, -1,
            "int 3 (CD 03) is not completed");
    is_plan(emulate_plan(int3, 0, cr0, 0, FCW_DEFAULT), EMULATE_NONE, 0, -1,
            "no instruction bytes: nothing is completed");
    return tap_done();
}
