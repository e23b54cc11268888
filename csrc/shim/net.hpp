// The container's network, as the monitor sees it: `up` between the clone and the container's
// start (its network namespace exists and is empty), `down` when the container ends, and
// `control` for `network connect/disconnect` of the running container (the monitor owns the
// container's links and its state.json, so the change goes through it).
//
// The static monitor (layerbox-shim) has none: Debian ships libmnl and libnftables as shared
// libraries only, and the static monitor saves the dynamic loader (~1 ms) on every start. So
// containers on a bridge network get `layerbox-shim-net`, the same monitor linked dynamically
// with the network code (csrc/shim/net_bridge.cpp); `--network none|host` keep the static one.
#pragma once

#include <sys/types.h>

#include <memory>
#include <nlohmann/json.hpp>

namespace lb::shim {

class NetHook {
public:
    virtual ~NetHook() = default;
    virtual void up(pid_t pid) = 0;  // throws SysError
    // What must be gone when the exit is reported: published ports, names in the resolver.
    virtual void down() noexcept = 0;
    // The veths, deleted: deleting a link waits for RCU grace periods (~15-20 ms here) with
    // rtnl_lock held, so the monitor does it after the exit's report, and only where the
    // container's network namespace outlives its run: before a restart (whose links have the
    // same names), a failed start, a disconnect. See end() for a run's end.
    virtual void remove_links() noexcept = 0;
    // No restart follows: the host ports reserved for the run (bound sockets) are closed, so a
    // port is free when the exit is reported (a restart's run keeps them).
    virtual void free_ports() noexcept = 0;
    // The container is over (no restart follows), its mount namespace released: its address
    // claims in the store go, so the addresses are free at once and no claim of a removed
    // container is left behind. Its veths go with its network namespace (the kernel's
    // cleanup_net unregisters every device of a dying namespace in one batch, with its `lo`,
    // which every run pays anyway), unless another container joined that namespace
    // (`--network container:`, see control's "joined"): it may outlive this run, and then
    // they are deleted here.
    virtual void end() noexcept = 0;
    // A request {"op": "connect"|"disconnect", ...} while the container runs (`pid`; -1 between
    // two runs of a restart policy: recorded for the next up). On success the state's
    // NetworkSettings become the request's "settings". {"op": "joined"}: a container is about
    // to join the network namespace (it changes no state: the reply says "unchanged").
    // Returns the reply ({"ok": bool, ...}).
    virtual nlohmann::json control(const nlohmann::json& req, pid_t pid, nlohmann::json& state) = 0;
};

// nullptr for a null/absent config; throws when the config asks for what this monitor lacks.
std::unique_ptr<NetHook> make_net_hook(const nlohmann::json& j);

}  // namespace lb::shim
