/*
 * fuzz-vhdx.c - libFuzzer target for the vhdx driver's parsing of untrusted
 * image files: VHDX headers, region tables, metadata, BATs and logs (replayed on the writable
 * open). The harness is fuzz-image.h; seeds are in corpus/vhdx/.
 */
#define FUZZ_FORMAT "vhdx"
#include "fuzz-image.h"
