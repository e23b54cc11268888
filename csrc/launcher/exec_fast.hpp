// The compiled path of `layerbox exec`: the common forms run without starting Python.
//
// Why: exec is the verb CI jobs and tools call in loops, and an interpreter's start alone is
// more than a whole exec's kernel work (about 20 ms against 5). This path reads the same files
// and uses the same builder (core/execbuild.hpp) and the same sealed helper (core/exec.hpp) as
// the Python engine; it handles only the case where everything is plainly fine, and hands every
// other case to Python untouched (other options, a container that is not plainly running, any
// error before the command runs), so docker's checks and messages live in one place.
#pragma once

namespace lb {

// `layerbox [--root DIR] [container] exec [-d] [-i] [-t] [-e K[=V]] [-w DIR] [-u USER[:GROUP]]
// CONTAINER COMMAND [ARG...]`: runs it and returns true with the exit code in *code; returns
// false, having started nothing, when the Python path should take the command line.
bool compiled_exec(int argc, char** argv, int* code);

}  // namespace lb
