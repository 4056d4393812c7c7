/* Unit tests for util/error: messages, errno text, prefixes, truncation. */
#include "tap.h"
#include "util/error.h"

#include <errno.h>

int main(void)
{
    struct verr err;
    verr_clear(&err);
    is_str(verr_msg(&err), "unknown error", "an empty error has a placeholder message");

    int r = verr_set(&err, EINVAL, "bad size '%s'", "12x");
    is_int(r, -EINVAL, "verr_set returns the negative code");
    is_int(err.code, EINVAL, "the code is stored positive");
    is_str(err.msg, "bad size '12x'", "the message is formatted");

    r = verr_prefix(&err, "failed to open '%s'", "disk.img");
    is_int(r, -EINVAL, "verr_prefix keeps the code");
    is_str(err.msg, "failed to open 'disk.img': bad size '12x'", "the prefix comes first");

    verr_errno(&err, ENOENT, "cannot open '%s'", "x");
    is_str(err.msg, "cannot open 'x': No such file or directory", "errno text is appended");

    is_int(verr_set(NULL, EIO, "ignored"), -EIO, "a NULL error still returns the code");
    is_int(verr_set(&err, -ENOSPC, "neg"), -ENOSPC, "a negative code is accepted");

    char big[2000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    verr_set(&err, EINVAL, "%s", big);
    is_int(strlen(err.msg), VERR_MSG_MAX - 1, "a long message is truncated to the buffer");
    ok(strcmp(err.msg + VERR_MSG_MAX - 4, "...") == 0, "a truncated message ends in ...");
    return tap_done();
}
