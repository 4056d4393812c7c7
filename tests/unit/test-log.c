/* Unit tests for util/log: level filtering, prefixes and the rate limiter. */
#include "tap.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>

int main(void)
{
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    log_set_stream(mem);
    log_set_program("vireo-test");
    log_set_level(LOG_WARN);
    log_info("hidden %d", 1);
    log_warn("shown %d", 2);
    log_debug("hidden too");
    log_set_level(LOG_DEBUG);
    log_debug("now shown");
    fflush(mem);
    is_str(text, "vireo-test: warning: shown 2\nvireo-test: debug: now shown\n",
           "only messages at or above the level are written, with prefixes");

    enum log_level level;
    ok(log_level_parse("debug", &level) == 0 && level == LOG_DEBUG, "'debug' parses");
    ok(log_level_parse("2", &level) == 0 && level == LOG_INFO, "'2' parses");
    is_int(log_level_parse("loud", &level), -EINVAL, "an unknown level is refused");

    struct ratelimit rl = RATELIMIT_INIT(1000, 3);
    int allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += ratelimit_allow(&rl, 1000000 + (uint64_t)i);
    is_int(allowed, 3, "a burst is cut at the limit");
    is_int(rl.suppressed, 97, "the rest are counted");
    ok(ratelimit_allow(&rl, 1000000 + 2000000000ull), "a new window allows again");
    fflush(mem);
    ok(strstr(text, "97 messages suppressed") != NULL, "suppressed messages are reported");
    log_set_stream(NULL);
    fclose(mem);
    free(text);
    return tap_done();
}
