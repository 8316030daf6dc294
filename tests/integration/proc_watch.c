// An attacker inside a container (security_exec_test.ts builds it with
// `cc -static`): it scans /proc for processes it has not seen yet and, for
// each, at once tries what a joining runtime must never allow: read its
// environment (looking for the marker the test put in the exec caller's
// environment), open its descriptors beyond 0-2, and open its executable
// (looking for the host's deno binary by device and inode).
//
// usage: proc_watch MARKER DEV:INO COUNT SECONDS
// Watches COUNT new processes or for SECONDS; prints one line per success
// of the attack ("LEAK ...") and a summary line last, then waits to be
// killed.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PID (1 << 22)
#define ROUNDS 400
static unsigned char seen[MAX_PID / 8];
static char buf[1 << 16];

static int test_and_set(long pid) {
  if (pid <= 0 || pid >= MAX_PID) return 1;
  int was = seen[pid / 8] & (1 << (pid % 8));
  seen[pid / 8] |= 1 << (pid % 8);
  return was;
}

int main(int argc, char **argv) {
  if (argc < 5) return 2;
  const char *marker = argv[1];
  unsigned long dev = 0, ino = 0;
  if (sscanf(argv[2], "%lu:%lu", &dev, &ino) != 2) return 2;
  long want = atol(argv[3]);
  time_t end = time(0) + atol(argv[4]);
  setvbuf(stdout, 0, _IOLBF, 0);
  long checked = 0, environ_read = 0, leaks = 0, scans = 0;
  int first = 1;
  while (checked < want && time(0) < end) {
    DIR *d = opendir("/proc");
    if (!d) return 3;
    struct dirent *e;
    while ((e = readdir(d))) {
      long pid = atol(e->d_name);
      if (pid <= 0 || test_and_set(pid) || first || pid == getpid()) continue;
      checked++;
      // The dangerous moments are short: hammer each new process for a while.
      int leaked_env = 0, leaked_exe = 0, read_env = 0;
      unsigned long long leaked_fds = 0;
      for (int round = 0; round < ROUNDS; round++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/environ", pid);
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
          ssize_t n = read(fd, buf, sizeof buf - 1);
          close(fd);
          if (n > 0) {
            read_env = 1;
            if (!leaked_env && memmem(buf, (size_t)n, marker, strlen(marker))) {
              leaked_env = 1;
              leaks++;
              printf("LEAK environ of pid %ld holds the marker\n", pid);
            }
          }
        }
        snprintf(path, sizeof path, "/proc/%ld/exe", pid);
        fd = open(path, O_RDONLY);
        if (fd >= 0) {
          struct stat st;
          if (!leaked_exe && fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
            leaked_exe = 1;
            leaks++;
            printf("LEAK exe of pid %ld is the host's deno binary\n", pid);
          }
          close(fd);
        }
        for (int k = 3; k < 64; k++) {
          if (leaked_fds & (1ULL << k)) continue;
          snprintf(path, sizeof path, "/proc/%ld/fd/%d", pid, k);
          fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
          if (fd < 0) continue;
          char target[256] = "";
          snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
          ssize_t n = readlink(path, target, sizeof target - 1);
          if (n > 0) target[n] = 0;
          close(fd);
          leaked_fds |= 1ULL << k;
          leaks++;
          printf("LEAK fd %d of pid %ld opened: %s\n", k, pid, target);
        }
      }
      environ_read += read_env;
    }
    closedir(d);
    first = 0;
    scans++;
  }
  printf("checked %ld new processes, read %ld environments, %ld scans, %ld leaks\n", checked,
         environ_read, scans, leaks);
  // Stay, so that the last exec'd command is not ended by our exit.
  for (;;) pause();
}
