// What the launcher's compiled verbs (exec_fast, run_fast) share.
#pragma once

#include <string>

namespace lb::launcher {

bool is_dir(const std::string& p);
bool is_file(const std::string& p);

// The store root as the Python CLI finds it: --root, else LAYERBOX_ROOT, else the default;
// relative to our working directory. Empty when the working directory is unknown.
std::string store_root(const std::string& given);

// A new container or exec id: 32 random bytes in hex, as the engine's os.urandom(32).hex().
std::string random_id();

}  // namespace lb::launcher
