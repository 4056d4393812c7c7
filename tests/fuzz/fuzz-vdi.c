/*
 * fuzz-vdi.c - libFuzzer target for the vdi driver's parsing of untrusted
 * image files: VDI headers and block maps.
 * The harness is fuzz-image.h; seeds are in corpus/vdi/.
 */
#define FUZZ_FORMAT "vdi"
#include "fuzz-image.h"
