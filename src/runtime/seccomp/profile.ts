// Docker's default seccomp profile, as data, with the same capability, architecture and kernel
// conditions applied the way moby's setupSeccomp applies them.
//
// The data follows github.com/moby/profiles/seccomp v0.2.3, the profile of moby's main branch and
// of Docker 29.4.3 on (Docker 25 to 29.4.1 differ only in allowing socket(AF_ALG)). Rules for
// architectures cove has no table for (arm, s390, ppc64le, riscv64) are kept so the data stays
// complete; their names are unknown on x86/aarch64 and the compiler drops them. Where cove's
// default differs from Docker's, the README's "Seccomp" section says how and why.

import { release as kernelRelease } from "node:os";
import type { LinuxSeccomp, SeccompArg, SeccompSyscall } from "../spec.js";
import { hostArch, resolveArch, type SupportedArch } from "./arch.js";
import { ENOSYS, EPERM } from "./compile.js";
import { DOCKER_DEFAULT_CAPABILITIES } from "../config/constants.js";

interface Filter {
  /** Capabilities that must all be present (includes) or any of which removes the rule (excludes). */
  caps?: string[];
  /** libseccomp's native architecture names (amd64, x86, arm64...) the rule is limited to or skipped on. */
  arches?: string[];
  /** "major.minor": the host kernel must be at least this (includes) or older (excludes). */
  minKernel?: string;
}

interface ProfileRule {
  names: string[];
  action: SeccompSyscall["action"];
  errnoRet?: number;
  args?: SeccompArg[];
  includes?: Filter;
  excludes?: Filter;
}

// Docker's 14 default capabilities live with the other Docker defaults
export { DOCKER_DEFAULT_CAPABILITIES };

// CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const AF_ALG = 38; // the kernel crypto API
const AF_VSOCK = 40; // host <-> guest sockets

const ALWAYS_ALLOWED = `
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl
fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64
fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait
futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid
geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid
getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list
getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr
getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy
io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill
landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
linkat listen listmount listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat
lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod
mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv
msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat
openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename renameat renameat2
restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop
semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid
setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list
setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr setxattrat shmat shmctl
shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair
splice stat stat64 statfs statfs64 statmount statx symlink symlinkat sync sync_file_range syncfs
sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat uretprobe
utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
`;

const words = (s: string): string[] => s.trim().split(/\s+/);
const allow = (names: string[], extra: Partial<ProfileRule> = {}): ProfileRule => ({ names, action: "SCMP_ACT_ALLOW", ...extra });
/**
 * socket for the address families below `limit` but `except`, compared on the low 32 bits of the
 * argument: one rule per aligned block of families (a masked comparison each).
 */
function socketFamilies(limit: number, except: number[]): ProfileRule[] {
  const rules: ProfileRule[] = [];
  for (let first = 0; first < limit; ) {
    if (except.includes(first)) {
      first++;
      continue;
    }
    let size = 1;
    const fits = (n: number) => first % n === 0 && first + n <= limit && !except.some((f) => f >= first && f < first + n);
    while (fits(size * 2)) size *= 2;
    rules.push(allow(["socket"], { args: [{ index: 0, value: 0x1_0000_0000 - size, valueTwo: first, op: "SCMP_CMP_MASKED_EQ" }] }));
    first += size;
  }
  return rules;
}
const personality = (value: number): ProfileRule =>
  allow(["personality"], { args: [{ index: 0, value, op: "SCMP_CMP_EQ" }] });

/** The rules of Docker's default profile, in its order. */
export const DOCKER_DEFAULT_RULES: readonly ProfileRule[] = [
  allow(words(ALWAYS_ALLOWED)),
  // Before 4.8 ptrace could be used to get around seccomp filters.
  allow(["process_vm_readv", "process_vm_writev", "ptrace"], { includes: { minKernel: "4.8" } }),
  // socket for every address family but AF_ALG and AF_VSOCK, as in Docker. Docker's rules compare
  // the family as 64 bits (< 38, == 39, > 40) but the kernel reads an int, so 0x1_00000028 is
  // "> 40" to them and AF_VSOCK to the kernel. cove compares the low 32 bits only, in aligned
  // blocks (one comparison per rule: runc ORs comparisons of one argument), up to 63 (AF_MAX is
  // 46). 32-bit x86 socketcall(2) passes the family in memory and stays allowed, as in Docker.
  ...socketFamilies(64, [AF_ALG, AF_VSOCK]),
  personality(0x0), // PER_LINUX
  personality(0x0008), // PER_LINUX32
  personality(0x20000), // UNAME26
  personality(0x20008), // UNAME26 | PER_LINUX32
  personality(0xffffffff), // query
  allow(["sync_file_range2", "swapcontext"], { includes: { arches: ["ppc64le"] } }),
  allow(["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"], {
    includes: { arches: ["arm", "arm64"] },
  }),
  allow(["arch_prctl"], { includes: { arches: ["amd64", "x32"] } }),
  allow(["modify_ldt"], { includes: { arches: ["amd64", "x32", "x86"] } }),
  allow(["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"], { includes: { arches: ["s390", "s390x"] } }),
  allow(["riscv_flush_icache"], { includes: { arches: ["riscv64"] } }),
  // Opening by handle bypasses the path walk, so a handle can reach files outside the container's
  // bind mounts (the "shocker" escape). name_to_handle_at only produces a handle, needs no
  // capability in the kernel and is used by systemd: Docker allows it to everyone (moby/moby#45766).
  allow(["open_by_handle_at"], { includes: { caps: ["CAP_DAC_READ_SEARCH"] } }),
  allow(
    words(`bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr
      lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open quotactl
      quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare`),
    { includes: { caps: ["CAP_SYS_ADMIN"] } },
  ),
  allow(["clone"], {
    args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
    excludes: { caps: ["CAP_SYS_ADMIN"], arches: ["s390", "s390x"] },
  }),
  allow(["clone"], {
    // s390 passes the clone flags as the second argument.
    args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
    includes: { arches: ["s390", "s390x"] },
    excludes: { caps: ["CAP_SYS_ADMIN"] },
  }),
  // clone3 passes its flags in memory, out of a filter's reach: make libc fall back to clone.
  { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS, excludes: { caps: ["CAP_SYS_ADMIN"] } },
  allow(["reboot"], { includes: { caps: ["CAP_SYS_BOOT"] } }),
  allow(["chroot"], { includes: { caps: ["CAP_SYS_CHROOT"] } }),
  allow(["delete_module", "init_module", "finit_module"], { includes: { caps: ["CAP_SYS_MODULE"] } }),
  allow(["acct"], { includes: { caps: ["CAP_SYS_PACCT"] } }),
  allow(["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"], {
    includes: { caps: ["CAP_SYS_PTRACE"] },
  }),
  allow(["iopl", "ioperm"], { includes: { caps: ["CAP_SYS_RAWIO"] } }),
  allow(["settimeofday", "stime", "clock_settime", "clock_settime64"], { includes: { caps: ["CAP_SYS_TIME"] } }),
  allow(["vhangup"], { includes: { caps: ["CAP_SYS_TTY_CONFIG"] } }),
  allow(["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"], { includes: { caps: ["CAP_SYS_NICE"] } }),
  allow(["syslog"], { includes: { caps: ["CAP_SYSLOG"] } }),
  allow(["bpf"], { includes: { caps: ["CAP_BPF"] } }),
  allow(["perf_event_open"], { includes: { caps: ["CAP_PERFMON"] } }),
];

/**
 * moby's archMap for the architectures cove has tables for, with the native name the rules'
 * `arches` use. Docker also lists SCMP_ARCH_ARM under aarch64; cove has no 32-bit ARM table, so
 * there 32-bit ARM syscalls get the bad-arch action (the thread is killed) instead of the rules.
 */
const ARCH_MAP: Record<SupportedArch, { native: string; arches: SupportedArch[] }> = {
  SCMP_ARCH_X86_64: { native: "amd64", arches: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
  SCMP_ARCH_AARCH64: { native: "arm64", arches: ["SCMP_ARCH_AARCH64"] },
  SCMP_ARCH_X86: { native: "x86", arches: ["SCMP_ARCH_X86"] },
  SCMP_ARCH_X32: { native: "amd64", arches: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
};

export interface DefaultProfileOptions {
  /** The container's (bounding) capabilities, with or without the CAP_ prefix. Default: Docker's 14. */
  capabilities?: readonly string[];
  /** The native architecture. Default: this process's. */
  arch?: string;
  /** The host kernel's release (uname -r), for the rules with a minimum kernel. Default: this host's. */
  kernel?: string;
}

const normCap = (c: string): string => {
  const up = c.trim().toUpperCase();
  return up.startsWith("CAP_") ? up : `CAP_${up}`;
};

/** [major, minor] of a kernel release such as "6.8.0-45-generic"; undefined when it has none. */
function kernelVersion(release: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** Whether a kernel release (uname -r) is at least min ("major.minor"); an unparseable release counts as current. */
export function kernelAtLeast(release: string, min: string): boolean {
  const have = kernelVersion(release);
  const want = kernelVersion(min);
  if (!want) throw new Error(`bad minimum kernel version "${min}" in the default seccomp profile`);
  if (!have) return true; // an unparseable release: assume a current kernel
  return have[0] !== want[0] ? have[0] > want[0] : have[1] >= want[1];
}

/**
 * Docker's default seccomp profile for a container with the given capabilities, as an OCI
 * linux.seccomp section: rules whose `includes` are not met or whose `excludes` are met are left out.
 */
export function defaultSeccompProfile(opts: DefaultProfileOptions = {}): LinuxSeccomp {
  const caps = new Set((opts.capabilities ?? DOCKER_DEFAULT_CAPABILITIES).map(normCap));
  const native = opts.arch !== undefined ? resolveArch(opts.arch, "arch") : hostArch();
  const { native: arch, arches } = ARCH_MAP[native];
  const kernel = opts.kernel ?? kernelRelease();
  const syscalls: SeccompSyscall[] = [];
  for (const rule of DOCKER_DEFAULT_RULES) {
    const inc = rule.includes ?? {};
    const exc = rule.excludes ?? {};
    if (exc.arches?.includes(arch)) continue;
    if (exc.caps?.some((c) => caps.has(c))) continue;
    if (exc.minKernel !== undefined && kernelAtLeast(kernel, exc.minKernel)) continue;
    if (inc.arches && inc.arches.length > 0 && !inc.arches.includes(arch)) continue;
    if (inc.caps && !inc.caps.every((c) => caps.has(c))) continue;
    if (inc.minKernel !== undefined && !kernelAtLeast(kernel, inc.minKernel)) continue;
    const out: SeccompSyscall = { names: [...rule.names], action: rule.action };
    if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
    if (rule.args) out.args = rule.args.map((a) => ({ ...a }));
    syscalls.push(out);
  }
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: EPERM,
    architectures: [...arches],
    syscalls,
  };
}
