// The environment of a process in a container: one rule for a container's init (`run`) and for
// `exec`, used by the Python engine and the compiled exec path alike.
#pragma once

#include <string>
#include <vector>

namespace lb {

extern const char* const kDefaultPath;  // docker's PATH when the image sets none

// "K=V" entries of base with override's on top: one entry per name, each keeping the position
// of its first appearance, the later value winning; an override "K" without '=' removes K
// (docker's ReplaceOrAppendEnvValues).
std::vector<std::string> merge_env(const std::vector<std::string>& base, const std::vector<std::string>& override_);

// docker's default PATH when the config's Env has none, HOSTNAME, the config's Env, `overrides`
// (exec -e) on top, then HOME (the user's) and, with a tty, TERM=xterm, unless already set.
std::vector<std::string> process_env(const std::vector<std::string>& config_env, const std::string& hostname,
                                     const std::string& home, bool tty,
                                     const std::vector<std::string>& overrides);

}  // namespace lb
