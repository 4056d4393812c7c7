/*
 * fuzz-dmg.c - libFuzzer target for the DMG driver's parsing of untrusted
 * image files: the koly trailer, the resource fork and the XML property
 * list's base64 block tables, and the chunks (raw, zlib, bzip2) they point
 * to. The driver is read-only, so only the harness's read-only pass opens
 * it. The harness is fuzz-image.h; the seeds in corpus/dmg/ were made by
 * tests/integration/img/make-dmg.py.
 */
#define FUZZ_FORMAT "dmg"
#include "fuzz-image.h"
