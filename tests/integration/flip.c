// A test probe for security_paths_test.ts, built with `cc -static`: swaps two
// names (a directory and a symlink out of the container) with
// renameat2(RENAME_EXCHANGE) until a stop file appears, so that a runtime
// resolving a path and then using it again by name would sometimes follow
// the link. Never part of the runtime.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  long swaps = 0;
  while (access(argv[3], F_OK) != 0) {
    if (renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) == 0) swaps++;
  }
  printf("%ld\n", swaps);
  return swaps > 0 ? 0 : 1;
}
