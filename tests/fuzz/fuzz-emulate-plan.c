/*
 * fuzz-emulate-plan.c - emulate_plan (src/vmm/kvm/emulate.c) on arbitrary
 * instruction bytes, as read from guest memory after an emulation failure:
 * the first 6 bytes are CR0's low bits, the x87 status word and the control
 * word, the rest the code. The plan must be one it can carry out: a known
 * instruction with a length within the bytes given (0 exactly when it
 * raises a fault, which leaves RIP on the instruction), and a vector that
 * is none, #BP, #NM or #MF.
 */
#include "vmm/kvm/emulate.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    uint16_t cr0, fsw, fcw;
    memcpy(&cr0, data, 2);
    memcpy(&fsw, data + 2, 2);
    memcpy(&fcw, data + 4, 2);
    struct emulate_plan p = emulate_plan(data + 6, size - 6, cr0, fsw, fcw);
    if (p.insn == EMULATE_NONE)
        return 0;
    bool fault = p.vector == EMULATE_VECTOR_NM || p.vector == EMULATE_VECTOR_MF;
    if (p.length > size - 6 || (p.length == 0) != fault ||
        (p.vector != -1 && p.vector != EMULATE_VECTOR_BP && p.vector != EMULATE_VECTOR_NM &&
         p.vector != EMULATE_VECTOR_MF))
        abort();
    return 0;
}
