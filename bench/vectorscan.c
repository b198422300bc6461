/* Throughput of Vectorscan (the portable Hyperscan) on llmtrail's built-in rule set, on the
 * scan bench's corpus: the reference point for what a SIMD multi-pattern engine does with the
 * same keywords and patterns. Inputs come from bench/vectorscan_prepare.py; run it through
 * bench/vectorscan.sh.
 *
 *   vectorscan DIR keywords           all keywords as case-insensitive literals, every match
 *   vectorscan DIR patterns [FLAGS]   all patterns that compile; FLAGS: prefilter, single
 *
 * Patterns Vectorscan rejects (syntax it lacks, or too large) are named on stderr (line number
 * in patterns.txt and reason), counted and left out. Each
 * document is scanned in block mode with one scratch space; one warm pass, then RUNS passes
 * (default 3), and the best is reported. */
#include <hs/hs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct doc {
    const char *bytes;
    unsigned int len;
};

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Splits a file into its lines (the buffer is modified in place). */
static char **lines(char *buf, size_t *count) {
    size_t cap = 1024, n = 0;
    char **out = malloc(cap * sizeof *out);
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (n == cap) {
            cap *= 2;
            out = realloc(out, cap * sizeof *out);
        }
        out[n++] = line;
    }
    *count = n;
    return out;
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx) {
    (void)id, (void)from, (void)to, (void)flags;
    ++*(unsigned long long *)ctx;
    return 0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR keywords|patterns [prefilter] [single]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int keywords = strcmp(argv[2], "keywords") == 0;
    unsigned int extra = 0;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "prefilter") == 0) extra |= HS_FLAG_PREFILTER;
        if (strcmp(argv[i], "single") == 0) extra |= HS_FLAG_SINGLEMATCH;
    }
    char path[4096];
    size_t len, count;
    snprintf(path, sizeof path, "%s/%s", dir, keywords ? "keywords.txt" : "patterns.txt");
    char **exprs = lines(read_file(path, &len), &count);

    hs_database_t *db = NULL;
    hs_compile_error_t *err = NULL;
    unsigned int *ids = malloc(count * sizeof *ids);
    unsigned int *flags = malloc(count * sizeof *flags);
    size_t *lens = malloc(count * sizeof *lens);
    size_t kept = 0, rejected = 0;
    for (size_t i = 0; i < count; i++) {
        unsigned int f = keywords ? HS_FLAG_CASELESS : (HS_FLAG_ALLOWEMPTY | extra);
        if (!keywords) {
            hs_database_t *one = NULL;
            if (hs_compile(exprs[i], f, HS_MODE_BLOCK, NULL, &one, &err) != HS_SUCCESS) {
                fprintf(stderr, "pattern %zu rejected: %s\n", i + 1, err->message);
                hs_free_compile_error(err);
                rejected++;
                continue;
            }
            hs_free_database(one);
        }
        exprs[kept] = exprs[i];
        lens[kept] = strlen(exprs[i]);
        ids[kept] = (unsigned int)i;
        flags[kept] = f;
        kept++;
    }
    double t0 = now();
    hs_error_t rc = keywords
        ? hs_compile_lit_multi((const char *const *)exprs, flags, ids, lens, (unsigned int)kept,
                               HS_MODE_BLOCK, NULL, &db, &err)
        : hs_compile_multi((const char *const *)exprs, flags, ids, (unsigned int)kept,
                           HS_MODE_BLOCK, NULL, &db, &err);
    if (rc != HS_SUCCESS) {
        fprintf(stderr, "compile failed: %s\n", err ? err->message : "?");
        return 1;
    }
    double compile_s = now() - t0;

    snprintf(path, sizeof path, "%s/corpus.bin", dir);
    char *corpus = read_file(path, &len);
    size_t cap = 1024, ndocs = 0, total = 0;
    struct doc *docs = malloc(cap * sizeof *docs);
    for (size_t at = 0; at + 4 <= len;) {
        uint32_t n;
        memcpy(&n, corpus + at, 4);
        if (ndocs == cap) {
            cap *= 2;
            docs = realloc(docs, cap * sizeof *docs);
        }
        docs[ndocs++] = (struct doc){corpus + at + 4, n};
        at += 4 + n;
        total += n;
    }

    hs_scratch_t *scratch = NULL;
    if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) {
        fprintf(stderr, "cannot allocate scratch\n");
        return 1;
    }
    const char *runs_env = getenv("RUNS");
    int runs = runs_env ? atoi(runs_env) : 3;
    if (runs < 1) runs = 1;
    double best = 1e30;
    unsigned long long matches = 0;
    for (int run = 0; run <= runs; run++) {
        matches = 0;
        double start = now();
        for (size_t d = 0; d < ndocs; d++) {
            hs_scan(db, docs[d].bytes, docs[d].len, 0, scratch, on_match, &matches);
        }
        double took = now() - start;
        if (run > 0 && took < best) best = took;
    }
    printf("vectorscan %s%s%s: %zu compiled, %zu rejected, compile %.1f s; "
           "%.1f MB/s per core (%.2f s for %.1f MB, %llu matches)\n",
           keywords ? "keywords" : "patterns", (extra & HS_FLAG_PREFILTER) ? " prefilter" : "",
           (extra & HS_FLAG_SINGLEMATCH) ? " single" : "", kept, rejected, compile_s,
           (double)total / best / 1e6, best, (double)total / 1e6, matches);
    return 0;
}
