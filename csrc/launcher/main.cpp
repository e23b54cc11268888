/* The `layerbox` command.
 *
 * Why a compiled launcher instead of pip's console-script wrapper: the wrapper runs the
 * interpreter with site processing, and on the machines we target a single .pth file in
 * site-packages imports certifi and importlib.resources, which alone costs 30-40 ms, three times
 * the interpreter's own start-up. The hot verbs (run, exec, stop, ps, ...) have a budget of a few
 * tens of milliseconds in all, so we start Python with -I -S (isolated: no PYTHON* variables, no
 * user site, no current directory on sys.path; and no site processing) and put the installed
 * package on sys.path ourselves. When the package is not importable that way (an editable
 * install, a user install, a .pth-based layout), layerbox.cli.main runs site.main() and carries
 * on, so correctness never depends on this shortcut.
 *
 * `exec` does not start Python at all in its common forms: see exec_fast.hpp; nor does a `run`
 * seen before (run_fast.hpp). A socket-activated `system service` answers its first pings while
 * Python loads (service_ping.hpp).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launcher/exec_fast.hpp"
#include "launcher/run_fast.hpp"
#include "launcher/service_ping.hpp"

#ifndef LAYERBOX_PYTHON
#define LAYERBOX_PYTHON "python3"
#endif

/* Runs with -I -S: finds the standard site-packages directories without executing any .pth
 * file, then hands over to the real entry point. */
static const char BOOTSTRAP[] =
    "import sys, os\n"
    "def _pth(dirs):\n"
    "    # Only layerbox's own .pth files (an editable install's import hook), as site would.\n"
    "    for d in dirs:\n"
    "        try:\n"
    "            names = os.listdir(d)\n"
    "        except OSError:\n"
    "            continue\n"
    "        for n in sorted(names):\n"
    "            if n.endswith('.pth') and 'layerbox' in n:\n"
    "                with open(os.path.join(d, n)) as f:\n"
    "                    for line in f:\n"
    "                        line = line.rstrip()\n"
    "                        if line.startswith(('import ', 'import\\t')):\n"
    "                            exec(line)\n"
    "                        elif line and not line.startswith('#'):\n"
    "                            sys.path.append(os.path.join(d, line))\n"
    "def _forget():\n"
    "    for k in [k for k in sys.modules if k == 'layerbox' or k.startswith('layerbox.')]:\n"
    "        del sys.modules[k]\n"
    "def _b():\n"
    "    import site\n"
    "    v = '%d.%d' % sys.version_info[:2]\n"
    "    venv = os.path.dirname(os.path.dirname(sys.executable))\n"
    "    dirs = []\n"
    "    if os.path.exists(os.path.join(venv, 'pyvenv.cfg')):\n"
    "        dirs.append(os.path.join(venv, 'lib', 'python' + v, 'site-packages'))\n"
    "    dirs += site.getsitepackages()\n"
    "    sys.path[len(sys.path):] = [p for p in dirs if p not in sys.path]\n"
    "    try:\n"
    "        import layerbox.cli.main as m\n"
    "    except ImportError:\n"
    "        _forget()\n"
    "        _pth(dirs)\n"
    "        try:\n"
    "            import layerbox.cli.main as m\n"
    "        except ImportError:\n"
    "            _forget()\n"
    "            site.main()\n"
    "            try:\n"
    "                import layerbox.cli.main as m\n"
    "            except ImportError as e:\n"
    "                # One line, not three chained tracebacks: which interpreter, what is missing.\n"
    "                why = '' if os.geteuid() == 0 else '; layerbox needs root'\n"
    "                sys.stderr.write('layerbox: cannot load the layerbox package with %s (%s)%s\\n'\n"
    "                                 % (sys.executable, e, why))\n"
    "                raise SystemExit(1)\n"
    "    return m\n"
    "sys.argv[0] = 'layerbox'\n"
    "_b().run_and_exit()\n";

int main(int argc, char **argv) {
    int code = 0;
    if (lb::compiled_exec(argc, argv, &code)) return code;
    if (lb::compiled_run(argc, argv, &code)) return code;

    const char *python = getenv("LAYERBOX_PYTHON");
    if (python == NULL || python[0] == '\0') python = LAYERBOX_PYTHON;
    if (access(python, X_OK) != 0 && strchr(python, '/') != NULL) {
        if (errno == EACCES && geteuid() != 0) {
            /* The interpreter layerbox was installed with is root's: so is layerbox. */
            fprintf(stderr, "Error: layerbox needs root: run it as root (for example with sudo)\n");
            return 1;
        }
        python = "python3";
    }

    lb::start_ping_answers(argc, argv);

    /* python -I -S -c BOOTSTRAP layerbox ARGS... ; -c puts argv[1..] after the code in sys.argv */
    char **args = static_cast<char **>(calloc((size_t)argc + 6, sizeof(char *)));
    if (args == NULL) {
        perror("layerbox");
        return 125;
    }
    int n = 0;
    args[n++] = (char *)python;
    args[n++] = const_cast<char *>("-I");
    args[n++] = const_cast<char *>("-S");
    args[n++] = const_cast<char *>("-c");
    args[n++] = (char *)BOOTSTRAP;
    for (int i = 1; i < argc; i++) args[n++] = argv[i];
    args[n] = NULL;
    execvp(python, args);
    fprintf(stderr, "layerbox: cannot run the Python interpreter %s: %s\n", python, strerror(errno));
    return 125;
}
