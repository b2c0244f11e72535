# Runs a command on a pseudo-terminal, answers a prompt, and reports what happened as JSON:
#   python3 pty_run.py PROMPT_REGEX INPUT1 [INPUT2...] -- CMD ARGS...
# Each INPUT is typed (with "\r") after PROMPT_REGEX shows up in the output; the output is read to
# EOF; prints {"status": exit status, "output": all output}.
import json, os, pty, re, select, sys, time

sep = sys.argv.index("--")
prompt = re.compile(sys.argv[1].encode())
inputs = sys.argv[2:sep]
cmd = sys.argv[sep + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm"
    os.execvp(cmd[0], cmd)
out = b""
seen = 0
deadline = time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    if inputs and len(prompt.findall(out[seen:])) > 0:
        m = list(prompt.finditer(out, seen))[-1]
        seen = m.end()
        line = inputs.pop(0)
        os.write(fd, line.encode().decode("unicode_escape").encode("latin-1"))
_, status = os.waitpid(pid, 0)
print(json.dumps({"status": os.waitstatus_to_exitcode(status), "output": out.decode("utf8", "replace")}))
