/* Unit tests for util/cpulist: libvirt's CPU list syntax both ways. */
#include "tap.h"
#include "util/cpulist.h"

#include <errno.h>
#include <stdlib.h>

static void roundtrip(const char *in, size_t max, const char *want)
{
    struct bitmap *map = NULL;
    struct verr err;
    int r = cpulist_parse(in, max, &map, &err);
    if (!ok(r == 0, "'%s' parses", in)) {
        tap_diag("error: %s", err.msg);
        return;
    }
    struct buf out = BUF_INIT;
    cpulist_format(map, &out);
    is_str(buf_cstr(&out), want, "'%s' formats as '%s'", in, want);
    buf_free(&out);
    bitmap_free(map);
}

static void refused(const char *in, size_t max, int code, const char *msg)
{
    struct bitmap *map = NULL;
    struct verr err;
    verr_clear(&err);
    int r = cpulist_parse(in, max, &map, &err);
    is_int(r, -code, "'%s' is refused", in);
    is_str(err.msg, msg, "'%s' error message", in);
    ok(map == NULL, "'%s' leaves no bitmap", in);
}

int main(void)
{
    roundtrip("0-3,^1", 8, "0,2-3");
    roundtrip("^1,0-3", 8, "0,2-3");
    roundtrip("7-12", 16, "7-12");
    roundtrip("1-3,5", 8, "1-3,5");
    roundtrip("5,1-3", 8, "1-3,5");
    roundtrip(" 0 , 2 ", 4, "0,2");
    roundtrip("0-3,^0-3", 4, "");
    roundtrip("3", 4, "3");

    struct bitmap *map;
    cpulist_parse("0-3,^1", 8, &map, NULL);
    ok(bitmap_test(map, 0) && !bitmap_test(map, 1) && bitmap_test(map, 2) && bitmap_test(map, 3),
       "0-3,^1 is {0,2,3}");
    is_int(bitmap_count(map), 3, "three CPUs are set");
    bitmap_free(map);

    refused("3-1", 8, EINVAL, "invalid CPU range '3-1': end below start");
    refused("a", 8, EINVAL, "invalid CPU number 'a' in element 'a'");
    refused("0-", 8, EINVAL, "invalid CPU number '' in element '0-'");
    refused("8", 8, ERANGE, "CPU 8 in element '8' is beyond the maximum 7");
    refused("0-9", 8, ERANGE, "CPU 9 in element '0-9' is beyond the maximum 7");
    refused("1,,2", 8, EINVAL, "empty element in CPU list '1,,2'");
    refused("", 8, EINVAL, "empty element in CPU list ''");
    refused("-1", 8, EINVAL, "invalid CPU number '' in element '-1'");
    refused("^", 8, EINVAL, "invalid CPU number '' in element '^'");
    return tap_done();
}
