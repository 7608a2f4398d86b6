/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standalone driver for fuzz targets when the build has no libFuzzer (gcc, or
 * -Dfuzzing=none): replays files through LLVMFuzzerTestOneInput so every corpus runs as an
 * ordinary test (as libvips' and sqlite's fuzzcheck do). Arguments are files or directories
 * (their regular files, one level deep, in name order). Each input runs in a child process,
 * so one crash or failed check does not hide the others: the child's death is reported with
 * the file's name and counted. Each input is copied into a buffer of exactly its size, so
 * AddressSanitizer sees any read past its end. Prints "N passed, M failed"; exits non-zero
 * when anything failed or nothing was found.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return -1;
    }
    long n = ftell(f);
    rewind(f);
    if (n < 0) {
        fclose(f);
        return -1;
    }
    /* malloc(0) may return NULL; keep a valid pointer for empty inputs */
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "replay: %s: short read\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        free(buf);
        return -1;
    }
    if (pid == 0) {
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
        exit(0);
    }
    free(buf);
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st))
        fprintf(stderr, "replay: %s: killed by signal %d\n", path, WTERMSIG(st));
    else
        fprintf(stderr, "replay: %s: exit status %d\n", path, WEXITSTATUS(st));
    return -1;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    unsigned passed = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            failed++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            run_file(argv[i]) == 0 ? passed++ : failed++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) {
            failed++;
            continue;
        }
        char **names = NULL;
        size_t nn = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            if (nn == cap) {
                cap = cap ? cap * 2 : 64;
                char **grown = realloc(names, cap * sizeof *names);
                if (!grown)
                    abort();
                names = grown;
            }
            size_t len = strlen(argv[i]) + strlen(e->d_name) + 2;
            names[nn] = malloc(len);
            if (!names[nn])
                abort();
            snprintf(names[nn], len, "%s/%s", argv[i], e->d_name);
            nn++;
        }
        closedir(d);
        qsort(names, nn, sizeof *names, name_cmp);
        for (size_t k = 0; k < nn; k++) {
            if (stat(names[k], &st) == 0 && S_ISREG(st.st_mode))
                run_file(names[k]) == 0 ? passed++ : failed++;
            free(names[k]);
        }
        free(names);
    }
    printf("%u passed, %u failed\n", passed, failed);
    return failed || passed == 0 ? 1 : 0;
}
