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

// A container's Config.Env from its image's and the user's (docker's create, daemon merge()):
// the user's entries as given (a bare "K" too: it unsets K when the process starts), then the
// image's whose name the user's do not have.
std::vector<std::string> config_env(const std::vector<std::string>& image_env, const std::vector<std::string>& user_env);

// The environment a process starts with (docker's CreateDaemonEnvironment, then exec's -e):
// PATH (docker's default), HOSTNAME and, with a tty, TERM=xterm, with the config's Env on top,
// then `overrides` (exec -e) on top of that; HOME (the user's) last unless already set.
std::vector<std::string> process_env(const std::vector<std::string>& config_env, const std::string& hostname,
                                     const std::string& home, bool tty,
                                     const std::vector<std::string>& overrides);

}  // namespace lb
