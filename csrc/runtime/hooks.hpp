// Running the config's hooks: each a host program given the container's state on stdin, with a
// timeout when the config sets one.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/config.hpp"

namespace lb::oci {

// Runs `hooks` in order; throws naming the hook (`what`: "createRuntime", ...) on the first
// failure (non-zero exit, signal, timeout, or exec failure).
void run_hooks(const std::vector<Hook>& hooks, const std::string& what, const nlohmann::ordered_json& state);
std::vector<Hook> hooks_from_json(const nlohmann::json& list);
nlohmann::json hooks_to_json(const std::vector<Hook>& hooks);

}  // namespace lb::oci
