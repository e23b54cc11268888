// The compiled path of `layerbox run`: a command line the Python path has run before, with the
// same inputs, runs again without starting Python.
//
// Why: a `run --rm IMAGE CMD` spent ~30 of its ~45 ms starting the interpreter and importing the
// engine, to compute the same config and plan from the same inputs as the time before. The
// engine stays the one place that computes them: its `run` leaves a template (the texts it wrote
// and sent, and every input they came from: see python/layerbox/container/runtemplate.py), and
// this path only checks that every input is unchanged, fills in what each container has of its
// own (id, name, creation time) and does the same writes in the same order (staging dir, name
// claim, config.json, the rename that publishes, the create event, process.json, the running
// marker, the monitor). Anything it is unsure of, before the container is published, goes to
// Python untouched.
#pragma once

namespace lb {

// Returns true with the exit code in *code when it ran the command line; false, having left
// nothing behind, when the Python path should take it.
bool compiled_run(int argc, char** argv, int* code);

}  // namespace lb
