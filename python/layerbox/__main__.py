"""python -m layerbox: the same as the `layerbox` command."""

import sys

from layerbox.cli.main import main

sys.exit(main())
