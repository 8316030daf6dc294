// The monitor of one detached container (`run -d`), a small static program
// in place of a second Deno process (about 47 MB each): it clones the
// container itself (mc_spawn of trampoline.c, so it is the container's
// parent and the container's parent-death signal fires when it dies),
// holds the container's stdout and stderr pipes (or its pty master), writes
// them to a rotated log, serves an attach socket for a container with a
// tty, waits for the exit, writes the exit status into the reserved exit
// record (in place: pwrite needs no new block on a full disk), then execs
// `minicontainer __cleanup ID` for everything else (state, cgroups, restart
// policy). conmon (podman) is the model; this is a much smaller one.
//
// Usage: mcmonitor TTY EXIT_FILE LOG MAX_SIZE MAX_FILE OOM_FILE ATTACH NET_LOCK -- CLEANUP...
//   TTY: 1 with a pty, 0 with pipes, 2 with pipes and a stdin pipe that
//   attach clients write to (create -i); OOM_FILE, ATTACH, NET_LOCK: "-" for none.
//        mcmonitor --tee LOG MAX_SIZE MAX_FILE (a foreground container's log: tee_main)
//   NET_LOCK: the container network's owner lock (lib/net/attach.ts): the
//   launcher holds it while it attaches; the monitor waits for it once the
//   launcher is done, and holds it while the container runs.
// File descriptors the launcher hands over:
//   3 the control socket to the launcher (protocol below)
//   4 with pipes: the read end of stdout's pipe; with a tty: the socket on
//     which the container sends its pty master
//   5 with pipes: the read end of stderr's pipe
//   6, 7 the container's ends (the plan names them; closed here once cloned)
//   TTY 2: 8 the write end of the container's stdin pipe, 9 its read end (the
//   container's, closed here once cloned); otherwise copies of 10
//   10 the sealed memfd of the exec helper (ffi/exec_helper.c) the plan
//   executes the command through, closed here once cloned
// Attach clients are greeted (greet()) with where the log stands and the
// terminal's unfinished line, then get what the container writes.
// With a pty, a second socket beside ATTACH (ATTACH.winsize) takes window
// sizes: fixed 8-byte struct winsize records (see struct sizer).
// Control protocol (little-endian): the launcher sends {u64 clone flags,
// u64 plan address, u64 plan bytes, u32 ops, u32 0} and the plan, laid out
// for that address (ffi/plan.ts encodes it for a given base); the monitor
// maps it there, clones, answers {i32 pid or -errno}; the launcher
// (id maps, cgroup) answers one byte, 1 to release, 0 to kill; the monitor
// answers the child's error record {i32 op, i32 errno}, or {-1, 0} once the
// command runs. The launcher then records the container, says so with one
// byte (1) and closes the socket; a close without it (the launcher died)
// kills the container. Cleanup waits for the close so the two never write
// state at once.

#include "trampoline.c"

#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/un.h>
#include <time.h>

#define CTL 3
#define MAX_LINE (16 * 1024) // docker's: a longer line is logged in pieces
#define MAX_CLIENTS 8

static struct {
  int fd;
  const char *path;
  long long size, max_size;
  int max_file;
  long long lost; // bytes not logged since the last write that worked
  int lost_errno;
} lg = {.fd = -1};

// Pending records, written in one write(2) per read of the container.
static char out[256 * 1024];
static size_t outlen, outraw; // outraw: the container's bytes in it

struct stream {
  const char *name;
  int fd;
  char part[MAX_LINE]; // a line still waiting for its newline
  size_t plen;
};
static struct stream streams[2] = {{.name = "stdout", .fd = -1}, {.name = "stderr", .fd = -1}};
static char stamp[96]; // the time of the current read, RFC 3339 with nanoseconds

static int clients[MAX_CLIENTS];
static int nclients;

// Window sizes from attach clients (lib/cli/attach.ts), each applied to the
// pty master with TIOCSWINSZ (the kernel then signals SIGWINCH to the
// container's foreground job). They come on a socket of their own, not
// framed into the attach stream, so that no byte a user types can ever be
// taken for one. A client's records are native struct winsize, 8 bytes
// each; `part` keeps a record that came in pieces.
struct sizer {
  int fd;
  size_t have;
  unsigned char part[sizeof(struct winsize)];
};
static struct sizer sizers[MAX_CLIENTS];
static int nsizers;

// TTY 2: the container's stdin (a pipe's write end, non-blocking), what a
// client sent that it has not taken yet, and whether a client ended its
// input (the container's stdin is then closed once that is written:
// docker's stdin-once).
static struct {
  int fd, eof;
  char buf[4096];
  size_t len, off;
} in = {.fd = -1};

// Writes what is pending to the container's stdin, as much as it takes now.
static void feed_stdin(void) {
  while (in.fd >= 0 && in.off < in.len) {
    ssize_t n = write(in.fd, in.buf + in.off, in.len - in.off);
    if (n > 0) in.off += (size_t)n;
    else if (n < 0 && errno == EINTR) continue;
    else if (n < 0 && errno == EAGAIN) return;
    else {
      close(in.fd); // it closed its stdin, or ended: what it was sent goes nowhere
      in.fd = -1;
    }
  }
  in.len = in.off = 0;
  if (in.eof && in.fd >= 0) {
    close(in.fd);
    in.fd = -1;
  }
}

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? -errno : -EIO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int read_full(int fd, void *buf, size_t len) {
  char *p = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, p + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  return (int)got;
}

static void set_stamp(void) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

static void open_log(void) {
  lg.fd = open(lg.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  struct stat st;
  lg.size = lg.fd >= 0 && fstat(lg.fd, &st) == 0 ? st.st_size : 0;
}

// docker's rotation: LOG becomes LOG.1, LOG.1 LOG.2 ... up to MAX_FILE files.
static void rotate(void) {
  if (lg.max_file <= 1) {
    if (lg.fd >= 0 && ftruncate(lg.fd, 0) == 0) lg.size = 0;
    return;
  }
  char from[4200], to[4200];
  for (int i = lg.max_file - 1; i >= 1; i--) {
    if (i == 1) snprintf(from, sizeof from, "%s", lg.path);
    else snprintf(from, sizeof from, "%s.%d", lg.path, i - 1);
    snprintf(to, sizeof to, "%s.%d", lg.path, i);
    rename(from, to); // a missing one is fine
  }
  if (lg.fd >= 0) close(lg.fd);
  open_log();
}

static void flush_out(void) {
  if (!outlen) return;
  // A write the disk stopped half-way leaves a torn line: the next starts on a new one.
  static int torn;
  if (torn && lg.fd >= 0 && write(lg.fd, "\n", 1) == 1) {
    torn = 0;
    lg.size++;
  }
  size_t done = 0;
  int err = lg.fd < 0 ? EBADF : 0;
  while (!err && done < outlen) {
    ssize_t n = write(lg.fd, out + done, outlen - done);
    if (n > 0) done += (size_t)n;
    else if (n < 0 && errno != EINTR) err = errno;
    else if (n == 0) err = EIO;
  }
  lg.size += (long long)done;
  // A full or failing disk never stops the container: the output is dropped
  // and counted, and the first write that works again says so.
  if (err) {
    lg.lost += (long long)outraw;
    lg.lost_errno = err;
    if (done) torn = 1;
  }
  outlen = outraw = 0;
}

static void add_record(const char *stream, const char *log, size_t n);

// Room for one record of `need` bytes: flushed first when the buffer or the
// current file cannot take it (no file ever grows past MAX_SIZE, but for a
// record larger than MAX_SIZE alone).
static void make_room(size_t need) {
  if (outlen + need > sizeof out) flush_out();
  if (lg.size + (long long)(outlen + need) > lg.max_size && lg.size + (long long)outlen > 0) {
    flush_out();
    rotate();
  }
}

static void add_record(const char *stream, const char *log, size_t n) {
  if (lg.lost && stream) {
    char note[160];
    int len = snprintf(note, sizeof note,
                       "[minicontainer: %lld bytes of output were not logged: %s]\n", lg.lost,
                       strerror(lg.lost_errno));
    lg.lost = 0;
    add_record(0, note, (size_t)len);
  }
  // JSON escapes take at most 6 bytes a byte; the rest is under 100.
  make_room(n * 6 + 128);
  char *o = out + outlen;
  o += sprintf(o, "{\"log\":\"");
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)log[i];
    if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
    } else if (c == '\n') {
      *o++ = '\\';
      *o++ = 'n';
    } else if (c < 0x20) {
      o += sprintf(o, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
    } else *o++ = (char)c;
  }
  o += sprintf(o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream ? stream : "stderr", stamp);
  outlen = (size_t)(o - out);
  if (stream) outraw += n;
}

// Splits what was read into lines, each a record; a line without its
// newline waits in the stream's buffer, and is cut at MAX_LINE.
static void log_bytes(struct stream *s, const char *p, size_t n) {
  while (n) {
    const char *nl = memchr(p, '\n', n);
    size_t len = nl ? (size_t)(nl - p) + 1 : n;
    if (!s->plen && nl && len <= MAX_LINE) {
      add_record(s->name, p, len); // the common case: a whole line, no copy
    } else {
      size_t take = len < MAX_LINE - s->plen ? len : MAX_LINE - s->plen;
      memcpy(s->part + s->plen, p, take);
      s->plen += take;
      len = take;
      if (s->plen == MAX_LINE || (nl && p + take == nl + 1)) {
        add_record(s->name, s->part, s->plen);
        s->plen = 0;
      }
    }
    p += len;
    n -= len;
  }
}

static void drop_client(int i) {
  close(clients[i]);
  clients[i] = clients[--nclients];
}

// One read of sizer i's records: only the last whole one matters (a
// terminal dragged wider sends many), and one read a wake-up keeps a client
// that never stops sending from starving the log. A client that ends, fails
// or whose last size is zero (no terminal has one) is dropped.
static void read_sizes(int i, int master) {
  struct sizer *z = &sizers[i];
  unsigned char buf[64 * sizeof(struct winsize)];
  memcpy(buf, z->part, z->have);
  ssize_t n;
  do n = read(z->fd, buf + z->have, sizeof buf - z->have);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) {
    close(z->fd);
    *z = sizers[--nsizers];
    return;
  }
  size_t total = z->have + (size_t)n, whole = total - total % sizeof(struct winsize);
  if (whole) {
    struct winsize ws;
    memcpy(&ws, buf + whole - sizeof ws, sizeof ws);
    if (!ws.ws_row || !ws.ws_col) {
      close(z->fd);
      *z = sizers[--nsizers];
      return;
    }
    if (master >= 0) ioctl(master, TIOCSWINSZ, &ws); // fails only once the pty is gone
  }
  z->have = total - whole;
  memcpy(z->part, buf + whole, z->have);
}

// Reads what the container wrote; 0 at its end (EOF, or EIO from a pty
// master once no slave is open). With `echo` (>= 0) the bytes go there too
// (--tee); once it fails (a closed pipe) the stream is closed, so that the
// container meets the closed pipe itself, as when it writes there directly.
static int pump(struct stream *s, int echo) {
  static char buf[64 * 1024];
  ssize_t n;
  do n = read(s->fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return 1;
  if (n <= 0) {
    if (s->plen) add_record(s->name, s->part, s->plen);
    s->plen = 0;
    flush_out();
    close(s->fd);
    s->fd = -1;
    return 0;
  }
  int echoed = echo < 0 || write_all(echo, buf, (size_t)n) == 0;
  set_stamp();
  log_bytes(s, buf, (size_t)n);
  flush_out();
  if (!echoed) {
    if (s->plen) add_record(s->name, s->part, s->plen);
    s->plen = 0;
    flush_out();
    close(s->fd);
    s->fd = -1;
    return 0;
  }
  // Attached clients get the bytes too; a slow one loses them, never stalls the log.
  for (int i = nclients - 1; i >= 0; i--) {
    if (write(clients[i], buf, (size_t)n) < 0 && errno != EAGAIN) drop_client(i);
  }
  return 1;
}

// The exit, in the record reserved by the launcher; written in place.
static void write_exit(const char *path, int code, int oom) {
  char rec[256];
  memset(rec, ' ', sizeof rec);
  set_stamp();
  int n = snprintf(rec, sizeof rec, "{\"exitCode\":%d,\"oomKilled\":%s,\"finished\":\"%s\"}", code,
                   oom ? "true" : "false", stamp);
  rec[n] = ' ';
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return; // rm -f removed the container meanwhile
  while (pwrite(fd, rec, sizeof rec, 0) < 0 && errno == EINTR) {}
  close(fd);
}

// Whether the memory cgroup says the OOM killer struck: "oom_kill N" with
// N > 0 in memory.events (v2) or memory.oom_control (v1, under_oom before 4.13).
static int oom_killed(const char *path) {
  if (!strcmp(path, "-")) return 0;
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  char key[64];
  long long v;
  int oom = 0;
  while (fscanf(f, "%63s %lld", key, &v) == 2) {
    if ((!strcmp(key, "oom_kill") || !strcmp(key, "under_oom")) && v > 0) oom = 1;
  }
  fclose(f);
  return oom;
}

// What a new attach client is told first: {u64 inode, u64 size} of the log
// file as it is now (what it holds is all the client is not sent: a client
// that wants the output so far reads the log up to there), then the line
// the terminal has not ended yet (a shell's prompt), which is in no log yet.
static int greet(int c) {
  uint64_t head[2] = {0, 0};
  struct stat st;
  if (lg.fd >= 0 && fstat(lg.fd, &st) == 0) {
    head[0] = (uint64_t)st.st_ino;
    head[1] = (uint64_t)st.st_size;
  }
  // A fresh socket's buffer takes both at once (the line is at most MAX_LINE).
  if (write(c, head, sizeof head) != (ssize_t)sizeof head) return -1;
  struct stream *s = &streams[0];
  if (s->plen && write(c, s->part, s->plen) != (ssize_t)s->plen) return -1;
  return 0;
}

static int listen_attach(const char *path) {
  if (!strcmp(path, "-")) return -1;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  // A long state root does not fit sun_path: bind through the directory's fd.
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) return -1;
  *slash = 0;
  int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -1;
  snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", dfd, slash + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  unlink(path);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  close(dfd);
  return fd;
}

// --tee LOG MAX_SIZE MAX_FILE: the log of a foreground container (run
// without -d): fd 3 (its stdout pipe) is copied to fd 1 and fd 4 (stderr)
// to fd 2, both logged as the monitor logs, until both pipes end. The
// terminal's signals are the runtime's to forward, not this copier's.
static int tee_main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: mcmonitor --tee LOG MAX_SIZE MAX_FILE\n");
    return 125;
  }
  lg.path = argv[2];
  lg.max_size = atoll(argv[3]);
  lg.max_file = atoi(argv[4]);
  int ignored[] = {SIGPIPE, SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGTSTP};
  for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) signal(ignored[i], SIG_IGN);
  open_log();
  streams[0].fd = 3;
  streams[1].fd = 4;
  while (streams[0].fd >= 0 || streams[1].fd >= 0) {
    struct pollfd p[2] = {{.fd = streams[0].fd, .events = POLLIN},
                          {.fd = streams[1].fd, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 125;
    }
    for (int k = 0; k < 2; k++) {
      if (p[k].revents && streams[k].fd >= 0) pump(&streams[k], 1 + k);
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--tee")) return tee_main(argc, argv);
  if (argc < 11 || strcmp(argv[9], "--")) {
    fprintf(stderr, "usage: mcmonitor TTY EXIT LOG MAX_SIZE MAX_FILE OOM ATTACH NET_LOCK -- CLEANUP...\n");
    return 125;
  }
  int tty = atoi(argv[1]);
  const char *exit_path = argv[2];
  lg.path = argv[3];
  lg.max_size = atoll(argv[4]);
  lg.max_file = atoi(argv[5]);
  const char *oom_path = argv[6];
  const char *attach_path = argv[7];
  const char *net_lock = argv[8];
  signal(SIGPIPE, SIG_IGN);
  // SIGCHLD blocked from the start, so that a container that exits at once
  // stays pending for the signalfd made below (mc_spawn's child unblocks it).
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, 0);
  // Orphans of the container (none while its PID namespace lives) are ours to reap.
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  open_log();
  // The container's directory (the log's) is in use while this process
  // lives: a shared flock, as the runtime running any container holds (lib/rootfs/default.ts).
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", lg.path);
  if (strrchr(dir, '/')) *strrchr(dir, '/') = 0;
  int held = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (held >= 0) flock(held, LOCK_SH);

  // The attach socket (a pty's, or a stdin's: TTY 2) listens before the
  // container is released: an attach right after the start finds it.
  int lfd = tty ? listen_attach(attach_path) : -1;
  char size_path[4200];
  snprintf(size_path, sizeof size_path, "%s.winsize", attach_path);
  int zfd = tty == 1 ? listen_attach(size_path) : -1;

  // 1. The plan, at the address it was laid out for.
  uint64_t head[4];
  if (read_full(CTL, head, sizeof head) != sizeof head) return 125;
  uint64_t flags = head[0], base = head[1], size = head[2];
  uint32_t nops = (uint32_t)head[3];
  void *plan = mmap((void *)base, size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  int32_t pid = -ENOMEM;
  int fds[2] = {-1, -1};
  if (plan == MAP_FAILED || plan != (void *)base) pid = -EEXIST;
  else if (read_full(CTL, plan, size) != (int)size) return 125;
  else pid = (int32_t)mc_spawn(flags, plan, nops, -1, fds);
  close(6);
  close(7);
  close(10);
  if (tty != 2) {
    close(8);
    close(9);
  }
  if (tty == 1) close(5); // a copy of 6 there
  if (tty == 2) {
    close(9);
    in.fd = 8;
    fcntl(in.fd, F_SETFL, O_NONBLOCK);
  }
  write_all(CTL, &pid, sizeof pid);
  if (pid < 0) return 125;

  // 2. Released by the launcher once it has set the child's id maps and cgroup.
  char go = 0;
  if (read_full(CTL, &go, 1) != 1 || go != 1) {
    kill(pid, SIGKILL);
    waitpid(pid, 0, 0);
    return 125;
  }
  int32_t record[2] = {-1, 0};
  int32_t err = mc_release(fds[1]);
  if (err < 0) record[1] = -err;
  if (read_full(fds[0], record, sizeof record) != sizeof record) record[0] = -1;
  close(fds[0]);
  write_all(CTL, record, sizeof record);
  if (record[0] != -1) {
    waitpid(pid, 0, 0);
    return 125;
  }

  // 3. The container runs: its output to the log, until it has exited,
  //    its output has ended and the launcher is done.
  if (tty == 1) {
    int master = mc_recv_fd(4);
    close(4);
    streams[0].fd = master < 0 ? -1 : master;
  } else {
    streams[0].fd = 4;
    streams[1].fd = 5;
  }
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  int ctl = CTL, status = -1, recorded = 0, first = 1;
  while (status < 0 || streams[0].fd >= 0 || streams[1].fd >= 0 || ctl >= 0) {
    struct pollfd p[7 + 2 * MAX_CLIENTS];
    int np = 0;
    p[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = ctl, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = streams[0].fd, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = streams[1].fd, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = lfd, .events = POLLIN};
    // Input waiting for the container's stdin: no more is read from clients until it is taken.
    int waiting = in.off < in.len;
    for (int i = 0; i < nclients; i++) {
      p[np++] = (struct pollfd){.fd = waiting ? -1 : clients[i], .events = POLLIN};
    }
    int inpos = np;
    p[np++] = (struct pollfd){.fd = waiting ? in.fd : -1, .events = POLLOUT};
    int zpos = np;
    p[np++] = (struct pollfd){.fd = zfd, .events = POLLIN};
    for (int i = 0; i < nsizers; i++) p[np++] = (struct pollfd){.fd = sizers[i].fd, .events = POLLIN};
    // After the exit, output still buffered in the pipes is read; a stray
    // holder of a pipe (there is none once the PID namespace is gone) gets 2 s.
    // While it runs, waitpid is also tried every second: a SIGCHLD that the
    // signalfd never showed (seen once: a zombie container, its monitor in
    // poll) must not keep the monitor waiting forever.
    int r = poll(p, (nfds_t)np, status >= 0 ? 2000 : 1000);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 && status >= 0) break;
    if (p[0].revents || r == 0 || first) {
      first = 0;
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {}
      int st;
      pid_t w;
      while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
        if (w == pid) status = st;
      }
    }
    if (p[1].revents) {
      char b;
      ssize_t n = read(ctl, &b, 1);
      if (n == 1 && b == 1) recorded = 1;
      else if (n <= 0) {
        // A launcher that died before recording the container leaves it
        // unknown to every command: it must not run on, unseen.
        if (!recorded && status < 0) kill(pid, SIGKILL);
        close(ctl);
        ctl = -1;
        // The launcher is gone or going: its lock on the network comes to us.
        if (recorded && strcmp(net_lock, "-")) {
          int nfd = open(net_lock, O_WRONLY | O_CLOEXEC);
          if (nfd >= 0) flock(nfd, LOCK_EX);
        }
      }
    }
    for (int k = 0; k < 2; k++) {
      if (p[2 + k].revents && streams[k].fd >= 0) pump(&streams[k], -1);
    }
    if (p[inpos].revents) feed_stdin();
    // Sizes before typed input: a client sends its size before it relays a
    // key, so a command typed at once (`stty size`) already sees the size.
    for (int i = nsizers - 1; i >= 0; i--) {
      if (p[zpos + 1 + i].revents) read_sizes(i, streams[0].fd);
    }
    if (p[zpos].revents & POLLIN) {
      int c = accept4(zfd, 0, 0, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0 && nsizers < MAX_CLIENTS) {
        sizers[nsizers++] = (struct sizer){.fd = c};
        read_sizes(nsizers - 1, streams[0].fd); // the first size is likely there already
      } else if (c >= 0) close(c);
    }
    // What an attached client types goes to the terminal (or, TTY 2, to the container's stdin).
    for (int i = nclients - 1; i >= 0; i--) {
      if (!p[5 + i].revents || in.off < in.len) continue;
      char buf[sizeof in.buf];
      ssize_t n = read(clients[i], buf, sizeof buf);
      if (n > 0 && tty == 1 && streams[0].fd >= 0) write_all(streams[0].fd, buf, (size_t)n);
      else if (n > 0 && tty == 2) {
        memcpy(in.buf, buf, (size_t)n);
        in.len = (size_t)n;
        in.off = 0;
        feed_stdin();
      } else if (n == 0 || (n < 0 && errno != EAGAIN)) {
        drop_client(i);
        if (tty == 2 && n == 0) {
          in.eof = 1;
          feed_stdin();
        }
      }
    }
    // New clients after the polled ones: p[] holds no entry of theirs yet.
    if (p[4].revents & POLLIN) {
      int c = accept4(lfd, 0, 0, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0 && nclients < MAX_CLIENTS && greet(c) == 0) clients[nclients++] = c;
      else if (c >= 0) close(c);
    }
  }
  if (status < 0) waitpid(pid, &status, 0);
  if (lfd >= 0) unlink(attach_path);
  if (zfd >= 0) unlink(size_path);
  if (in.fd >= 0) close(in.fd);
  int oom = oom_killed(oom_path);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (oom) code = 137;
  write_exit(exit_path, code, oom);

  // 4. The rest (state, cgroup, restart) is TypeScript's: same pid, same
  //    start time, so the launcher's claim on the container stays this process's.
  execv(argv[10], argv + 10);
  fprintf(stderr, "mcmonitor: execute %s: %s\n", argv[10], strerror(errno));
  return 125;
}
