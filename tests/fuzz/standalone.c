/*
 * standalone.c - a main() for fuzz targets built without libFuzzer.
 *
 * Each argument is a file or a directory of files; every file is passed once
 * to LLVMFuzzerTestOneInput. This turns each fuzz target's seed corpus (and
 * every crash once found and added there) into a regression test run by
 * `make check`, under the sanitizers in the build-asan tree.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, int *count)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("not ok - cannot open %s\n", path);
        return 1;
    }
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            data = realloc(data, cap);
            if (!data)
                abort();
        }
        size_t n = fread(data + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    (*count)++;
    printf("ok %d - %s\n", *count, path);
    return 0;
}

static int run_path(const char *path, int *count)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        printf("not ok - %s does not exist\n", path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path, count);
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char child[4096];
            snprintf(child, sizeof(child), "%s/%s", path, names[i]->d_name);
            failed |= run_path(child, count);
        }
        free(names[i]);
    }
    free(names);
    return failed;
}

int main(int argc, char **argv)
{
    int count = 0, failed = 0;
    for (int i = 1; i < argc; i++)
        failed |= run_path(argv[i], &count);
    printf("1..%d\n", count);
    return failed || count == 0;
}
