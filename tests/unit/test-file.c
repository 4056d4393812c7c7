/*
 * Unit tests for util/file: whole-file reads and atomic replacement. The
 * atomicity test runs a reader process that reads the file in a tight loop
 * while the writer replaces it many times with two different large contents;
 * every read must be exactly one of them.
 */
#include "tap.h"
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG (256 * 1024)

static int check_reader(const char *path, const char *a, const char *b)
{
    /* Returns the number of torn reads seen in ~2000 reads. */
    char *data = malloc(BIG * 2);
    int torn = 0;
    for (int i = 0; i < 2000; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = fd_read_all(fd, data, BIG * 2);
        close(fd);
        if (!(n == BIG && (memcmp(data, a, BIG) == 0 || memcmp(data, b, BIG) == 0)))
            torn++;
    }
    free(data);
    return torn;
}

int main(void)
{
    char dir[] = "/tmp/vireo-test-file-XXXXXX";
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    char path[256];
    snprintf(path, sizeof(path), "%s/state.xml", dir);

    struct verr err;
    is_int(file_replace_atomic(path, "first", 5, 0600, &err), 0, "a new file is created");
    struct buf b = BUF_INIT;
    is_int(file_read_all(path, 1024, &b, &err), 0, "it reads back");
    is_str(buf_cstr(&b), "first", "with its contents");
    struct stat st;
    stat(path, &st);
    is_int(st.st_mode & 0777, 0600, "with the requested mode");
    buf_reset(&b);
    is_int(file_read_all(path, 3, &b, &err), -EFBIG, "a size limit is enforced");
    buf_reset(&b);
    is_int(file_read_all("/nonexistent/x", 10, &b, &err), -ENOENT, "a missing file fails");
    is_str(err.msg, "cannot open '/nonexistent/x': No such file or directory",
           "and the error names it");
    char nodir[300];
    snprintf(nodir, sizeof(nodir), "%s/missing/x", dir);
    ok(file_replace_atomic(nodir, "x", 1, 0600, &err) < 0, "replacing in a missing dir fails");

    char *a = malloc(BIG), *c = malloc(BIG);
    memset(a, 'A', BIG);
    memset(c, 'C', BIG);
    file_replace_atomic(path, a, BIG, 0644, &err);
    pid_t pid = fork();
    if (pid == 0)
        _exit(check_reader(path, a, c) ? 1 : 0);
    int failures = 0;
    for (int i = 0; i < 300; i++)
        failures += file_replace_atomic(path, (i & 1) ? a : c, BIG, 0644, &err) != 0;
    int status;
    waitpid(pid, &status, 0);
    is_int(failures, 0, "300 replacements succeed");
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the reader never saw a partial file");

    /* Only state.xml is left: no temporary files linger. */
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 1", dir);
    ok(system(cmd) == 0, "no temporary files are left behind");
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", dir);
    free(a);
    free(c);
    buf_free(&b);
    return tap_done();
}
