import { test } from "node:test";
import assert from "node:assert/strict";
import { CoveError } from "../../common/errors.js";
import { maxSyscallNumber, resolveArch, syscallNumber, SUPPORTED_ARCHITECTURES } from "./arch.js";

test("syscall tables carry the kernel's numbers for each architecture", () => {
  assert.equal(syscallNumber("read", "SCMP_ARCH_X86_64"), 0);
  assert.equal(syscallNumber("clone", "SCMP_ARCH_X86_64"), 56);
  assert.equal(syscallNumber("clone3", "SCMP_ARCH_X86_64"), 435);
  assert.equal(syscallNumber("arch_prctl", "SCMP_ARCH_X86_64"), 158);
  assert.equal(syscallNumber("read", "SCMP_ARCH_X86"), 3);
  assert.equal(syscallNumber("socketcall", "SCMP_ARCH_X86"), 102);
  assert.equal(syscallNumber("mmap2", "SCMP_ARCH_X86"), 192);
  assert.equal(syscallNumber("read", "SCMP_ARCH_X32"), 0x40000000);
  assert.equal(syscallNumber("rt_sigaction", "SCMP_ARCH_X32"), 0x40000000 + 512);
  assert.equal(syscallNumber("ioctl", "SCMP_ARCH_X32"), 0x40000000 + 514);
  assert.equal(syscallNumber("openat", "SCMP_ARCH_AARCH64"), 56);
  assert.equal(syscallNumber("clone", "SCMP_ARCH_AARCH64"), 220);
  assert.equal(syscallNumber("fstat", "SCMP_ARCH_AARCH64"), 80);
  assert.equal(syscallNumber("renameat", "SCMP_ARCH_AARCH64"), 38);
  assert.equal(syscallNumber("getrlimit", "SCMP_ARCH_AARCH64"), 163);
  assert.equal(syscallNumber("memfd_secret", "SCMP_ARCH_AARCH64"), 447);
  // Newer than the installed headers: same number everywhere since Linux 5.1.
  assert.equal(syscallNumber("fchmodat2", "SCMP_ARCH_X86_64"), 452);
  assert.equal(syscallNumber("fchmodat2", "SCMP_ARCH_AARCH64"), 452);
  assert.equal(syscallNumber("fchmodat2", "SCMP_ARCH_X32"), 0x40000000 + 452);
  assert.equal(syscallNumber("file_setattr", "SCMP_ARCH_X86"), 469);
  assert.equal(maxSyscallNumber("SCMP_ARCH_X86_64"), 469);
});

test("names an architecture lacks are undefined, not errors", () => {
  assert.equal(syscallNumber("open", "SCMP_ARCH_AARCH64"), undefined);
  assert.equal(syscallNumber("socketcall", "SCMP_ARCH_X86_64"), undefined);
  assert.equal(syscallNumber("no_such_syscall", "SCMP_ARCH_X86_64"), undefined);
  assert.equal(syscallNumber("toString", "SCMP_ARCH_X86_64"), undefined);
});

test("architecture names resolve from SCMP, Node and Go spellings; unknown ones throw", () => {
  assert.deepEqual(SUPPORTED_ARCHITECTURES, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"]);
  assert.equal(resolveArch("x64"), "SCMP_ARCH_X86_64");
  assert.equal(resolveArch("amd64"), "SCMP_ARCH_X86_64");
  assert.equal(resolveArch("arm64"), "SCMP_ARCH_AARCH64");
  assert.equal(resolveArch("386"), "SCMP_ARCH_X86");
  assert.throws(
    () => syscallNumber("read", "SCMP_ARCH_VAX"),
    (e: unknown) => e instanceof CoveError && e.kind === "invalid" && /SCMP_ARCH_VAX/.test(e.message),
  );
});
