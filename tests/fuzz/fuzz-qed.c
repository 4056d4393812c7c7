/*
 * fuzz-qed.c - libFuzzer target for the qed driver's parsing of untrusted
 * image files: QED headers, L1/L2 tables and the need-check repair on open.
 * The harness is fuzz-image.h; seeds are in corpus/qed/.
 */
#define FUZZ_FORMAT "qed"
#include "fuzz-image.h"
