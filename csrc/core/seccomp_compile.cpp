// Compiling a resolved seccomp profile with libseccomp (Debian's libseccomp-dev). Only the Python extension links this file: the monitor
// and the container's process install the cached bytes (seccomp.cpp) and never need the
// library. libseccomp rather than hand-made BPF: it knows every architecture's syscall
// numbers, the x32/x86 multiplexed calls and how to lay out argument checks; runc, crun and
// podman compile Docker's profile with it too.
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/seccomp.hpp"

namespace lb {

using nlohmann::json;

namespace {

struct Ctx {
    scmp_filter_ctx c = nullptr;
    ~Ctx() {
        if (c) seccomp_release(c);
    }
};

void check(int rc, const std::string& what) {
    if (rc < 0) throw SysError(-rc, "seccomp", what, "seccomp profile: " + what + ": " + errno_text(-rc));
}

uint32_t arch_token(const std::string& name) {
    static const struct {
        const char* name;
        uint32_t token;
    } arches[] = {
        {"SCMP_ARCH_X86", SCMP_ARCH_X86},           {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
        {"SCMP_ARCH_X32", SCMP_ARCH_X32},           {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
        {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64},   {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
        {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},     {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},
        {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},     {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64},
        {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32}, {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
        {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},       {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},
        {"SCMP_ARCH_S390", SCMP_ARCH_S390},         {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},
        {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64},
    };
    for (auto& a : arches)
        if (name == a.name) return a.token;
    throw_invalid("seccomp profile: unknown architecture '" + name + "'", name);
}

uint32_t action_of(const std::string& name, const json& errno_ret, uint32_t default_errno) {
    uint32_t e = errno_ret.is_number_unsigned() ? errno_ret.get<uint32_t>() : default_errno;
    if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
    if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(e);
    if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
    if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
    if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
    if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(e);
    if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
    throw_invalid("seccomp profile: unsupported action '" + name + "'", name);
}

scmp_compare op_of(const std::string& name) {
    if (name == "SCMP_CMP_NE") return SCMP_CMP_NE;
    if (name == "SCMP_CMP_LT") return SCMP_CMP_LT;
    if (name == "SCMP_CMP_LE") return SCMP_CMP_LE;
    if (name == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
    if (name == "SCMP_CMP_GE") return SCMP_CMP_GE;
    if (name == "SCMP_CMP_GT") return SCMP_CMP_GT;
    if (name == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
    throw_invalid("seccomp profile: unknown operator '" + name + "'", name);
}

}  // namespace

std::string seccomp_compile(const std::string& text) {
    json p;
    try {
        p = json::parse(text);
    } catch (const json::exception& e) {
        throw_invalid(std::string("seccomp profile: ") + e.what());
    }
    try {
        uint32_t def = action_of(p.at("defaultAction").get<std::string>(), p.value("defaultErrnoRet", json()),
                                 1);
        Ctx ctx;
        ctx.c = seccomp_init(def);
        if (!ctx.c) throw_invalid("seccomp profile: bad default action");
        // A binary tree of syscall numbers instead of a list: the kernel emulates the filter
        // for every syscall of every arch when it is installed (its action cache), and each
        // syscall then walks log(n) checks instead of up to n.
        check(seccomp_attr_set(ctx.c, SCMP_FLTATR_CTL_OPTIMIZE, 2), "optimize");
        for (auto& a : p.value("architectures", json::array())) {
            int rc = seccomp_arch_add(ctx.c, arch_token(a.get<std::string>()));
            if (rc != -EEXIST) check(rc, "architecture " + a.get<std::string>());
        }
        for (auto& s : p.value("syscalls", json::array())) {
            // A rule's SCMP_ACT_ERRNO without errnoRet means EPERM (runc's reading).
            uint32_t act = action_of(s.at("action").get<std::string>(), s.value("errnoRet", json()), EPERM);
            // A rule that does what the default does adds nothing (libseccomp refuses it).
            if (act == def) continue;
            std::vector<scmp_arg_cmp> conds;
            unsigned per_arg[6] = {};
            for (auto& a : s.value("args", json::array())) {
                unsigned idx = a.at("index").get<unsigned>();
                if (idx > 5) throw_invalid("seccomp profile: argument index " + std::to_string(idx) + " out of range");
                ++per_arg[idx];
                scmp_arg_cmp c {};
                c.arg = idx;
                c.op = op_of(a.at("op").get<std::string>());
                c.datum_a = a.value("value", uint64_t{0});
                c.datum_b = a.value("valueTwo", uint64_t{0});
                conds.push_back(c);
            }
            // Two checks of the same argument in one rule cannot be expressed by libseccomp;
            // runc then adds one rule per check (an OR), and so do we.
            bool split = false;
            for (unsigned n : per_arg) split |= n > 1;
            for (auto& n : s.at("names")) {
                std::string name = n.get<std::string>();
                int nr = seccomp_syscall_resolve_name(name.c_str());
                if (nr == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp: skip, as runc
                if (split) {
                    for (auto& c : conds) check(seccomp_rule_add_array(ctx.c, act, nr, 1, &c), "syscall " + name);
                } else {
                    check(seccomp_rule_add_array(ctx.c, act, nr, static_cast<unsigned>(conds.size()),
                                                 conds.empty() ? nullptr : conds.data()),
                          "syscall " + name);
                }
            }
        }
        UniqueFd mem(::memfd_create("seccomp-bpf", MFD_CLOEXEC));
        if (!mem) throw_errno("memfd_create", "seccomp program");
        check(seccomp_export_bpf(ctx.c, mem.get()), "export");
        if (::lseek(mem.get(), 0, SEEK_SET) != 0) throw_errno("lseek", "seccomp program");
        return read_all(mem.get(), "seccomp program");
    } catch (const json::exception& e) {
        throw_invalid(std::string("seccomp profile: ") + e.what());
    }
}

}  // namespace lb
