// Generates syscalls.generated.ts, the name → number tables the seccomp compiler uses, from the
// kernel UAPI headers installed on this machine (Debian's linux-libc-dev):
//
//   x86_64   <asm/unistd_64.h>
//   x86      <asm/unistd_32.h>
//   x32      <asm/unistd_x32.h>   (numbers already carry __X32_SYSCALL_BIT = 0x40000000)
//   aarch64  <asm-generic/unistd.h> with the __ARCH_WANT_* switches arch/arm64 sets and a 64-bit long
//
// Each header is included by a throwaway C program that prints every __NR_ constant, so the C
// preprocessor (not a regex) resolves aliases such as __NR_fcntl → __NR3264_fcntl.
//
// Syscalls newer than the installed headers are appended from NEWER below. Since Linux 5.1 every
// new syscall takes the same number on every architecture (x32 adds its bit), as the kernel's
// syscall tables show; the list follows arch/x86/entry/syscalls/syscall_64.tbl up to Linux 6.17.
//
// Run: npx tsc -p tsconfig.json && node dist/src/runtime/seccomp/gen-syscalls.js
// It rewrites src/runtime/seccomp/syscalls.generated.ts; commit the result.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

type Arch = "SCMP_ARCH_X86_64" | "SCMP_ARCH_X86" | "SCMP_ARCH_X32" | "SCMP_ARCH_AARCH64";

interface Source {
  arch: Arch;
  prelude: string;
  header: string;
  /** Added to the NEWER numbers (x32's syscall bit). */
  bias: number;
}

const SOURCES: Source[] = [
  { arch: "SCMP_ARCH_X86_64", prelude: "", header: "asm/unistd_64.h", bias: 0 },
  { arch: "SCMP_ARCH_X86", prelude: "", header: "asm/unistd_32.h", bias: 0 },
  { arch: "SCMP_ARCH_X32", prelude: "#define __X32_SYSCALL_BIT 0x40000000\n", header: "asm/unistd_x32.h", bias: 0x40000000 },
  {
    arch: "SCMP_ARCH_AARCH64",
    // The switches of arch/arm64/include/uapi/asm/unistd.h; <asm/bitsperlong.h> gives 64 on x86_64.
    prelude: [
      "#define __ARCH_WANT_RENAMEAT",
      "#define __ARCH_WANT_NEW_STAT",
      "#define __ARCH_WANT_SET_GET_RLIMIT",
      "#define __ARCH_WANT_TIME32_SYSCALLS",
      "#define __ARCH_WANT_SYS_CLONE3",
      "#define __ARCH_WANT_MEMFD_SECRET",
      "",
    ].join("\n"),
    header: "asm-generic/unistd.h",
    bias: 0,
  },
];

/** Syscalls added after the installed headers (Linux 6.1): [name, number, arches that have it]. */
const ALL: Arch[] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"];
const NEWER: [string, number, Arch[]][] = [
  ["uretprobe", 335, ["SCMP_ARCH_X86_64"]], // 6.11, x86_64 only, below the unified range
  ["cachestat", 451, ALL],
  ["fchmodat2", 452, ALL],
  ["map_shadow_stack", 453, ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]],
  ["futex_wake", 454, ALL],
  ["futex_wait", 455, ALL],
  ["futex_requeue", 456, ALL],
  ["statmount", 457, ALL],
  ["listmount", 458, ALL],
  ["lsm_get_self_attr", 459, ALL],
  ["lsm_set_self_attr", 460, ALL],
  ["lsm_list_modules", 461, ALL],
  ["mseal", 462, ALL],
  ["setxattrat", 463, ALL],
  ["getxattrat", 464, ALL],
  ["listxattrat", 465, ALL],
  ["removexattrat", 466, ALL],
  ["open_tree_attr", 467, ALL],
  ["file_getattr", 468, ALL],
  ["file_setattr", 469, ALL],
];

/** Macros that look like syscalls but are not. */
const NOT_SYSCALLS = new Set(["syscalls", "arch_specific_syscall"]);

function readHeader(work: string, src: Source): Map<string, number> {
  const head = `${src.prelude}#include <${src.header}>\n`;
  const hFile = join(work, "h.c");
  writeFileSync(hFile, head);
  const macros = execFileSync("cc", ["-E", "-dM", hFile], { encoding: "utf8" });
  const names = [...macros.matchAll(/^#define __NR_(\w+)\s/gm)]
    .map((m) => m[1] as string)
    .filter((n) => !NOT_SYSCALLS.has(n));
  const lines = names.map((n) => `  printf("%s %lld\\n", "${n}", (long long)(__NR_${n}));`);
  const cFile = join(work, "p.c");
  writeFileSync(cFile, `#include <stdio.h>\n${head}int main(void) {\n${lines.join("\n")}\n  return 0;\n}\n`);
  const exe = join(work, "p");
  execFileSync("cc", ["-o", exe, cFile]);
  const out = execFileSync(exe, { encoding: "utf8" });
  const table = new Map<string, number>();
  for (const line of out.trim().split("\n")) {
    const [name, num] = line.split(" ");
    if (name !== undefined && num !== undefined) table.set(name, Number(num));
  }
  return table;
}

function main(): void {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/src/runtime/seccomp → src/runtime/seccomp
  const target = resolve(here, "../../../../src/runtime/seccomp/syscalls.generated.ts");
  const work = mkdtempSync(join(tmpdir(), "cove-syscalls-"));
  const kernelHeaders = (() => {
    try {
      return execFileSync("dpkg-query", ["-W", "-f=${Version}", "linux-libc-dev"], { encoding: "utf8" }).trim();
    } catch {
      return "unknown";
    }
  })();
  try {
    const parts: string[] = [];
    for (const src of SOURCES) {
      const table = readHeader(work, src);
      for (const [name, nr, arches] of NEWER) {
        if (arches.includes(src.arch) && !table.has(name)) table.set(name, nr + src.bias);
      }
      const sorted = [...table.entries()].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
      const body = sorted.map(([n, v]) => `  ${/^[a-z_][a-z0-9_]*$/.test(n) ? n : JSON.stringify(n)}: ${src.bias ? `0x${v.toString(16)}` : v},`);
      parts.push(`export const ${src.arch}: Readonly<Record<string, number>> = {\n${body.join("\n")}\n};\n`);
    }
    const header =
      "// GENERATED by gen-syscalls.ts from the kernel UAPI headers (linux-libc-dev " +
      kernelHeaders +
      ")\n// plus the syscalls of Linux 6.2-6.17 listed there. Do not edit by hand; re-run the generator.\n\n";
    writeFileSync(target, header + parts.join("\n"));
    process.stdout.write(`wrote ${target}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
