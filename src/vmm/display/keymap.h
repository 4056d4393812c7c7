/*
 * keymap.h - the keys of a PC keyboard (US layout) in every numbering the
 * display's clients and the guest's keyboards speak: QMP send-key's qcode
 * names, qnums (XT scan code set 1, E0-prefixed keys as 0x80 | code: RFB's
 * QEMU extended key event and vireo-vmm's internal key number), X keysyms
 * (RFB key events), PS/2 scan code set 2, and USB HID usages.
 */
#ifndef VIREO_VMM_DISPLAY_KEYMAP_H
#define VIREO_VMM_DISPLAY_KEYMAP_H

#include <stdint.h>

#define QNUM_PAUSE 0xc6 /* its scan codes have no break, see keymap.c */

/* The qnum of a qcode name ("ctrl", "alt", "delete", "a"...), or 0. */
unsigned keymap_qcode_to_qnum(const char *qcode);
/* The qnum an X keysym is typed with on a US keyboard (shifted symbols give their
 * unshifted key: the client sends Shift itself), or 0. */
unsigned keymap_keysym_to_qnum(uint32_t keysym);
/* PS/2 scan code set 2 of a qnum (the byte after E0 for extended keys), or 0. */
unsigned keymap_qnum_to_set2(unsigned qnum);
/* USB HID keyboard usage (page 7) of a qnum, or 0. */
unsigned keymap_qnum_to_hid(unsigned qnum);

#endif
