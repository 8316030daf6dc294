"""Drives `minicontainer run -it ... sh` from a real pty, as a person at a
terminal would, and prints what it saw as JSON (used by tty_test.ts, and by
monitor_test.ts and lifecycle_test.ts for attach).

usage: pty_driver.py LAUNCHER ARGS...   (e.g. run -it sh, or exec -it NAME sh)
PTY_MODE=attach: ARGS attach to a running shell (attach NAME, start -ai NAME);
its size is checked at 40x132 and after a resize, then Ctrl-P Ctrl-Q detaches.
"""
import json, os, select, signal, struct, sys, termios, time, fcntl

launcher, args = sys.argv[1], sys.argv[2:]
master, slave = os.openpty()
attach = os.environ.get("PTY_MODE") == "attach"
rows, cols = (40, 132) if attach else (30, 100)
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
mode_before = termios.tcgetattr(slave)

pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.execv(launcher, [launcher, *args])

out = b""

def read_until(token, timeout=15):
    global out
    end = time.time() + timeout
    while token not in out:
        if time.time() > end:
            raise SystemExit(json.dumps({"error": "timeout waiting for %r" % token, "output": out.decode(errors="replace")}))
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                out += os.read(master, 4096)
            except OSError:
                break

def send(text):
    os.write(master, text.encode())

def after(marker):
    """The output line before `marker`'s output (not its echo)."""
    text = out.decode(errors="replace").replace("\r", "")
    lines = text.split("\n")
    i = max(k for k, l in enumerate(lines) if l == marker)
    return lines[i - 1]

result = {}
if attach:
    # The size it had at attach: checked once, as the first command typed.
    send("stty size; echo S$((1))\n"); read_until(b"S1\r\n")
    result["size"] = after("S1")
    # Resized: the kernel sends the client SIGWINCH, which it forwards; it
    # may land a moment after the next command, hence a few tries.
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    for k in range(2, 22):
        send("stty size; echo S$((%d))\n" % k); read_until(b"S%d\r\n" % k)
        result["resized"] = after("S%d" % k)
        if result["resized"] == "50 160":
            break
        time.sleep(0.25)
    # A typed command runs in the container; Ctrl-P Ctrl-Q detaches.
    send("echo attached-$((6*7))\n"); read_until(b"attached-42\r\n")
    send("\x10\x11")
    _, status = os.waitpid(pid, 0)
    result["exit"] = os.waitstatus_to_exitcode(status)
    result["mode_restored"] = termios.tcgetattr(slave) == mode_before
    print(json.dumps(result))
    sys.exit(0)
send("tty; echo M$((1))\n"); read_until(b"M1\r\n")
result["tty"] = after("M1")
send("stty size; echo M$((2))\n"); read_until(b"M2\r\n")
result["size"] = after("M2")
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
time.sleep(0.3)
send("stty size; echo M$((3))\n"); read_until(b"M3\r\n")
result["resized"] = after("M3")
send("sleep 30; echo slept-$((1+1))\n")
time.sleep(0.5)
send("\x03")
send("echo alive-$((40+2))\n"); read_until(b"alive-42\r\n")
result["interrupted"] = b"slept-2" not in out
result["raw_host_output"] = b"\r\r\n" not in out
send("exit 7\n")
_, status = os.waitpid(pid, 0)
result["exit"] = os.waitstatus_to_exitcode(status)
result["mode_restored"] = termios.tcgetattr(slave) == mode_before
print(json.dumps(result))
