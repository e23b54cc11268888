/* Run inside a container by tests/integration/test_breakouts.py: the CVE-2019-5736 attacker.
 * Usage: exe_poller SECS OUT READY STOP. Until the file STOP exists (at most SECS seconds), opens /proc/N/exe of every process it sees (as a container process
 * would, to catch a host executable while it enters the container), keeps one descriptor per
 * distinct file, and at the end reports each file once:
 *   <dev> <ino> <size> <class> <writable> <link>
 * class: memfd (a sealed copy), container (the link names the same file inside the
 * container), foreign (anything else: a file of the host). writable: 1 when the file could be
 * reopened for writing through its descriptor and a byte written back (the same byte, so
 * nothing changes even then). A last line "done <opens>" tells the test it ran. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX 256
static struct { dev_t dev; ino_t ino; int fd; char link[512]; } seen[MAX];
static int nseen;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 5) return 2;
    double end = now() + atof(argv[1]);
    long opens = 0;
    int self = getpid();
    FILE *ready = fopen(argv[3], "w"); /* tells the test it polls now */
    if (ready) fclose(ready);
    while (now() < end && access(argv[4], F_OK) != 0) {
        DIR *d = opendir("/proc");
        if (!d) return 3;
        struct dirent *e;
        while ((e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid == self) continue;
            char p[64];
            snprintf(p, sizeof p, "/proc/%d/exe", pid);
            int fd = open(p, O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue;
            ++opens;
            char link[512] = "";
            ssize_t n = readlink(p, link, sizeof link - 1);
            if (n > 0) link[n] = 0;
            struct stat st;
            fstat(fd, &st);
            int known = 0;
            for (int i = 0; i < nseen; ++i)
                if (seen[i].dev == st.st_dev && seen[i].ino == st.st_ino) known = 1;
            if (known || nseen == MAX) {
                close(fd);
                continue;
            }
            seen[nseen].dev = st.st_dev;
            seen[nseen].ino = st.st_ino;
            seen[nseen].fd = fd;
            strcpy(seen[nseen].link, link);
            ++nseen;
        }
        closedir(d);
    }
    FILE *out = fopen(argv[2], "w");
    if (!out) return 4;
    for (int i = 0; i < nseen; ++i) {
        struct stat st, there;
        fstat(seen[i].fd, &st);
        const char *cls = "foreign";
        if (strncmp(seen[i].link, "/memfd:", 7) == 0) cls = "memfd";
        else if (stat(seen[i].link, &there) == 0 && there.st_dev == st.st_dev && there.st_ino == st.st_ino)
            cls = "container";
        int writable = 0;
        char p[64], b;
        snprintf(p, sizeof p, "/proc/self/fd/%d", seen[i].fd);
        int w = open(p, O_RDWR | O_CLOEXEC);
        if (w >= 0) {
            if (pread(w, &b, 1, 0) == 1 && pwrite(w, &b, 1, 0) == 1) writable = 1;
            close(w);
        }
        fprintf(out, "%lu %lu %ld %s %d %s\n", (unsigned long)st.st_dev, (unsigned long)st.st_ino,
                (long)st.st_size, cls, writable, seen[i].link);
    }
    fprintf(out, "done %ld\n", opens);
    fclose(out);
    return 0;
}
