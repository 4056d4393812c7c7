/*
 * test-vsh-parse.c - vsh's command grammar: words, quoting, ';' sequences,
 * option binding (named, --opt=value, positional in declaration order) and
 * virsh's error messages for each mistake; scaled sizes.
 */
#include "../tap.h"
#include "tools/vsh/vsh.h"

#include <string.h>

static struct vsh_cmd *parse(const char *line, char *err)
{
    bool failed;
    err[0] = '\0';
    return vsh_parse_string(line, err, 256, &failed);
}

static void expect_error(const char *line, const char *want)
{
    char err[256];
    struct vsh_cmd *cmd = parse(line, err);
    ok(cmd == NULL, "'%s' is rejected", line);
    is_str(err, want, "'%s' gives virsh's message", line);
    vsh_cmd_free(cmd);
}

int main(void)
{
    char err[256];
    struct vsh_cmd *cmd = parse("dominfo test", err);
    ok(cmd && strcmp(cmd->def->name, "dominfo") == 0, "dominfo parsed");
    is_str(vsh_opt_string(cmd, "domain"), "test", "positional binds to --domain");
    vsh_cmd_free(cmd);

    cmd = parse("dominfo --domain=test", err);
    is_str(cmd ? vsh_opt_string(cmd, "domain") : NULL, "test", "--domain=VALUE");
    vsh_cmd_free(cmd);

    cmd = parse("vcpupin test 0 2-3 --live", err);
    ok(cmd != NULL, "vcpupin with positionals parses");
    is_str(vsh_opt_string(cmd, "vcpu"), "0", "second positional is --vcpu");
    is_str(vsh_opt_string(cmd, "cpulist"), "2-3", "third positional is --cpulist");
    ok(vsh_opt_bool(cmd, "live") && !vsh_opt_bool(cmd, "config"), "booleans");
    vsh_cmd_free(cmd);

    cmd = parse("uri; list --all ;domstate --reason test", err);
    ok(cmd && cmd->next && cmd->next->next && !cmd->next->next->next, "three commands");
    if (cmd && cmd->next && cmd->next->next) {
        is_str(cmd->def->name, "uri", "first");
        ok(vsh_opt_bool(cmd->next, "all"), "second has --all");
        ok(vsh_opt_bool(cmd->next->next, "reason"), "third has --reason");
    }
    vsh_cmd_free(cmd);

    cmd = parse("dominfo 'te st'", err);
    is_str(cmd ? vsh_opt_string(cmd, "domain") : NULL, "te st", "single quotes");
    vsh_cmd_free(cmd);
    cmd = parse("dominfo \"a\\\"b\"", err);
    is_str(cmd ? vsh_opt_string(cmd, "domain") : NULL, "a\"b", "double quotes with escape");
    vsh_cmd_free(cmd);
    cmd = parse("dominfo te\\ st # a comment", err);
    is_str(cmd ? vsh_opt_string(cmd, "domain") : NULL, "te st", "backslash and comment");
    vsh_cmd_free(cmd);
    cmd = parse("dominfo 'a;b'", err);
    ok(cmd && !cmd->next, "quoted ';' does not split");
    vsh_cmd_free(cmd);
    cmd = parse("   ", err);
    ok(cmd == NULL && err[0] == '\0', "blank line is no command and no error");
    cmd = parse("dominfo -- --odd", err);
    is_str(cmd ? vsh_opt_string(cmd, "domain") : NULL, "--odd", "-- ends options");
    vsh_cmd_free(cmd);

    cmd = parse("schedinfo test --set weight=1 cap=2", err);
    const char *sets[4];
    is_int(cmd ? vsh_opt_argv(cmd, "set", sets, 4) : -1, 2, "argv option collects the rest");
    vsh_cmd_free(cmd);

    expect_error("\"\"", "unknown command: ''");
    cmd = parse("dominfo ''", err);
    is_str(cmd ? vsh_opt_string(cmd, "domain") : NULL, "", "an empty quoted word is a value");
    vsh_cmd_free(cmd);
    expect_error("nosuch", "unknown command: 'nosuch'");
    expect_error("dominfo", "command 'dominfo' requires <domain> option");
    expect_error("dominfo --bogus test", "command 'dominfo' doesn't support option --bogus");
    expect_error("dominfo test extra", "unexpected data 'extra'");
    expect_error("dumpxml test --xpath", "command 'dumpxml' doesn't support option --xpath");
    expect_error("vcpupin test --vcpu", "expected syntax: --vcpu <number>");
    expect_error("dominfo --domain test --domain test", "option --domain already seen");
    expect_error("uri; nosuch; uri", "unknown command: 'nosuch'");
    expect_error("dominfo 'test", "missing '");
    expect_error("list --all=1", "invalid '=' after option --all");

    char *argv[] = {"dominfo", "te st"};
    bool failed;
    cmd = vsh_parse_argv(2, argv, err, sizeof(err), &failed);
    is_str(cmd ? vsh_opt_string(cmd, "domain") : NULL, "te st", "argv words are verbatim");
    vsh_cmd_free(cmd);
    char *argv2[] = {"uri", ";", "uri"};
    cmd = vsh_parse_argv(3, argv2, err, sizeof(err), &failed);
    ok(!cmd && failed, "';' as its own argv word is data, as in virsh");
    is_str(err, "unexpected data ';'", "and is reported like virsh");

    unsigned long long bytes;
    ok(vsh_parse_scaled("1024", 1024, ~0ull, &bytes) == 0 && bytes == 1048576, "default KiB");
    ok(vsh_parse_scaled("1G", 1024, ~0ull, &bytes) == 0 && bytes == 1073741824ull, "G");
    ok(vsh_parse_scaled("1GiB", 1024, ~0ull, &bytes) == 0 && bytes == 1073741824ull, "GiB");
    ok(vsh_parse_scaled("1GB", 1024, ~0ull, &bytes) == 0 && bytes == 1000000000ull, "GB");
    ok(vsh_parse_scaled("512b", 1024, ~0ull, &bytes) == 0 && bytes == 512, "bytes");
    ok(vsh_parse_scaled("-5", 1024, ~0ull, &bytes) < 0, "negative refused");
    ok(vsh_parse_scaled("abc", 1024, ~0ull, &bytes) < 0, "junk refused");
    ok(vsh_parse_scaled("1Q", 1024, ~0ull, &bytes) < 0, "unknown unit refused");
    ok(vsh_parse_scaled("99999999E", 1024, ~0ull, &bytes) < 0, "overflow refused");
    return tap_done();
}
