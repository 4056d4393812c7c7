/*
 * fuzz-vpc.c - libFuzzer target for the vpc driver's parsing of untrusted
 * image files: VHD footers, dynamic headers and block allocation tables.
 * The harness is fuzz-image.h; seeds are in corpus/vpc/.
 */
#define FUZZ_FORMAT "vpc"
#include "fuzz-image.h"
