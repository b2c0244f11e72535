// Public entry of the seccomp compiler: OCI linux.seccomp → classic BPF for
// seccomp(SECCOMP_SET_MODE_FILTER), Docker's default profile, and a BPF interpreter for tests.

export {
  compileSeccomp,
  BAD_ARCH_ACTION,
  SECCOMP_FILTER_FLAGS,
  EPERM,
  ENOSYS,
  type CompileOptions,
  type CompiledSeccomp,
} from "./compile.js";
export {
  defaultSeccompProfile,
  kernelAtLeast,
  DOCKER_DEFAULT_CAPABILITIES,
  CLONE_NAMESPACE_FLAGS,
  type DefaultProfileOptions,
} from "./profile.js";
export {
  runFilter,
  decodeVerdict,
  decodeProgram,
  validateProgram,
  BPF_MAXINSNS,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  type Instruction,
  type SeccompData,
  type Verdict,
  type VerdictAction,
} from "./bpf.js";
export {
  syscallNumber,
  syscallTable,
  maxSyscallNumber,
  hostArch,
  resolveArch,
  SUPPORTED_ARCHITECTURES,
  AUDIT_ARCH,
  AUDIT_ARCH_OF,
  X32_SYSCALL_BIT,
  type SupportedArch,
} from "./arch.js";
