#include "core/devices_bpf.hpp"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "core/error.hpp"

namespace lb {

namespace {

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i {};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}

// The context: struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }, where
// access_type is (access << 16) | type.
constexpr int kCtx = BPF_REG_1, kType = BPF_REG_2, kAccess = BPF_REG_3, kMajor = BPF_REG_4,
              kMinor = BPF_REG_5, kScratch = BPF_REG_1;

long parse_number(const std::string& s, const std::string& rule) {
    if (s == "*") return -1;
    char* end = nullptr;
    long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end || v < 0) throw_invalid("bad device rule '" + rule + "'", rule);
    return v;
}

}  // namespace

DeviceRule parse_device_rule(const std::string& rule) {
    DeviceRule r;
    size_t sp1 = rule.find(' '), colon = rule.find(':'), sp2 = rule.rfind(' ');
    if (rule.size() < 5 || sp1 != 1 || colon == std::string::npos || sp2 <= colon ||
        (rule[0] != 'a' && rule[0] != 'c' && rule[0] != 'b'))
        throw_invalid("bad device rule '" + rule + "'", rule);
    r.type = rule[0];
    r.major = parse_number(rule.substr(2, colon - 2), rule);
    r.minor = parse_number(rule.substr(colon + 1, sp2 - colon - 1), rule);
    r.access = 0;
    for (char c : rule.substr(sp2 + 1)) {
        if (c == 'm') r.access |= BPF_DEVCG_ACC_MKNOD;
        else if (c == 'r') r.access |= BPF_DEVCG_ACC_READ;
        else if (c == 'w') r.access |= BPF_DEVCG_ACC_WRITE;
        else throw_invalid("bad device rule '" + rule + "'", rule);
    }
    return r;
}

std::string device_program(const std::vector<DeviceRule>& rules) {
    std::vector<bpf_insn> p;
    p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, kType, kCtx, 0, 0));
    p.push_back(insn(BPF_ALU | BPF_AND | BPF_K, kType, 0, 0, 0xffff));
    p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, kAccess, kCtx, 0, 0));
    p.push_back(insn(BPF_ALU | BPF_RSH | BPF_K, kAccess, 0, 0, 16));
    p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, kMajor, kCtx, 4, 0));
    p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, kMinor, kCtx, 8, 0));
    for (const DeviceRule& r : rules) {
        // One block per rule: each check jumps past the block when it fails; the block ends
        // with "allow". Jump offsets are filled in once the block's length is known.
        std::vector<bpf_insn> b;
        std::vector<size_t> jumps;
        if (r.type != 'a') {
            jumps.push_back(b.size());
            b.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, kType, 0, 0,
                             r.type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK));
        }
        if (r.access != 7) {  // every asked-for access must be in the rule's
            b.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_X, kScratch, kAccess, 0, 0));
            b.push_back(insn(BPF_ALU | BPF_AND | BPF_K, kScratch, 0, 0, static_cast<int32_t>(~r.access & 7)));
            jumps.push_back(b.size());
            b.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, kScratch, 0, 0, 0));
        }
        if (r.major >= 0) {
            jumps.push_back(b.size());
            b.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, kMajor, 0, 0, static_cast<int32_t>(r.major)));
        }
        if (r.minor >= 0) {
            jumps.push_back(b.size());
            b.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, kMinor, 0, 0, static_cast<int32_t>(r.minor)));
        }
        b.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1));
        b.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
        for (size_t j : jumps) b[j].off = static_cast<int16_t>(b.size() - j - 1);
        p.insert(p.end(), b.begin(), b.end());
    }
    p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));  // no rule matched: deny
    p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    return std::string(reinterpret_cast<const char*>(p.data()), p.size() * sizeof(bpf_insn));
}

void attach_device_filter(const std::string& dir, const std::vector<std::string>& rules) {
    std::vector<DeviceRule> parsed;
    for (auto& r : rules) parsed.push_back(parse_device_rule(r));
    std::string prog = device_program(parsed);
    static const char license[] = "Apache-2.0";
    union bpf_attr load;
    std::memset(&load, 0, sizeof load);
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = reinterpret_cast<uint64_t>(prog.data());
    load.insn_cnt = static_cast<uint32_t>(prog.size() / sizeof(bpf_insn));
    load.license = reinterpret_cast<uint64_t>(license);
    UniqueFd progfd(static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load)));
    if (!progfd) throw_errno("bpf BPF_PROG_LOAD device filter", dir);
    UniqueFd cg = open_path(dir, O_RDONLY | O_DIRECTORY);
    union bpf_attr at;
    std::memset(&at, 0, sizeof at);
    at.target_fd = static_cast<uint32_t>(cg.get());
    at.attach_bpf_fd = static_cast<uint32_t>(progfd.get());
    at.attach_type = BPF_CGROUP_DEVICE;
    at.attach_flags = BPF_F_ALLOW_MULTI;
    // The attachment holds the program; it goes with the cgroup.
    if (::syscall(SYS_bpf, BPF_PROG_ATTACH, &at, sizeof at) != 0) throw_errno("bpf BPF_PROG_ATTACH device filter", dir);
}

}  // namespace lb
