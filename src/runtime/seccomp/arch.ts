// Architectures the seccomp compiler supports, their AUDIT_ARCH_* values (what the kernel puts in
// seccomp_data.arch) and their syscall tables.

import { invalid } from "../../common/errors.js";
import * as tables from "./syscalls.generated.js";

export type SupportedArch = "SCMP_ARCH_X86_64" | "SCMP_ARCH_X86" | "SCMP_ARCH_X32" | "SCMP_ARCH_AARCH64";

/** The architectures cove can compile filters for, in the order their sections are emitted. */
export const SUPPORTED_ARCHITECTURES: readonly SupportedArch[] = [
  "SCMP_ARCH_X86_64",
  "SCMP_ARCH_X32",
  "SCMP_ARCH_X86",
  "SCMP_ARCH_AARCH64",
];

/** Architecture names of the OCI runtime spec that cove has no syscall table for. */
export const OTHER_OCI_ARCHITECTURES: readonly string[] = [
  "SCMP_ARCH_ARM",
  "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64",
  "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",
  "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",
  "SCMP_ARCH_PPC64LE",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC",
  "SCMP_ARCH_PARISC64",
  "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_LOONGARCH64",
  "SCMP_ARCH_M68K",
  "SCMP_ARCH_SH",
  "SCMP_ARCH_SHEB",
];

export const AUDIT_ARCH = {
  X86_64: 0xc000003e,
  I386: 0x40000003,
  AARCH64: 0xc00000b7,
} as const;

/** x32 syscalls arrive with arch AUDIT_ARCH_X86_64 and this bit set in the number. */
export const X32_SYSCALL_BIT = 0x40000000;

export const AUDIT_ARCH_OF: Record<SupportedArch, number> = {
  SCMP_ARCH_X86_64: AUDIT_ARCH.X86_64,
  SCMP_ARCH_X32: AUDIT_ARCH.X86_64,
  SCMP_ARCH_X86: AUDIT_ARCH.I386,
  SCMP_ARCH_AARCH64: AUDIT_ARCH.AARCH64,
};

const TABLES: Record<SupportedArch, Readonly<Record<string, number>>> = {
  SCMP_ARCH_X86_64: tables.SCMP_ARCH_X86_64,
  SCMP_ARCH_X86: tables.SCMP_ARCH_X86,
  SCMP_ARCH_X32: tables.SCMP_ARCH_X32,
  SCMP_ARCH_AARCH64: tables.SCMP_ARCH_AARCH64,
};

/** Other spellings accepted for the native architecture (Node's, Go's, uname's). */
const ALIASES: Record<string, SupportedArch> = {
  x64: "SCMP_ARCH_X86_64",
  amd64: "SCMP_ARCH_X86_64",
  x86_64: "SCMP_ARCH_X86_64",
  ia32: "SCMP_ARCH_X86",
  "386": "SCMP_ARCH_X86",
  i386: "SCMP_ARCH_X86",
  i686: "SCMP_ARCH_X86",
  x86: "SCMP_ARCH_X86",
  x32: "SCMP_ARCH_X32",
  arm64: "SCMP_ARCH_AARCH64",
  aarch64: "SCMP_ARCH_AARCH64",
};

export function isSupportedArch(name: string): name is SupportedArch {
  return (SUPPORTED_ARCHITECTURES as readonly string[]).includes(name);
}

/** Resolves an architecture name (SCMP_ARCH_* or a Node/Go/uname spelling); throws on unknown names. */
export function resolveArch(name: string, field = "architecture"): SupportedArch {
  if (isSupportedArch(name)) return name;
  const alias = ALIASES[name.toLowerCase()];
  if (alias) return alias;
  throw invalid(`unknown seccomp architecture "${name}"`, {
    field,
    code: "seccomp.unknown-arch",
    hint: `use one of ${SUPPORTED_ARCHITECTURES.join(", ")}`,
  });
}

/** The architecture this process runs on, as a seccomp architecture name. */
export function hostArch(): SupportedArch {
  return resolveArch(process.arch, "nativeArch");
}

/** The syscall number of `name` on `arch`, or undefined when that architecture has no such syscall. */
export function syscallNumber(name: string, arch: string = hostArch()): number | undefined {
  const table = TABLES[resolveArch(arch)];
  return Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
}

/** The syscall table of an architecture (name → number). */
export function syscallTable(arch: SupportedArch): Readonly<Record<string, number>> {
  return TABLES[arch];
}

/** The highest syscall number in the table of `arch`. */
export function maxSyscallNumber(arch: SupportedArch): number {
  return Math.max(...Object.values(TABLES[arch]));
}
