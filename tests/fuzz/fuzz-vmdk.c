/*
 * fuzz-vmdk.c - libFuzzer target for the vmdk driver's parsing of untrusted
 * image files: VMDK sparse extents, stream-optimized grains and text descriptors.
 * The harness is fuzz-image.h; seeds are in corpus/vmdk/.
 */
#define FUZZ_FORMAT "vmdk"
#include "fuzz-image.h"
