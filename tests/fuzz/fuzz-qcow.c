/*
 * fuzz-qcow.c - libFuzzer target for the qcow (version 1) driver's parsing
 * of untrusted image files: headers, L1/L2 tables and compressed clusters.
 * The driver is read-only, so only the harness's read-only pass opens it.
 * The harness is fuzz-image.h; seeds are in corpus/qcow/.
 */
#define FUZZ_FORMAT "qcow"
#include "fuzz-image.h"
