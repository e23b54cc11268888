// What the launcher's compiled verbs (exec_fast, run_fast) share.
#pragma once

#include <string>

namespace lb::launcher {

bool is_dir(const std::string& p);
bool is_file(const std::string& p);

// The store root as the Python CLI finds it: --root, else LAYERBOX_ROOT, else the default;
// relative to our working directory. Empty when the working directory is unknown.
std::string store_root(const std::string& given);

// The global options the compiled verbs accept before the verb: `--root DIR` and `--root=DIR`
// (into `root`). Returns the index of the verb, or -1 when anything else comes first (the
// command line is then Python's).
int global_options(int argc, char** argv, std::string& root);

// A new container or exec id: 32 random bytes in hex, as the engine's os.urandom(32).hex().
std::string random_id();

}  // namespace lb::launcher
